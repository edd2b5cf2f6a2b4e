// The store's API takes and returns DNSWire's values (`DNSName`, `TSIGKey`, `Message`): a program
// that imports DNSStore gets them without naming a second module.
@_exported import DNSWire

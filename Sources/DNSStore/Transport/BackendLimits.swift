import DNSWire

/// What a backend holds when it holds less than a DNS server does: a hosted zone's API takes a
/// few thousand characters per record and a few tens of thousands per change (docs/HOSTED-DNS.md).
/// A store with limits keeps every record and every UPDATE within them, through the format's own
/// means (docs/FORMAT.md sections 7 and 8.2): a document whose record would not fit is cut into
/// data chunks of a size (`s`) at which each fits, the chunks are written a few per UPDATE, and a
/// replaced generation's chunks are deleted after the switch, a few per UPDATE, rather than in it.
public struct BackendLimits: Sendable {
    /// Whether one record with this text fits the backend.
    public var recordFits: @Sendable (TXT) -> Bool
    /// Data chunks (each a record that fits) one UPDATE may write or delete.
    public var dataChunksPerUpdate: Int

    public init(recordFits: @escaping @Sendable (TXT) -> Bool, dataChunksPerUpdate: Int) {
        self.recordFits = recordFits
        self.dataChunksPerUpdate = max(1, dataChunksPerUpdate)
    }
}

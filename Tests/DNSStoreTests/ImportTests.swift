import DNSStore
import Testing

/// `import DNSStore` alone is enough for the store's API: the DNSWire values it takes and returns
/// (names, TSIG keys) come with it. This file imports nothing else on purpose.
@Suite("What one import gives")
struct ImportTests {
    @Test func theStoresAPITypesComeWithItsImport() throws {
        let domain: DNSName = "example.test."
        let key = TSIGKey.generate(name: "writer.")
        let configuration = StoreConfiguration(domain: domain)
        #expect(configuration.zone == domain)
        #expect(key.name == "writer.")
    }
}

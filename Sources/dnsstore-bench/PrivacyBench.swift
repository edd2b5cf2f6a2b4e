import Crypto
import DNSClient
import DNSStore
import DNSTestSupport
import DNSWire
import Foundation

/// Inventory-like JSON of about `size` octets: names, addresses, ids and timestamps that vary from
/// entry to entry, as configuration and service state do (not padding, which would flatter zlib).
func typicalJSON(_ size: Int) -> [UInt8] {
    let roles = ["frontend", "backend", "cache", "queue", "database"]
    var text = "{\"hosts\":["
    var i = 0
    while text.utf8.count < size - 160 {
        let id = SHA256.hash(data: Array("host \(i)".utf8)).prefix(8).map { String(format: "%02x", $0) }.joined()
        text += (i == 0 ? "" : ",")
            + #"{"id":"\#(id)","host":"web-\#(i).dc\#(i % 7).example.com","ip":"10.\#(i % 256).\#(i * 7 % 256).\#(i * 13 % 256)","#
            + #""role":"\#(roles[i % 5])","port":\#(8000 + i % 97),"cpu":\#(Double(i * 37 % 1000) / 10),"#
            + #""updated":"2026-11-\#(i % 28 + 1)T\#(10 + i % 12):\#(i % 60):00Z","healthy":\#(i % 11 != 0)}"#
        i += 1
    }
    return Array((text + "]}").utf8)
}

/// Issue 13's figures: get and put rates, and stored octets per document octet, for documents of
/// 1 KB, 64 KB and 1 MiB stored plain, compressed, and compressed then encrypted (a private
/// collection), on our server, in one run; rates relative to plain.
func runPrivacy() async throws {
    let zone: DNSName = "example.test."
    let server = try await startServer("DNSStore", zone: zone)
    do {
        try await measurePrivacy(zone: zone, server: server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

private func measurePrivacy(zone: DNSName, server: ServerUnderTest) async throws {
    var config = try DNSClientConfiguration(host: "127.0.0.1", port: server.port, key: server.key)
    config.timeout = .seconds(5)
    let client = DNSClient(configuration: config)
    defer { Task { await client.shutdown() } }
    var storeConfig = StoreConfiguration(domain: zone)
    storeConfig.encryptionKeys = EncryptionKeys([EncryptionKey.generate()])
    let store = try DocumentStore(configuration: storeConfig, transport: client)
    var plainConfig = storeConfig
    plainConfig.compression = false
    let plainStore = try DocumentStore(configuration: plainConfig, transport: client)
    try await store.createDatabase("bench")
    _ = try await store.database("bench").createCollection("open")
    _ = try await store.database("bench").createCollection("private", private: true)
    let modes: [(name: String, store: DocumentStore, collection: String)] = [
        ("plain", plainStore, "open"), ("compressed", store, "open"), ("compressed + encrypted", store, "private"),
    ]
    print("")
    print("Documents stored three ways on our server, one after another, \(String(format: "%.1f", seconds)) s per case (inventory-like JSON, one id rewritten and read again)")
    print("| size | storage | stored octets / document octet | put/s | / plain | get/s | / plain |")
    print("|---|---|---|---|---|---|---|")
    for size in [1_000, 64_000, 1_048_000] {
        let json = typicalJSON(size)
        var plain: (put: Double, get: Double)?
        for mode in modes {
            let docs = mode.store.database("bench").collection(mode.collection)
            let id = "doc-\(size)"
            try await docs.putJSON(id, json)
            let stored = try await docs.dnsRecords(of: id).reduce(0) { total, record in
                if case .txt(let txt) = record.rdata { return total + txt.joined.count }
                return total
            }
            let puts = try await measureSequential(seconds) { try await docs.putJSON(id, json) }
            let gets = try await measureSequential(seconds) {
                guard try await docs.get(id)?.json.count == json.count else { throw StoreError.corrupted("bench read back a different document") }
            }
            let base = plain ?? (puts, gets)
            plain = base
            func f(_ v: Double, _ format: String = "%.0f") -> String { String(format: format, v) }
            print("| \(json.count) | \(mode.name) | \(f(Double(stored) / Double(json.count), "%.3f")) | \(f(puts)) | \(f(puts / base.put, "%.2f")) | \(f(gets)) | \(f(gets / base.get, "%.2f")) |")
            fflush(nil)
        }
    }
}

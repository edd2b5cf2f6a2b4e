import DNSClient
import DNSStore
import DNSStoreRoute53
import DNSTestSupport
import DNSWire
import Foundation

/// Issue 36's figures: what each store operation costs on a Route 53 hosted zone (moto behind the
/// proxy that refuses what AWS refuses, on loopback) in API requests, which AWS bills and
/// rate-limits, beside the same operation on our server in DNS messages, in one run. The rates
/// on moto say how fast this machine's moto is, not Route 53; the requests per operation are what
/// a real hosted zone would be sent.
func runRoute53() async throws {
    guard MotoServer.isAvailable else {
        print("\nRoute 53: moto's server is not installed here (scripts/install-deps installs it); skipped")
        return
    }
    let zone: DNSName = "example.test."
    let double = try await Route53Double.start()
    let server: ServerUnderTest
    do {
        server = try await startServer("DNSStore", zone: zone)
    } catch {
        double.stop()
        throw error
    }
    do {
        try await measureRoute53(zone: zone, double: double, server: server)
    } catch {
        await server.stop()
        double.stop()
        throw error
    }
    await server.stop()
    double.stop()
}

private func measureRoute53(zone: DNSName, double: Route53Double, server: ServerUnderTest) async throws {
    let requests = Route53RequestCount()
    let (client, hostedZone) = try await double.hostedZone(zone) { $0.requests = requests }
    let transport = try Route53Transport(client: client, hostedZone: hostedZone, zone: zone)
    var config = StoreConfiguration(domain: zone)
    config.createIfMissing = true
    Route53Transport.fit(&config)
    let onRoute53 = try DocumentStore(configuration: config, transport: transport)

    let traffic = TrafficCount()
    var dns = try DNSClientConfiguration(host: "127.0.0.1", port: server.port, key: server.key)
    dns.timeout = .seconds(5)
    dns.traffic = traffic
    let dnsClient = DNSClient(configuration: dns)
    defer { Task { await dnsClient.shutdown() } }
    var ourConfig = StoreConfiguration(domain: zone)
    ourConfig.createIfMissing = true
    let onOurs = try DocumentStore(configuration: ourConfig, transport: dnsClient)
    let dnsMessages = { traffic.totals.values.reduce(0) { $0 + $1.requests } }

    let document = Array(#"{"host":"web-1.dc1.example.com","ip":"10.0.0.1","role":"frontend","port":8080,"healthy":true}"#.utf8)
    struct Case {
        var name: String
        var operation: @Sendable (DocumentStore, Int) async throws -> Void
        /// Operations to time at most (the import is one): the collections stay ordinary sizes.
        var most: Int
    }
    // 1 MiB of random letters, which compression brings to about three quarters, stored in data
    // chunks: on Route 53 about 600 of them, each one value.
    let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".utf8)
    let large = Array(#"{"v":""#.utf8) + (0..<1_048_568).map { _ in letters.randomElement()! } + Array(#""}"#.utf8)
    let cases: [Case] = [
        Case(name: "put of a new document", operation: { store, i in _ = try await store.database("b").collection("docs").putJSON("p\(i)", document) }, most: 300),
        Case(name: "get (a warm client)", operation: { store, _ in _ = try await store.database("b").collection("docs").get("p0") }, most: 10_000),
        Case(name: "compare-and-swap update", operation: { store, _ in
            _ = try await store.database("b").collection("docs").modify("p0", as: [String: AnyCodable].self) { $0["port"] = AnyCodable.int(Int.random(in: 1...65535)) }
        }, most: 10_000),
        Case(name: "batch of 10 puts", operation: { store, i in
            // A collection of its own, kept small: a batch in a large collection changes a full
            // index page per document, and ten of them pass what one UPDATE message holds.
            let docs = store.database("b").collection("batches")
            _ = try await store.batch { b in for k in 0..<10 { b.putJSON(docs, "b\(i)-\(k)", document) } }
        }, most: 100),
        Case(name: "import of 1,000 documents into a new collection", operation: { store, i in
            let collection = try await store.database("b").createCollection("import\(i)")
            _ = try await collection.putMany((0..<1_000).map { ("d\($0)", document) })
        }, most: 1),
        Case(name: "put of a 1 MiB document (replacing one)", operation: { store, _ in
            _ = try await store.database("b").collection("large").putJSON("doc", large)
        }, most: 3),
        Case(name: "get of the 1 MiB document (a warm client)", operation: { store, _ in
            _ = try await store.database("b").collection("large").get("doc")
        }, most: 100),
    ]
    print("")
    print("A store on Route 53 (moto behind the test proxy, on loopback) and on our server, one client, \(smoke ? "each case once" : String(format: "%.0f s per case", seconds)), operations in turn")
    print("| operation | Route 53 ops/s | API requests per op | of them ChangeResourceRecordSets | our server ops/s | DNS messages per op |")
    print("|---|---|---|---|---|---|")
    // Both stores hold the database and the collection before anything is timed.
    for store in [onRoute53, onOurs] {
        _ = try await store.database("b").collection("docs").putJSON("p0", document)
        _ = try await store.database("b").collection("batches").putJSON("first", document)
        _ = try await store.database("b").collection("large").putJSON("doc", large)
    }
    for item in cases {
        var row: [String] = [item.name]
        for (store, isRoute53) in [(onRoute53, true), (onOurs, false)] {
            requests.reset()
            let messagesBefore = dnsMessages()
            let limit = smoke ? 1 : item.most
            var done = 0
            let start = ContinuousClock.now
            let end = start + .milliseconds(Int(seconds * 1000))
            while done < limit && (done == 0 || ContinuousClock.now < end) {
                try await item.operation(store, done + 1)
                done += 1
            }
            let elapsed = secondsIn(ContinuousClock.now - start)
            let rate = Double(done) / elapsed
            if isRoute53 {
                let changes = requests.byCall["ChangeResourceRecordSets"] ?? 0
                row += [perSecond(rate), String(format: "%.1f", Double(requests.total) / Double(done)), String(format: "%.1f", Double(changes) / Double(done))]
            } else {
                row += [perSecond(rate), String(format: "%.1f", Double(dnsMessages() - messagesBefore) / Double(done))]
            }
        }
        print("| " + row.joined(separator: " | ") + " |")
    }
}

/// A rate, or for operations slower than one a second, the seconds one takes.
private func perSecond(_ rate: Double) -> String {
    rate >= 1 ? String(format: "%.1f", rate) : String(format: "(%.1f s each)", 1 / rate)
}

/// A JSON value of a document the benchmark changes one field of.
enum AnyCodable: Codable, Sendable {
    case int(Int), string(String), bool(Bool)

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let v = try? c.decode(Int.self) { self = .int(v) } else if let v = try? c.decode(Bool.self) { self = .bool(v) } else { self = .string(try c.decode(String.self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .int(let v): try c.encode(v)
        case .string(let v): try c.encode(v)
        case .bool(let v): try c.encode(v)
        }
    }
}

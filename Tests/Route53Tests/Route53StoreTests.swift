import DNSClient
@testable import DNSStore
@testable import DNSStoreRoute53
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// What a store on a Route 53 hosted zone adds to the store suite (which runs there too, as the
/// `route53` backend of DNSStoreTests): the zone's serial, listing the whole zone, throttling,
/// and documents past one Route 53 value.
@Suite("Store on Route 53", .enabled(if: MotoServer.isAvailable), .serialized)
struct Route53StoreTests {
    static let zone: DNSName = "example.test."

    static func withStore(
        throttleEvery: Int = 0, requests: Route53RequestCount? = nil, _ body: (DocumentStore, Route53Transport, Route53Double) async throws -> Void
    ) async throws {
        let double = try await Route53Double.start(throttleEvery: throttleEvery)
        defer { double.stop() }
        let (client, hostedZone) = try await double.hostedZone(zone) {
            $0.backoff = .milliseconds(20)
            $0.attempts = 8
            $0.requests = requests
        }
        let transport = try Route53Transport(client: client, hostedZone: hostedZone, zone: zone)
        var store = StoreConfiguration(domain: zone)
        store.createIfMissing = true
        Route53Transport.fit(&store)
        try await body(try DocumentStore(configuration: store, transport: transport), transport, double)
    }

    /// Each write moves the serial in the zone's SOA by one; a listing of the zone (AXFR) holds
    /// every record, and the store's own check finds nothing wrong in it.
    @Test func writesMoveTheSerialAndTheWholeZoneCanBeChecked() async throws {
        try await Self.withStore { store, transport, _ in
            let docs = store.database("app").collection("docs")
            try await docs.put("a", ["n": 1])
            let before = try await transport.serial(of: Self.zone)
            for i in 2...4 { try await docs.put("a", ["n": i]) }
            try await docs.put("b", ["n": 0])
            #expect(try await transport.serial(of: Self.zone) == before + 4)
            await #expect(throws: StoreError.self) { try await docs.insert("b", ["n": 9]) }
            #expect(try await transport.serial(of: Self.zone) == before + 4, "a refused insert moved the serial")

            let records = try await transport.zoneRecords(Self.zone)
            let recordName = try await docs.recordName(of: "a")
            #expect(records.first?.type == .soa && records.last?.type == .soa)
            #expect(records.contains { $0.name == recordName })
            #expect(try await store.check(repair: false).problems.isEmpty)
            // A name that does not exist is NXDOMAIN with the SOA, as from a DNS server.
            let lookup = try await transport.lookup("nothing.example.test.")
            #expect(lookup.records.isEmpty && lookup.serial == before + 4)
        }
    }

    /// With every third request answered `Throttling`, writes are retried and each applied
    /// once: 30 compare-and-swap increments end at exactly 30.
    @Test func throttledWritesAreRetriedWithoutDuplicates() async throws {
        try await Self.withStore(throttleEvery: 3) { store, _, double in
            let counters = store.database("app").collection("counters")
            try await counters.put("c", ["count": 0])
            for _ in 0..<30 {
                _ = try await counters.modify("c", as: [String: Int].self) { $0["count", default: 0] += 1 }
            }
            let final = try await counters.get("c", as: [String: Int].self)
            #expect(final?.value["count"] == 30)
            #expect(final?.version == 31)
            #expect(double.counts.throttled > 30, "\(double.counts.throttled) requests throttled")
        }
    }

    /// A document whose record would pass Route 53's 4,000 characters per value is cut into data
    /// chunks whose header states their size (`s`, docs/FORMAT.md section 7), each a value Route 53
    /// holds, written seven to a change batch; one that fits a value stays one record.
    @Test func aDocumentPastOneValueIsCutIntoChunksThatEachFitOne() async throws {
        let requests = Route53RequestCount()
        try await Self.withStore(requests: requests) { store, transport, _ in
            let docs = store.database("app").collection("docs")
            try await docs.put("small", ["v": "x"])
            // Random letters, so that compression cannot bring it under one value.
            let letters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            let fits = String((0..<3_000).map { _ in letters.randomElement()! })
            let big = String((0..<60_000).map { _ in letters.randomElement()! })
            try await docs.put("fits", ["v": fits])
            #expect(try await docs.dnsRecords(of: "fits").count == 1)
            requests.reset()
            try await docs.put("big", ["v": big])
            let batches = requests.byCall["ChangeResourceRecordSets"] ?? 0
            #expect(try await docs.get("big", as: [String: String].self)?.value == ["v": big])

            let records = try await docs.dnsRecords(of: "big")
            let name = try await docs.recordName(of: "big")
            let record = try RecordText.parse(records[0].rdata, name: name)
            let size = try #require(record.header.chunkSize)
            let count = try #require(record.header.chunkCount)
            #expect((512..<60_000).contains(size), "\(size)")
            #expect(records.count == 1 + count)
            for chunk in records.dropFirst() {
                guard case .txt(let txt) = chunk.rdata else { Issue.record("\(chunk.name) is not TXT"); continue }
                #expect(Route53Text.value(txt).count <= Route53Transport.maxValueCharacters)
            }
            // The chunks seven to a batch, then the switch; new chunks are not read to be written.
            #expect(batches == (count + 6) / 7 + 1, "\(batches) change batches for \(count) chunks")
            let listings = requests.byCall["ListResourceRecordSets"] ?? 0
            #expect(listings < 3 * batches + 12, "\(listings) listings for \(batches) change batches")
            #expect(try await docs.get("small", as: [String: String].self)?.value == ["v": "x"])

            // A cold reader lists the chunks by the page, not one request each.
            let (client, hostedZone) = (transport.client, transport.hostedZone)
            let cold = try DocumentStore(
                configuration: store.configuration, transport: try Route53Transport(client: client, hostedZone: hostedZone, zone: Self.zone))
            requests.reset()
            #expect(try await cold.database("app").collection("docs").get("big", as: [String: String].self)?.value == ["v": big])
            #expect(requests.total < 12, "a cold read of \(count) chunks: \(requests.summary)")
        }
    }

    /// A write that gives a name a whole new set is planned without reading the name; when the
    /// name held a set after all, Route 53 refuses the CREATE and the write is planned again
    /// with it read, replacing what was there.
    @Test func aWholeSetWrittenUnreadOverAnExistingOneStillReplacesIt() async throws {
        try await Self.withStore { _, transport, _ in
            let name: DNSName = "x.example.test."
            for text in ["first", "second"] {
                var update = UpdateBuilder(zone: Self.zone)
                update.replace(name, .txt, with: [.txt(TXT(text))], ttl: 30)
                try await transport.apply(update)
            }
            #expect(try await transport.lookup(name).records == [RData.txt(TXT("second"))])
        }
    }

    /// Reads at `any` and `session` through the zone's name servers (here our server, given the
    /// zone's records as Route 53 would propagate them): `any` returns what the name server has;
    /// `session` returns this store object's own writes at once (from the API while the name server
    /// is behind, from the name server once it has them); the name server's SOA serial is the
    /// serial record's number, so it says how far it has come.
    @Test func readsAtSessionAndAnyGoThroughTheZonesNameServers() async throws {
        let requests = Route53RequestCount()
        try await Self.withStore(requests: requests) { store, transport, _ in
            let nameServer = try await EmbeddedServer.start(zone: Self.zone)
            defer { Task { await nameServer.stop() } }
            let admin = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: nameServer.port, key: nameServer.key))
            defer { Task { await admin.shutdown() } }
            // What Route 53 does once a change is INSYNC: the name servers answer with the zone as
            // the API lists it.
            func propagate() async throws {
                let listed = try await transport.zoneRecords(Self.zone).filter { $0.type == .txt }
                let held = try await admin.zoneRecords(Self.zone).filter { $0.type == .txt }
                var update = UpdateBuilder(zone: Self.zone)
                for name in Set(held.map(\.name)).subtracting(listed.map(\.name)) { update.apply(.deleteName(name)) }
                for (name, records) in Dictionary(grouping: listed, by: \.name) {
                    update.replace(name, .txt, with: records.map(\.rdata), ttl: records[0].ttl)
                }
                try await admin.apply(update)
            }
            let reader = try Route53NameServer(
                DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: nameServer.port, key: nil)), zone: Self.zone)
            var config = store.configuration
            config.consistency = .session
            let session = try DocumentStore(configuration: config, transport: transport, readServers: [(reader, "name server")])
            config.consistency = .any
            let any = try DocumentStore(configuration: config, transport: transport, readServers: [(reader, "name server")])
            let docs = session.database("app").collection("docs")

            try await docs.put("a", ["v": 1])
            try await propagate()
            #expect(try await reader.serial(of: Self.zone) == transport.serial(of: Self.zone))
            try await docs.put("a", ["v": 2])
            #expect(try await reader.serial(of: Self.zone) < transport.serial(of: Self.zone))
            // `any` reads the name server, which is behind; `session` reads its own write.
            #expect(try await any.database("app").collection("docs").get("a", as: [String: Int].self)?.value == ["v": 1])
            requests.reset()
            #expect(try await docs.get("a", as: [String: Int].self)?.value == ["v": 2])
            #expect(requests.byCall["ListResourceRecordSets", default: 0] >= 1, "a session read found the name server behind and asked the API")
            try await propagate()
            // A server found behind is passed over for session reads for a while (CONSISTENCY.md).
            try await Task.sleep(for: ReplicaSet.behindFor + .milliseconds(100))
            requests.reset()
            #expect(try await docs.get("a", as: [String: Int].self)?.value == ["v": 2])
            #expect(try await any.database("app").collection("docs").get("a", as: [String: Int].self)?.value == ["v": 2])
            #expect(requests.total == 0, "reads the name server answered cost API requests: \(requests.summary)")
            #expect(try await reader.serial(of: Self.zone) == transport.serial(of: Self.zone))
        }
    }

    /// The same writes on BIND 9 and on Route 53 leave the same TXT records under the store's root,
    /// names, TTLs and texts: a reader of docs/FORMAT.md sees one store as the other.
    @Test func theSameWritesLeaveTheSameRecordsAsOnBIND() async throws {
        let bind = try await BindServer.start(zone: Self.zone)
        defer { bind.stop() }
        let dns = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: bind.port, key: bind.key))
        var config = StoreConfiguration(domain: Self.zone)
        config.createIfMissing = true
        Route53Transport.fit(&config)
        let onBIND = try DocumentStore(configuration: config, transport: dns)
        let root = try Self.zone.prepending("_dnsstore")
        try await Self.withStore { onRoute53, transport, _ in
            for store in [onBIND, onRoute53] {
                let hosts = store.database("inventory").collection("hosts")
                for i in 0..<40 { try await hosts.put("web-\(i)", ["ip": "10.0.0.\(i)", "role": i % 3 == 0 ? "db" : "web"]) }
                _ = try await hosts.update("web-3", ["ip": "10.9.9.9"], ifVersion: 1)
                try await hosts.delete("web-4")
                let config = store.database("inventory").collection("config")
                _ = try await store.batch { b in
                    try b.put(config, "a", ["v": "1"])
                    try b.put(hosts, "web-5", ["ip": "10.5.5.5"])
                }
            }
            func storeRecords(_ records: [ResourceRecord]) -> [String] {
                records.filter { $0.type == .txt && $0.name.isSubdomain(of: root) }.map { "\($0.name) \($0.ttl) \($0.rdata.presentation)" }.sorted()
            }
            let onBINDRecords = storeRecords(try await dns.zoneRecords(Self.zone))
            let onRoute53Records = storeRecords(try await transport.zoneRecords(Self.zone))
            #expect(onBINDRecords.count > 40)
            #expect(onBINDRecords == onRoute53Records, "only on BIND: \(Set(onBINDRecords).subtracting(onRoute53Records)); only on Route 53: \(Set(onRoute53Records).subtracting(onBINDRecords))")
        }
        await dns.shutdown()
    }

    /// `watch` on Route 53 follows the serial record: each change is reported (the collection read
    /// again, as with a server that does not transfer), and a poll while nothing changes costs one
    /// API request.
    @Test func aWatchSeesEachChangeAndAnIdlePollIsOneRequest() async throws {
        let requests = Route53RequestCount()
        try await Self.withStore(requests: requests) { store, _, _ in
            let docs = store.database("app").collection("docs")
            try await docs.put("seed", ["v": 0])
            var options = WatchOptions()
            options.interval = .milliseconds(200)
            let started = AsyncStream<UInt32>.makeStream()
            options.started = { started.continuation.yield($0) }
            let events = AsyncStream<ChangeEvent>.makeStream()
            let watching = Task {
                for try await event in docs.watch(options) { events.continuation.yield(event) }
            }
            defer { watching.cancel() }
            for await _ in started.stream { break }
            var seen = events.stream.makeAsyncIterator()
            try await docs.put("a", ["v": 1])
            let put = await seen.next()
            #expect(put?.operation == .put && put?.id == "a" && put?.document?.json == Array(#"{"v":1}"#.utf8))
            try await docs.delete("seed")
            let deletion = await seen.next()
            #expect(deletion?.operation == .delete && deletion?.id == "seed")
            // Nothing changes for 2 s: about ten polls, one request each.
            try await Task.sleep(for: .milliseconds(500))
            requests.reset()
            try await Task.sleep(for: .seconds(2))
            #expect((4...11).contains(requests.total) && requests.byCall.keys.sorted() == ["ListResourceRecordSets"], "\(requests.summary)")
        }
    }
}

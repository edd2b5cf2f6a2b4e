import DNSClient
import DNSStore
import DNSTestSupport
import DNSWire
import Foundation

/// Issue 35's figures, on our server in one run: `find` by a field with 10 matches through an
/// index, and by a range with 10 matches through an ordered index, against the same `find`
/// reading every document, as the collection grows (queries and milliseconds); and what an
/// index costs a put (octets and rate; no index, one, three; an ordered one).
/// `--max-documents N` stops the growth at N.
func runIndexes() async throws {
    let zone: DNSName = "example.test."
    let server = try await startServer("DNSStore", zone: zone)
    do {
        try await measureIndexes(zone: zone, server: server)
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

private func measureIndexes(zone: DNSName, server: ServerUnderTest) async throws {
    let traffic = TrafficCount()
    var config = try DNSClientConfiguration(host: "127.0.0.1", port: server.port, key: server.key)
    config.timeout = .seconds(10)
    config.traffic = traffic
    let client = DNSClient(configuration: config)
    defer { Task { await client.shutdown() } }
    var storeConfig = StoreConfiguration(domain: zone)
    storeConfig.createIfMissing = true
    let store = try DocumentStore(configuration: storeConfig, transport: client)
    func counted() -> (queries: Int, updates: Int, updateOctets: Int) {
        let t = traffic.totals
        return (t[.query]?.requests ?? 0, t[.update]?.requests ?? 0, t[.update]?.octetsSent ?? 0)
    }

    // 1. find with 10 matches, through an index of `role` and by reading every document (`copy`
    // holds the same value, not indexed), as the collection grows.
    let sizes = smoke ? [200] : [1_000, 10_000, 100_000, 1_000_000].filter { $0 <= options.maxDocuments }
    let hosts = try await store.createDatabase("bench").createCollection("hosts", chunks: 64)
    try await hosts.createIndex("role")
    // An ordered index of a field every document holds its own value of (the directory as large
    // as the collection: a range's worst case), with `m` holding the same value, not indexed.
    try await hosts.createIndex("n", ordered: true)
    var rangeRows: [String] = []
    print("")
    print("find by a field with 10 matches on our server: through an index of 4 chunks, and reading every document (one client, warm metadata; median of \(smoke ? 1 : 5) finds through the index, one scan)")
    print("| documents | index: queries | index: ms | scan: queries | scan: ms | queries, scan / index | ms, scan / index |")
    print("|---|---|---|---|---|---|---|")
    var loaded = 0
    for size in sizes {
        // Ten documents per value, whatever the size: h0..h9 hold r0, h10..h19 r1, and so on.
        for start in stride(from: loaded, to: size, by: 5_000) {
            let rows = (start..<min(start + 5_000, size)).map { i in
                ("h\(i)", Array(#"{"role":"r\#(i / 10)","copy":"r\#(i / 10)","host":"web-\#(i).example.net","n":\#(i),"m":\#(i)}"#.utf8))
            }
            _ = try await hosts.putMany(rows)
        }
        loaded = size
        let value = "r\(size / 20)"
        let indexed: Filter = .equals("role", .string(value))
        let scanned: Filter = .equals("copy", .string(value))
        _ = try await hosts.find(indexed)
        var times: [Double] = []
        var indexQueries = 0
        for _ in 0..<(smoke ? 1 : 5) {
            let before = counted().queries
            let start = ContinuousClock.now
            let found = try await hosts.find(indexed)
            times.append(millis(ContinuousClock.now - start))
            indexQueries = counted().queries - before
            guard found.count == 10 else { throw StoreError.corrupted("the index found \(found.count) documents, not 10") }
        }
        let before = counted().queries
        let start = ContinuousClock.now
        let all = try await hosts.find(scanned)
        let scanMillis = millis(ContinuousClock.now - start)
        let scanQueries = counted().queries - before
        guard all.map(\.id) == (try await hosts.find(indexed)).map(\.id) else { throw StoreError.corrupted("index and scan disagree") }
        let indexMillis = median(times)
        print("| \(size) | \(indexQueries) | \(String(format: "%.1f", indexMillis)) | \(scanQueries) | \(String(format: "%.0f", scanMillis)) | \(String(format: "%.0f", Double(scanQueries) / Double(indexQueries))) | \(String(format: "%.0f", scanMillis / indexMillis)) |")
        fflush(nil)

        // The same for a range of 10 values, one document each, through the ordered index.
        let low = Double(size / 2)
        func range(_ field: String) -> Filter {
            .range(field, ValueRange(lower: .init(value: .number(low), inclusive: true), upper: .init(value: .number(low + 10), inclusive: false)))
        }
        _ = try await hosts.find(range("n"))
        var rangeTimes: [Double] = []
        var rangeQueries = 0
        for _ in 0..<(smoke ? 1 : 5) {
            let before = counted().queries
            let start = ContinuousClock.now
            let found = try await hosts.find(range("n"))
            rangeTimes.append(millis(ContinuousClock.now - start))
            rangeQueries = counted().queries - before
            guard found.count == 10 else { throw StoreError.corrupted("the ordered index found \(found.count) documents, not 10") }
        }
        let rangeBefore = counted().queries
        let rangeStart = ContinuousClock.now
        let rangeAll = try await hosts.find(range("m"))
        let rangeScanMillis = millis(ContinuousClock.now - rangeStart)
        let rangeScanQueries = counted().queries - rangeBefore
        guard rangeAll.map(\.id) == (try await hosts.find(range("n"))).map(\.id) else { throw StoreError.corrupted("ordered index and scan disagree") }
        let rangeMillis = median(rangeTimes)
        rangeRows.append(
            "| \(size) | \(rangeQueries) | \(String(format: "%.1f", rangeMillis)) | \(rangeScanQueries) | \(String(format: "%.0f", rangeScanMillis)) | \(String(format: "%.0f", Double(rangeScanQueries) / Double(rangeQueries))) | \(String(format: "%.0f", rangeScanMillis / rangeMillis)) |")
    }
    print("")
    print("find by a range with 10 matches (n >= N/2 and n < N/2 + 10; every document its own value, so the directory of values is as large as the collection) through an ordered index (a directory of 8 chunks, lists of 1), and reading every document")
    print("| documents | index: queries | index: ms | scan: queries | scan: ms | queries, scan / index | ms, scan / index |")
    print("|---|---|---|---|---|---|---|")
    for row in rangeRows { print(row) }
    fflush(nil)

    // 2. A put's cost with no index, one and three, each changing every indexed value (the
    // worst case: each index's entry moves between two lists) or none of them.
    print("")
    print("A put of an existing document on our server, one client, \(smoke ? "once" : String(format: "%.0f s", seconds)) per case, the cases in turn, twice; 1,000 documents per collection")
    print("| indexes | indexed values | UPDATE octets per put | queries per put | puts/s | / no index | client CPU µs/put | server CPU µs/put | CPU / no index |")
    print("|---|---|---|---|---|---|---|---|---|")
    let fields = ["role", "site", "rack"]
    var collections: [(count: Int, collection: DocumentCollection)] = []
    for count in [0, 1, 3] {
        let collection = try await store.database("bench").createCollection("puts\(count)", chunks: 16)
        _ = try await collection.putMany((0..<1_000).map { i in ("d\(i)", Array(#"{"role":"a\#(i % 50)","site":"s\#(i % 50)","rack":"k\#(i % 50)","n":0}"#.utf8)) })
        for field in fields.prefix(count) { try await collection.createIndex(field) }
        collections.append((count, collection))
    }
    // Each document's indexed value, as written last.
    var values = Dictionary(uniqueKeysWithValues: [0, 1, 3].map { ($0, (0..<1_000).map { $0 % 50 }) })
    for changing in [false, true] {
        var rows: [Int: (octets: Double, queries: Double, rate: [Double])] = [:]
        var cpu: [Int: CPUPerPut] = [:]
        for _ in 0..<(smoke ? 1 : 2) {
            for (count, collection) in collections {
                var i = 0
                let before = counted()
                let cpuBefore = CPUReading(server: server.pid)
                let rate = try await measureSequential(smoke ? 0.05 : seconds) {
                    let d = i % 1_000
                    if changing { values[count]![d] = (values[count]![d] + 1) % 50 }
                    let v = values[count]![d]
                    try await collection.putJSON("d\(d)", Array(#"{"role":"a\#(v)","site":"s\#(v)","rack":"k\#(v)","n":\#(i)}"#.utf8))
                    i += 1
                }
                let after = counted()
                let puts = Double(max(1, after.updates - before.updates))
                cpu[count, default: CPUPerPut()].add(since: cpuBefore, puts: puts)
                rows[count, default: (0, 0, [])].octets = Double(after.updateOctets - before.updateOctets) / puts
                rows[count, default: (0, 0, [])].queries = Double(after.queries - before.queries) / puts
                rows[count, default: (0, 0, [])].rate.append(rate)
            }
        }
        let base = median(rows[0]!.rate)
        for count in [0, 1, 3] {
            let row = rows[count]!
            let rate = median(row.rate)
            print("| \(count) | \(changing ? "changed" : "kept") | \(String(format: "%.0f", row.octets)) | \(String(format: "%.1f", row.queries)) | \(String(format: "%.0f", rate)) | \(String(format: "%.2f", base / rate))x cost | \(cpu[count]!.columns(against: cpu[0]!)) |")
        }
        fflush(nil)
    }

    // 3. What an ordered index's directory costs a put whose value no other document holds: its
    // old value's list loses its last entry and the new one's gains its first, so the directory
    // changes twice in the UPDATE. Against no index, and an index of the same field that is not
    // ordered.
    print("")
    print("A put moving a document to a value no other holds (its old value's list emptied), one client, \(smoke ? "once" : String(format: "%.0f s", seconds)) per case, the cases in turn, twice; 1,000 documents per collection")
    print("| index of n | UPDATE octets per put | queries per put | puts/s | / no index | client CPU µs/put | server CPU µs/put | CPU / no index |")
    print("|---|---|---|---|---|---|---|---|")
    let kinds = ["none", "plain", "ordered"]
    var moving: [String: DocumentCollection] = [:]
    for kind in kinds {
        let collection = try await store.database("bench").createCollection("moving-\(kind)", chunks: 16)
        _ = try await collection.putMany((0..<1_000).map { i in ("d\(i)", Array(#"{"n":\#(i)}"#.utf8)) })
        if kind != "none" { try await collection.createIndex("n", ordered: kind == "ordered") }
        moving[kind] = collection
    }
    var next = Dictionary(uniqueKeysWithValues: kinds.map { ($0, 1_000) })
    var movingRows: [String: (octets: Double, queries: Double, rate: [Double])] = [:]
    var movingCPU: [String: CPUPerPut] = [:]
    for _ in 0..<(smoke ? 1 : 2) {
        for kind in kinds {
            let collection = moving[kind]!
            let before = counted()
            let cpuBefore = CPUReading(server: server.pid)
            let rate = try await measureSequential(smoke ? 0.05 : seconds) {
                let n = next[kind]!
                next[kind] = n + 1
                try await collection.putJSON("d\(n % 1_000)", Array(#"{"n":\#(n)}"#.utf8))
            }
            let after = counted()
            let puts = Double(max(1, after.updates - before.updates))
            movingCPU[kind, default: CPUPerPut()].add(since: cpuBefore, puts: puts)
            movingRows[kind, default: (0, 0, [])].octets = Double(after.updateOctets - before.updateOctets) / puts
            movingRows[kind, default: (0, 0, [])].queries = Double(after.queries - before.queries) / puts
            movingRows[kind, default: (0, 0, [])].rate.append(rate)
        }
    }
    let movingBase = median(movingRows["none"]!.rate)
    for kind in kinds {
        let row = movingRows[kind]!
        let rate = median(row.rate)
        print("| \(kind) | \(String(format: "%.0f", row.octets)) | \(String(format: "%.1f", row.queries)) | \(String(format: "%.0f", rate)) | \(String(format: "%.2f", movingBase / rate))x cost | \(movingCPU[kind]!.columns(against: movingCPU["none"]!)) |")
    }
    fflush(nil)
}

/// CPU seconds of this process (the client) and of the server's, at one moment.
private struct CPUReading {
    var pid: Int32?
    var client = ownCPUSeconds()
    var server: Double?

    init(server pid: Int32?) {
        self.pid = pid
        server = pid.flatMap(ProcessWatch.cpuSeconds)
    }
}

/// CPU time per put of a case over its rounds, client and server: a cost that a machine shared with
/// others changes less than the rate, since one client waiting on one server is slowed by every
/// wait for a core on either side.
private struct CPUPerPut {
    var client = 0.0, server = 0.0, puts = 0.0

    mutating func add(since before: CPUReading, puts: Double) {
        let now = CPUReading(server: before.pid)
        client += now.client - before.client
        if let start = before.server, let end = now.server { server += end - start }
        self.puts += puts
    }

    var total: Double { client + server }

    /// The client's and the server's microseconds per put, and the two together against `base`'s.
    func columns(against base: CPUPerPut) -> String {
        func micros(_ seconds: Double) -> String { String(format: "%.0f", puts > 0 ? seconds / puts * 1e6 : 0) }
        let ratio = base.total > 0 && base.puts > 0 && puts > 0 ? (total / puts) / (base.total / base.puts) : 0
        return "\(micros(client)) | \(micros(server)) | \(String(format: "%.2f", ratio))x"
    }
}

import DNSClient
import DNSStore
import DNSTestSupport
import DNSWire
import Foundation

/// A transport that counts the queries sent through it, for query cost per read.
final class QueryCounter: StoreTransport {
    let inner: DNSClient
    private let count = Locked(0)

    init(_ inner: DNSClient) { self.inner = inner }

    var queries: Int { count.withLock { $0 } }
    func reset() { count.withLock { $0 = 0 } }

    /// Counts a query (not an UPDATE or a transfer), then forwards it.
    func send(_ request: Message, overTCP: Bool, each: (Message) throws -> Void) async throws {
        if request.opcode == .query, request.questions.first?.type == .txt { count.withLock { $0 += 1 } }
        try await inner.send(request, overTCP: overTCP, each: each)
    }
}

/// When each change was acknowledged to its writer and when each watcher saw it.
final class Arrivals: Sendable {
    private let times = Locked<[String: ContinuousClock.Instant]>([:])
    func mark(_ key: String) { times.withLock { $0[key] = $0[key] ?? .now } }
    func time(_ key: String) -> ContinuousClock.Instant? { times.withLock { $0[key] } }
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return 0 }
    return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))]
}

/// Issue 9's figures: a primary (our server, its own process) with BIND 9 and Knot secondaries
/// kept current by NOTIFY and IXFR; replication lag, watch latency, query cost per consistency
/// level, and read rates from the secondaries next to the primary's.
func runReplication() async throws {
    let zone: DNSName = "example.test."
    let bindPort = Ports.free()
    let knotPort = Ports.free()
    let primaryWatch = try await NotifyListener.start(host: "127.0.0.1", port: 0)
    let bindWatch = try await NotifyListener.start(host: "127.0.0.1", port: 0)
    let primary = try await startServer("DNSStore", zone: zone, notify: [bindPort, knotPort, primaryWatch.localAddress!.port!])
    var secondaries: [SecondaryServer] = []
    do {
        secondaries.append(try await SecondaryServer.start(
            .bind, port: bindPort, zone: zone, primaryPort: primary.port, key: primary.key, notify: [bindWatch.localAddress!.port!]))
        secondaries.append(try await SecondaryServer.start(.knot, port: knotPort, zone: zone, primaryPort: primary.port, key: primary.key))
        try await measureReplication(zone: zone, primary: primary, bind: secondaries[0], knot: secondaries[1], primaryWatch: primaryWatch, bindWatch: bindWatch)
    } catch {
        for secondary in secondaries { secondary.stop() }
        await primary.stop()
        throw error
    }
    for secondary in secondaries { secondary.stop() }
    await primary.stop()
    await primaryWatch.close()
    await bindWatch.close()
}

private func client(_ port: Int, key: TSIGKey? = nil) throws -> DNSClient {
    var config = try DNSClientConfiguration(host: "127.0.0.1", port: port, key: key)
    config.timeout = .seconds(2)
    return DNSClient(configuration: config)
}

private func measureReplication(
    zone: DNSName, primary: ServerUnderTest, bind: SecondaryServer, knot: SecondaryServer,
    primaryWatch: NotifyListener, bindWatch: NotifyListener
) async throws {
    let writerClient = try client(primary.port, key: primary.key)
    let writer = try DocumentStore(configuration: StoreConfiguration(domain: zone), transport: writerClient)
    let docs = try await writer.createDatabase("bench").createCollection("docs")
    for n in 0..<20 { try await docs.putJSON("d\(n)", jsonDocument(300, 0)) }
    let servers = [("BIND 9", bind.port), ("Knot", knot.port)]
    let target = try await writerClient.serial(of: zone)
    for (_, port) in servers {
        let reader = try client(port)
        while (try? await reader.serial(of: zone)).map({ $0 < target }) ?? true { try await Task.sleep(for: .milliseconds(20)) }
    }
    // One store per secondary reading whatever it has, to see when a version arrives there.
    let readers = try servers.map { _, port -> DocumentCollection in
        let store = try DocumentStore(configuration: StoreConfiguration(domain: zone), transport: try client(port))
        return store.database("bench").collection("docs")
    }
    for reader in readers { _ = try await reader.get("d0") }

    // Watchers: IXFR woken by the primary's NOTIFY, IXFR from BIND woken by BIND's NOTIFY, and
    // IXFR from the primary looking every second (the default) with no NOTIFY.
    let arrivals = (acked: Arrivals(), primary: Arrivals(), bind: Arrivals(), polling: Arrivals())
    func watch(_ port: Int, _ listener: NotifyListener?, _ into: Arrivals) -> Task<Void, Never> {
        var options = WatchOptions()
        options.server = try! client(port, key: primary.key)
        options.notifications = listener
        options.includeDocuments = false
        return Task {
            do {
                for try await change in docs.watch(options) { into.mark("\(change.id) \(change.version)") }
            } catch {}
        }
    }
    let watchers = [watch(primary.port, primaryWatch, arrivals.primary), watch(bind.port, bindWatch, arrivals.bind), watch(primary.port, nil, arrivals.polling)]
    try await Task.sleep(for: .milliseconds(500))

    let samples = smoke ? 5 : 200
    var lags: [[Double]] = [[], []]
    var keys: [String] = []
    for i in 0..<samples {
        let id = "d\(i % 20)"
        let version = try await docs.putJSON(id, jsonDocument(300, i + 1))
        let acked = ContinuousClock.now
        let key = "\(id) \(version)"
        arrivals.acked.mark(key)
        keys.append(key)
        // Each secondary read in turn until it has the version: the two are polled alternately.
        var pending = Set(readers.indices)
        let deadline = acked + .seconds(10)
        while !pending.isEmpty, ContinuousClock.now < deadline {
            for r in pending.sorted() {
                if let seen = try? await readers[r].get(id), seen.version >= version {
                    lags[r].append(millis(ContinuousClock.now - acked))
                    pending.remove(r)
                }
            }
        }
        try await Task.sleep(for: .milliseconds(20))
    }
    try await Task.sleep(for: .milliseconds(1500))  // the polling watcher's last look
    for watcher in watchers { watcher.cancel() }

    func latencies(_ of: Arrivals) -> (values: [Double], missing: Int) {
        var values: [Double] = []
        var missing = 0
        for key in keys {
            guard let seen = of.time(key), let acked = arrivals.acked.time(key) else {
                missing += 1
                continue
            }
            values.append(millis(seen - acked))
        }
        return (values, missing)
    }
    func ms(_ v: Double) -> String { String(format: "%.1f", v) }
    print("")
    print("Replication from our primary (its own process) to BIND 9 and Knot secondaries by NOTIFY and IXFR, \(samples) puts of a 300 B document")
    print("| secondary | lag median, ms | lag p99, ms |")
    print("|---|---|---|")
    for (r, (name, _)) in servers.enumerated() {
        print("| \(name) | \(ms(percentile(lags[r], 0.5))) | \(ms(percentile(lags[r], 0.99))) |")
    }
    print("")
    print("Watch latency from an acknowledged put to its event (same puts)")
    print("| watcher | median, ms | p99, ms | changes not seen |")
    print("|---|---|---|---|")
    for (name, of) in [("primary, IXFR + NOTIFY", arrivals.primary), ("BIND 9 secondary, IXFR + NOTIFY", arrivals.bind), ("primary, IXFR, polling every 1 s", arrivals.polling)] {
        let (values, missing) = latencies(of)
        print("| \(name) | \(ms(percentile(values, 0.5))) | \(ms(percentile(values, 0.99))) | \(missing) |")
    }

    // Query cost per get, and gets per second, for each consistency level.
    print("")
    print("Reads through the secondaries (\(seconds) s per rate; costs over \(smoke ? 5 : 100) gets)")
    print("| consistency | queries per get (primary + secondaries), replicas current | after its own put | gets/s |")
    print("|---|---|---|---|")
    for consistency in ReadConsistency.allCases {
        let primaryCounter = QueryCounter(try client(primary.port, key: primary.key))
        let readCounters = try servers.map { _, port -> QueryCounter in
            var config = try DNSClientConfiguration(host: "127.0.0.1", port: port)
            config.timeout = .milliseconds(700)
            config.attempts = 1
            return QueryCounter(DNSClient(configuration: config))
        }
        var config = StoreConfiguration(domain: zone)
        config.consistency = consistency
        let store = try DocumentStore(
            configuration: config, transport: primaryCounter,
            readServers: zip(readCounters, servers).map { ($0 as any StoreTransport, $1.0) })
        let collection = store.database("bench").collection("docs")
        _ = try await collection.get("d0")
        let n = smoke ? 5 : 100
        func counted(_ body: () async throws -> Void) async throws -> String {
            primaryCounter.reset()
            readCounters.forEach { $0.reset() }
            try await body()
            let p = Double(primaryCounter.queries) / Double(n)
            let r = Double(readCounters.map(\.queries).reduce(0, +)) / Double(n)
            return String(format: "%.2f (%.2f + %.2f)", p + r, p, r)
        }
        let current = try await counted { for i in 0..<n { _ = try await collection.get("d\(i % 20)") } }
        // Right after its own put, before the secondaries can have it.
        var afterPut: [Double] = []
        for i in 0..<n {
            _ = try await collection.putJSON("own\(i % 5)", jsonDocument(300, i))
            primaryCounter.reset()
            readCounters.forEach { $0.reset() }
            _ = try await collection.get("own\(i % 5)")
            afterPut.append(Double(primaryCounter.queries + readCounters.map(\.queries).reduce(0, +)))
        }
        let afterOwn = String(format: "%.2f", afterPut.reduce(0, +) / Double(n))
        var g = 0
        let rate = try await measureSequential(seconds) {
            g += 1
            _ = try await collection.get("d\(g % 20)")
        }
        print("| \(consistency.rawValue) | \(current) | \(afterOwn) | \(String(format: "%.0f", rate)) |")
    }
    // The same name from each server with dnsperf.
    let name = try await docs.recordName(of: "d0")
    print("")
    print("dnsperf UDP (64 in flight) on one record name, \(seconds) s each")
    print("| server | q/s | / primary |")
    print("|---|---|---|")
    let primaryRate = try await dnsperf(port: primary.port, name: name, seconds: seconds, tcp: false)
    print("| DNSStore primary | \(String(format: "%.0f", primaryRate)) | 1.00 |")
    for (label, port) in servers {
        let rate = try await dnsperf(port: port, name: name, seconds: seconds, tcp: false)
        print("| \(label) secondary | \(String(format: "%.0f", rate)) | \(String(format: "%.2f", rate / primaryRate)) |")
    }
    await writerClient.shutdown()
}

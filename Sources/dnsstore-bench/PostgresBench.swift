import DNSClient
import DNSTestSupport
import DNSWire
import Foundation

/// Issue 10's figures: one, two and three `dnsstore serve` front ends on one PostgreSQL, next to
/// one on SQLite and to PowerDNS front ends on PostgreSQL, in the same run; and for each, the lag
/// from an acknowledged update to a BIND 9 secondary of the first front end. Needs a dnsstore
/// built with the PostgreSQL trait, and PowerDNS's PostgreSQL backend for its rows.
func runPostgres() async throws {
    let zone: DNSName = "example.test."
    let binary = dnsstoreBinary
    let writers = 8
    let lagSamples = smoke ? 10 : 100
    print("Front ends one configuration at a time, \(String(format: "%.0f", seconds)) s per case: signed single-record updates from \(writers) writers spread over the front ends (each its own name), dnsperf UDP (64 in flight) on one front end; then \(lagSamples) updates one at a time through the front ends in turn, each timed from its answer until a BIND 9 secondary of the first front end (NOTIFY, IXFR) answers it")
    print("| server | storage | front ends | updates/s | / SQLite | queries/s, one front end | / SQLite | lag to BIND median, ms | p99, ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    var cases: [(server: String, storage: String, count: Int)] = [
        ("DNSStore", "SQLite", 1), ("DNSStore", "PostgreSQL", 1), ("DNSStore", "PostgreSQL", 2), ("DNSStore", "PostgreSQL", 3),
    ]
    if PowerDNSServer.isAvailableOnPostgreSQL {
        cases += [("PowerDNS", "PostgreSQL", 1), ("PowerDNS", "PostgreSQL", 2)]
    } else {
        print("(PowerDNS rows skipped: pdns-backend-pgsql or psql is not installed)")
    }
    var baseline: (updates: Double, queries: Double)?
    var roundTrips: [String] = []
    for (server, storage, count) in cases {
        let postgres = storage == "PostgreSQL" ? try await PostgresServer.start() : nil
        defer { postgres?.stop() }
        let bindPort = Ports.free()
        let dir = try TempDirectory.make("bench-frontends")
        defer { try? FileManager.default.removeItem(at: dir) }
        var processes: [ChildProcess] = []
        var metricsPorts: [Int] = []
        var powerdns: [PowerDNSServer] = []
        defer {
            for process in processes where process.isRunning {
                process.end(SIGTERM)
            }
            powerdns.forEach { $0.stop() }
        }
        let ports: [Int]
        let key: TSIGKey
        if server == "PowerDNS", let postgres {
            powerdns = try await PowerDNSServer.startFrontEnds(count, on: postgres, zone: zone, notify: [bindPort])
            ports = powerdns.map(\.port)
            key = powerdns[0].key
        } else {
            let keyFile = dir.appendingPathComponent("shared.key").path
            let keygen = try await Subprocess.run(binary, ["keygen", "bench-key", "--output", keyFile])
            guard keygen.status == 0 else { throw SubprocessError.failed("dnsstore keygen", keygen) }
            key = try TSIGKey.parseBINDKeyFile(try String(contentsOfFile: keyFile, encoding: .utf8))[0]
            var started: [Int] = []
            for i in 0..<count {
                let port = Ports.free()
                let data = dir.appendingPathComponent("data-\(i)").path
                var args = ["serve", "--data", data, "--key", keyFile, "--zone", zone.description, "--listen", "127.0.0.1:\(port)",
                            "--log-level", "error", "--notify", "127.0.0.1:\(bindPort)"]
                if let postgres {
                    let metricsPort = Ports.free()
                    metricsPorts.append(metricsPort)
                    args += ["--storage", postgres.url, "--metrics", "127.0.0.1:\(metricsPort)"]
                }
                processes.append(try Subprocess.start(binary, args, logFile: dir.appendingPathComponent("serve-\(i).log").path))
                try await Ports.waitForTCP(port)
                started.append(port)
            }
            ports = started
        }
        let counter = Counter()
        let before = try await storageCounters(metricsPorts)
        let updates = try await measureConcurrent(seconds, tasks: writers) { [ports] in
            let task = counter.next()
            let client = try counter.client(for: task, ports: ports, key: key)
            var update = UpdateBuilder(zone: zone)
            update.replace(try DNSName("w\(task % writers).\(zone)"), .txt, with: [.txt(TXT("value \(task)"))], ttl: 60)
            try await client.update(update)
        }
        if !metricsPorts.isEmpty {
            // What the updates cost in PostgreSQL: statements (round trips) and writes planned again.
            let after = try await storageCounters(metricsPorts)
            let done = updates * seconds
            roundTrips.append(
                "| \(count) | \(String(format: "%.2f", (after.statements - before.statements) / done)) | \(String(format: "%.3f", (after.conflicts - before.conflicts) / done)) |")
        }
        // One name to query, then dnsperf against the first front end.
        let first = try counter.client(for: 0, ports: [ports[0]], key: key)
        var update = UpdateBuilder(zone: zone)
        update.replace(try DNSName("q.\(zone)"), .txt, with: [.txt(TXT("queried"))], ttl: 60)
        try await first.update(update)
        let queries = try await dnsperf(port: ports[0], name: try DNSName("q.\(zone)"), seconds: seconds, tcp: false)
        let lags = try await lagToBind(port: bindPort, zone: zone, key: key, samples: lagSamples) { i, value in
            var update = UpdateBuilder(zone: zone)
            update.replace(try DNSName("lag.\(zone)"), .txt, with: [.txt(TXT(value))], ttl: 60)
            try await counter.client(for: i, ports: ports, key: key).update(update)
        } primary: { ports[0] }
        await counter.shutdown()
        let base = baseline ?? (updates, queries)
        baseline = base
        func f(_ v: Double, _ format: String = "%.0f") -> String { String(format: format, v) }
        let missing = lags.count < lagSamples ? " (\(lagSamples - lags.count) of \(lagSamples) not seen in 5 s)" : ""
        let lag = lags.isEmpty ? "| no transfer | |" : "| \(f(percentile(lags, 0.5), "%.1f"))\(missing) | \(f(percentile(lags, 0.99), "%.1f")) |"
        print("| \(server) | \(storage) | \(count) | \(f(updates)) | \(f(updates / base.updates, "%.2f")) | \(f(queries)) | \(f(queries / base.queries, "%.2f")) \(lag)")
        fflush(nil)
    }
    if !roundTrips.isEmpty {
        print("\nPostgreSQL statements (each a round trip) and writes planned again because another front end wrote first, per acknowledged update of the updates column (the metrics' counts over the update phase, all front ends)")
        print("| front ends | statements per update | writes planned again per update |")
        print("|---|---|---|")
        roundTrips.forEach { print($0) }
    }
}

/// PostgreSQL statements sent and writes planned again, summed over the front ends' metrics.
private func storageCounters(_ ports: [Int]) async throws -> (statements: Double, conflicts: Double) {
    var total = (statements: 0.0, conflicts: 0.0)
    for port in ports {
        let text = try await HTTP.get("http://127.0.0.1:\(port)/metrics").body
        total.statements += metricValue(text, "dnsstore_storage_statements_total")
        total.conflicts += metricValue(text, "dnsstore_storage_write_conflicts_total")
    }
    return total
}

/// The value of a sample without labels in Prometheus's text format; 0 when absent.
private func metricValue(_ text: String, _ name: String) -> Double {
    for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
        if let value = Double(line.split(separator: " ").last ?? "") { return value }
    }
    return 0
}

/// Starts a BIND 9 secondary of the primary on `port`, waits for its first transfer, then makes
/// `samples` changes one at a time and times each from its answer to BIND answering it. Empty
/// when BIND never gets the zone.
private func lagToBind(
    port: Int, zone: DNSName, key: TSIGKey, samples: Int,
    write: (Int, String) async throws -> Void, primary: () -> Int
) async throws -> [Double] {
    let bind = try await SecondaryServer.start(.bind, port: port, zone: zone, primaryPort: primary(), key: key)
    defer { bind.stop() }
    var config = try DNSClientConfiguration(host: "127.0.0.1", port: port)
    config.timeout = .milliseconds(200)
    let reader = DNSClient(configuration: config)
    defer { Task { await reader.shutdown() } }
    let name = try DNSName("lag.\(zone)")
    func answers(_ value: String) async -> Bool {
        guard let lookup = try? await reader.lookup(name, overTCP: false) else { return false }
        return lookup.records.contains { if case .txt(let txt) = $0 { return txt == TXT(value) } else { return false } }
    }
    var lags: [Double] = []
    for i in 0..<samples {
        let value = "lag \(i)"
        try await write(i, value)
        let acked = ContinuousClock.now
        let deadline = acked + .seconds(i == 0 ? 15 : 5)
        while await !answers(value) {
            guard ContinuousClock.now < deadline else { return i == 0 ? [] : lags }
            try await Task.sleep(for: .microseconds(500))
        }
        lags.append(millis(ContinuousClock.now - acked))
    }
    return lags
}

/// Hands each writer task a client of its own front end, made once.
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    private var clients: [Int: DNSClient] = [:]

    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }

    func client(for task: Int, ports: [Int], key: TSIGKey) throws -> DNSClient {
        let port = ports[task % ports.count]
        lock.lock()
        defer { lock.unlock() }
        if let client = clients[port] { return client }
        let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port, key: key))
        clients[port] = client
        return client
    }

    func shutdown() async {
        let all = lock.withLock { Array(clients.values) }
        for client in all { await client.shutdown() }
    }
}

import DNSClient
import DNSTestSupport
import DNSWire
import Foundation

/// Issue 10's figures: one, two and three `dnsstore serve` front ends on one PostgreSQL, next to
/// one on SQLite, in the same run. Needs a dnsstore built with the PostgreSQL trait.
func runPostgres() async throws {
    let zone: DNSName = "example.test."
    let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("dnsstore").path
    let writers = 8
    print("Front ends one configuration at a time, \(String(format: "%.0f", seconds)) s per case: signed single-record updates from \(writers) writers spread over the front ends (each its own name), dnsperf UDP (64 in flight) on one front end")
    print("| storage | front ends | updates/s | / SQLite | queries/s, one front end | / SQLite |")
    print("|---|---|---|---|---|---|")
    var baseline: (updates: Double, queries: Double)?
    for (storage, count) in [("SQLite", 1), ("PostgreSQL", 1), ("PostgreSQL", 2), ("PostgreSQL", 3)] {
        let postgres = storage == "PostgreSQL" ? try await PostgresServer.start() : nil
        defer { postgres?.stop() }
        let dir = try TempDirectory.make("bench-frontends")
        defer { try? FileManager.default.removeItem(at: dir) }
        let keyFile = dir.appendingPathComponent("shared.key").path
        let keygen = try Subprocess.run(binary, ["keygen", "bench-key", "--output", keyFile])
        guard keygen.status == 0 else { throw SubprocessError.failed("dnsstore keygen", keygen) }
        let key = try TSIGKey.parseBINDKeyFile(try String(contentsOfFile: keyFile, encoding: .utf8))[0]
        var processes: [Process] = []
        var ports: [Int] = []
        defer {
            for process in processes where process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
            }
        }
        for i in 0..<count {
            let port = Ports.free()
            let data = dir.appendingPathComponent("data-\(i)").path
            var args = ["serve", "--data", data, "--key", keyFile, "--zone", zone.description, "--listen", "127.0.0.1:\(port)", "--log-level", "error"]
            if let postgres { args += ["--storage", postgres.url] }
            processes.append(try Subprocess.start(binary, args, logFile: dir.appendingPathComponent("serve-\(i).log").path))
            try await Ports.waitForTCP(port)
            ports.append(port)
        }
        let counter = Counter()
        let updates = try await measureConcurrent(seconds, tasks: writers) { [ports] in
            let task = counter.next()
            let client = try counter.client(for: task, ports: ports, key: key)
            var update = UpdateBuilder(zone: zone)
            update.replace(try DNSName("w\(task % writers).\(zone)"), .txt, with: [.txt(TXT("value \(task)"))], ttl: 60)
            try await client.update(update)
        }
        await counter.shutdown()
        // One name to query, then dnsperf against the first front end.
        let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: ports[0], key: key))
        var update = UpdateBuilder(zone: zone)
        update.replace(try DNSName("q.\(zone)"), .txt, with: [.txt(TXT("queried"))], ttl: 60)
        try await client.update(update)
        await client.shutdown()
        let queries = try dnsperf(port: ports[0], name: try DNSName("q.\(zone)"), seconds: seconds, tcp: false)
        let base = baseline ?? (updates, queries)
        baseline = base
        print("| \(storage) | \(count) | \(String(format: "%.0f", updates)) | \(String(format: "%.2f", updates / base.updates)) | \(String(format: "%.0f", queries)) | \(String(format: "%.2f", queries / base.queries)) |")
        fflush(nil)
    }
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

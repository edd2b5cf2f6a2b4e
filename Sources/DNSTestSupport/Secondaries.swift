import DNSWire
import Foundation

/// BIND 9 and Knot running as secondaries of a primary on loopback, transferring with TSIG.
public final class SecondaryServer: @unchecked Sendable {
    public let kind: ServerKind
    public let port: Int
    private let running: ServerProcess

    private init(kind: ServerKind, port: Int, running: ServerProcess) {
        self.kind = kind
        self.port = port
        self.running = running
    }

    /// Starts a secondary of `zone` pulling from `primary`:`primaryPort` with `key`, listening on
    /// `port` at `host`'s address. It serves transfers (IXFR from its journal) to requests signed
    /// with `key` unless `transfers` is false; it sends NOTIFY to `notify` (ports on its address)
    /// after each change it takes in. With `boundedStaleness`, it asks the primary on its own at
    /// least every minute (every 10 s after a failure), whatever the zone's SOA says.
    public static func start(
        _ kind: ServerKind, port: Int, zone: DNSName, primaryPort: Int, key: TSIGKey, transfers: Bool = true, notify: [Int] = [],
        host: TestHost = .loopback, primary: String = "127.0.0.1", boundedStaleness: Bool = false
    ) async throws -> SecondaryServer {
        try TestMode.requireExternal(kind == .knot ? "Knot" : kind == .bind ? "BIND 9" : "\(kind)")
        let address = host.address
        let dir = try TempDirectory.make("secondary-\(kind)")
        let keyName = String(key.name.description.dropLast())
        let origin = zone.description
        let running: ServerProcess
        switch kind {
        case .bind:
            let conf = """
                key "\(keyName)" { algorithm \(key.algorithm.rawValue); secret "\(key.secretBase64)"; };
                options {
                    directory "\(dir.path)";
                    pid-file "\(dir.path)/named.pid";
                    listen-on port \(port) { \(address); };
                    listen-on-v6 { none; };
                    recursion no;
                    dnssec-validation no;
                    notify \(notify.isEmpty ? "no" : "explicit");
                    \(notify.isEmpty ? "" : "also-notify { " + notify.map { "\(address) port \($0);" }.joined(separator: " ") + " };")
                    notify-delay 0;
                    max-ixfr-ratio unlimited;
                    serial-query-rate 1000;
                    notify-rate 1000;
                };
                controls { };
                zone "\(origin)" {
                    type secondary;
                    file "\(dir.path)/zone.db";
                    primaries { \(primary) port \(primaryPort) key "\(keyName)"; };
                    allow-notify { \(primary); };\(boundedStaleness ? "\n        max-refresh-time 60; max-retry-time 10;" : "")
                    allow-transfer { \(transfers ? "key \"\(keyName)\";" : "none;") };
                };

                """
            let path = dir.appendingPathComponent("named.conf").path
            try conf.write(toFile: path, atomically: true, encoding: .utf8)
            running = try await ServerProcess.launch("named", ["-g", "-c", path, "-u", "root", "-n", "1"], in: dir, logName: "named.log", port: port, host: host)
        case .knot:
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("db"), withIntermediateDirectories: true)
            let conf = """
                server:
                    rundir: "\(dir.path)"
                    user: root:root
                    listen: \(address)@\(port)
                    pidfile: "\(dir.path)/knot.pid"
                control:
                    listen: "\(dir.path)/knot.sock"
                log:
                  - target: stderr
                    any: info
                database:
                    storage: "\(dir.path)/db"
                key:
                  - id: \(keyName)
                    algorithm: \(key.algorithm.rawValue)
                    secret: \(key.secretBase64)
                remote:
                  - id: primary
                    address: \(primary)@\(primaryPort)
                    key: \(keyName)
                    block-notify-after-transfer: on
                \(notify.enumerated().map { "  - id: watcher\($0.offset)\n    address: \(address)@\($0.element)" }.joined(separator: "\n"))
                acl:
                  - id: from-primary
                    address: \(primary)
                    action: notify
                  - id: readers
                    address: \(transfers ? (host.namespace == nil ? "127.0.0.0/8" : "0.0.0.0/0") : "127.0.0.255/32")
                    key: \(keyName)
                    action: transfer
                zone:
                  - domain: \(origin)
                    storage: "\(dir.path)"
                    file: zone.db
                    master: primary
                    acl: [from-primary, readers]\(notify.isEmpty ? "" : "\n    notify: [" + notify.indices.map { "watcher\($0)" }.joined(separator: ", ") + "]")
                    zonefile-sync: -1
                    journal-content: changes
                    journal-max-depth: 100000\(boundedStaleness ? "\n    refresh-max-interval: 60\n    retry-max-interval: 10" : "")

                """
            let path = dir.appendingPathComponent("knot.conf").path
            try conf.write(toFile: path, atomically: true, encoding: .utf8)
            running = try await ServerProcess.launch("knotd", ["-c", path], in: dir, logName: "knot.log", port: port, host: host)
        case .embedded, .powerdns:
            throw SubprocessError.notReady("secondaries of \(kind) are not set up by the tests")
        }
        return SecondaryServer(kind: kind, port: port, running: running)
    }

    public var log: String { running.log }

    /// The server's process ID.
    public var pid: Int32 { running.pid }

    public func stop() { running.stop() }

    /// Stops it answering or taking changes (SIGSTOP), as a replica that lags would.
    public func pause() { running.signal(SIGSTOP) }

    /// Lets it go on (SIGCONT): it catches up.
    public func resume() { running.signal(SIGCONT) }
}

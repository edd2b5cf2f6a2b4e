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

    /// Starts a secondary of `zone` pulling from 127.0.0.1:`primaryPort` with `key`, listening on `port`.
    /// It serves transfers (IXFR from its journal) to requests signed with `key` unless
    /// `transfers` is false; it sends NOTIFY to `notify` after each change it takes in.
    public static func start(
        _ kind: ServerKind, port: Int, zone: DNSName, primaryPort: Int, key: TSIGKey, transfers: Bool = true, notify: [Int] = []
    ) async throws -> SecondaryServer {
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
                    listen-on port \(port) { 127.0.0.1; };
                    listen-on-v6 { none; };
                    recursion no;
                    dnssec-validation no;
                    notify \(notify.isEmpty ? "no" : "explicit");
                    \(notify.isEmpty ? "" : "also-notify { " + notify.map { "127.0.0.1 port \($0);" }.joined(separator: " ") + " };")
                    notify-delay 0;
                    max-ixfr-ratio unlimited;
                    serial-query-rate 1000;
                    notify-rate 1000;
                };
                controls { };
                zone "\(origin)" {
                    type secondary;
                    file "\(dir.path)/zone.db";
                    primaries { 127.0.0.1 port \(primaryPort) key "\(keyName)"; };
                    allow-notify { 127.0.0.1; };
                    allow-transfer { \(transfers ? "key \"\(keyName)\";" : "none;") };
                };

                """
            let path = dir.appendingPathComponent("named.conf").path
            try conf.write(toFile: path, atomically: true, encoding: .utf8)
            running = try await ServerProcess.launch("named", ["-g", "-c", path, "-u", "root", "-n", "1"], in: dir, logName: "named.log", port: port)
        case .knot:
            try FileManager.default.createDirectory(at: dir.appendingPathComponent("db"), withIntermediateDirectories: true)
            let conf = """
                server:
                    rundir: "\(dir.path)"
                    user: root:root
                    listen: 127.0.0.1@\(port)
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
                    address: 127.0.0.1@\(primaryPort)
                    key: \(keyName)
                \(notify.enumerated().map { "  - id: watcher\($0.offset)\n    address: 127.0.0.1@\($0.element)" }.joined(separator: "\n"))
                acl:
                  - id: from-primary
                    address: 127.0.0.1
                    action: notify
                  - id: readers
                    address: \(transfers ? "127.0.0.0/8" : "127.0.0.255/32")
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
                    journal-max-depth: 100000

                """
            let path = dir.appendingPathComponent("knot.conf").path
            try conf.write(toFile: path, atomically: true, encoding: .utf8)
            running = try await ServerProcess.launch("knotd", ["-c", path], in: dir, logName: "knot.log", port: port)
        case .embedded, .powerdns:
            throw SubprocessError.notReady("secondaries of \(kind) are not set up by the tests")
        }
        return SecondaryServer(kind: kind, port: port, running: running)
    }

    public var log: String { running.log }

    public func stop() { running.stop() }

    /// Stops it answering or taking changes (SIGSTOP), as a replica that lags would.
    public func pause() { running.signal(SIGSTOP) }

    /// Lets it go on (SIGCONT): it catches up.
    public func resume() { running.signal(SIGCONT) }
}

import DNSWire
import Foundation

/// BIND 9 and Knot running as secondaries of a primary on loopback, transferring with TSIG.
public final class SecondaryServer: @unchecked Sendable {
    public let kind: ServerKind
    public let port: Int
    public let directory: URL
    private let process: Process
    private let logName: String

    private init(kind: ServerKind, port: Int, directory: URL, process: Process, logName: String) {
        self.kind = kind
        self.port = port
        self.directory = directory
        self.process = process
        self.logName = logName
    }

    /// Starts a secondary of `zone` pulling from 127.0.0.1:`primaryPort` with `key`, listening on `port`.
    public static func start(_ kind: ServerKind, port: Int, zone: DNSName, primaryPort: Int, key: TSIGKey) async throws
        -> SecondaryServer
    {
        let dir = try TempDirectory.make("secondary-\(kind)")
        let keyName = String(key.name.description.dropLast())
        let origin = zone.description
        let process: Process
        let logName: String
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
                    notify no;
                };
                controls { };
                zone "\(origin)" {
                    type secondary;
                    file "\(dir.path)/zone.db";
                    primaries { 127.0.0.1 port \(primaryPort) key "\(keyName)"; };
                    allow-notify { 127.0.0.1; };
                };

                """
            let path = dir.appendingPathComponent("named.conf").path
            try conf.write(toFile: path, atomically: true, encoding: .utf8)
            logName = "named.log"
            process = try Subprocess.start("named", ["-g", "-c", path, "-u", "root", "-n", "1"], logFile: dir.appendingPathComponent(logName).path)
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
                acl:
                  - id: from-primary
                    address: 127.0.0.1
                    action: notify
                  - id: readers
                    address: 127.0.0.0/8
                    key: \(keyName)
                    action: transfer
                zone:
                  - domain: \(origin)
                    storage: "\(dir.path)"
                    file: zone.db
                    master: primary
                    acl: [from-primary, readers]
                    zonefile-sync: -1
                    journal-content: changes

                """
            let path = dir.appendingPathComponent("knot.conf").path
            try conf.write(toFile: path, atomically: true, encoding: .utf8)
            logName = "knot.log"
            process = try Subprocess.start("knotd", ["-c", path], logFile: dir.appendingPathComponent(logName).path)
        case .embedded:
            throw SubprocessError.notReady("the embedded server has no secondary mode")
        }
        let server = SecondaryServer(kind: kind, port: port, directory: dir, process: process, logName: logName)
        do {
            try await Ports.waitForTCP(port)
        } catch {
            server.stop()
            throw SubprocessError.notReady("\(kind) secondary: \(server.log)")
        }
        return server
    }

    public var log: String {
        (try? String(contentsOf: directory.appendingPathComponent(logName), encoding: .utf8)) ?? ""
    }

    public func stop() {
        if ProcessInfo.processInfo.environment["DNSSTORE_KEEP_LOGS"] != nil { print(log) }
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

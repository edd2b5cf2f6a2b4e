import DNSWire
import Foundation

/// A real PowerDNS authoritative server on its SQLite backend, primary for one zone that takes
/// RFC 2136 UPDATEs and transfers signed with a fresh key; in a temp folder on a free loopback
/// port, stopped by its PID. Its caches are off, so every answer reflects the last commit.
public final class PowerDNSServer: @unchecked Sendable {
    public let directory: URL
    public let port: Int
    public let zone: DNSName
    public let key: TSIGKey
    public let keyFile: String
    private let running: ServerProcess

    public static let keyName = "dnsstore-key"
    static let schema = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"

    public static var isAvailable: Bool {
        Subprocess.isAvailable("pdns_server") && FileManager.default.fileExists(atPath: schema)
    }

    private init(directory: URL, port: Int, zone: DNSName, key: TSIGKey, keyFile: String, running: ServerProcess) {
        self.directory = directory
        self.port = port
        self.zone = zone
        self.key = key
        self.keyFile = keyFile
        self.running = running
    }

    public static func start(zone: DNSName = "example.test.") async throws -> PowerDNSServer {
        let dir = try TempDirectory.make("pdns")
        let port = Ports.free()
        let (key, keyFile) = try generateKey(keyName, in: dir)
        let database = dir.appendingPathComponent("pdns.db").path
        let made = try Subprocess.run(
            "python3", ["-c", "import sqlite3, sys; sqlite3.connect(sys.argv[1]).executescript(open(sys.argv[2]).read())", database, schema])
        guard made.status == 0 else { throw SubprocessError.failed("creating the PowerDNS database", made) }
        let conf = """
            launch=gsqlite3
            gsqlite3-database=\(database)
            local-address=127.0.0.1
            local-port=\(port)
            dnsupdate=yes
            allow-dnsupdate-from=127.0.0.0/8
            security-poll-suffix=
            socket-dir=\(dir.path)
            config-dir=\(dir.path)
            guardian=no
            daemon=no
            disable-syslog=yes
            write-pid=no
            cache-ttl=0
            negquery-cache-ttl=0
            query-cache-ttl=0

            """
        try conf.write(to: dir.appendingPathComponent("pdns.conf"), atomically: true, encoding: .utf8)
        let origin = String(zone.description.dropLast())
        for arguments in [
            ["create-zone", origin, "localhost"],
            ["import-tsig-key", keyName, "hmac-sha256", key.secretBase64],
            ["set-meta", origin, "TSIG-ALLOW-DNSUPDATE", keyName],
            ["set-meta", origin, "TSIG-ALLOW-AXFR", keyName],
        ] {
            let result = try Subprocess.run("pdnsutil", ["--config-dir=\(dir.path)"] + arguments)
            guard result.status == 0 else { throw SubprocessError.failed("pdnsutil \(arguments[0])", result) }
        }
        let running = try await ServerProcess.launch(
            "pdns_server", ["--config-dir=\(dir.path)"], in: dir, logName: "pdns.log", port: port)
        return PowerDNSServer(directory: dir, port: port, zone: zone, key: key, keyFile: keyFile, running: running)
    }

    public var log: String { running.log }

    public func stop() { running.stop() }
}

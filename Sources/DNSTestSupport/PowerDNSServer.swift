import DNSWire
import Foundation

/// A real PowerDNS authoritative server, primary for one zone that takes RFC 2136 UPDATEs and
/// transfers signed with a fresh key; in a temp folder on a free loopback port, stopped by its PID.
/// Its backend is SQLite in that folder, or a database on a PostgreSQL server that several
/// PowerDNS front ends may share. Its caches are off, so every answer reflects the last commit.
public final class PowerDNSServer: @unchecked Sendable {
    public let directory: URL
    public let port: Int
    public let zone: DNSName
    public let key: TSIGKey
    public let keyFile: String
    private let running: ServerProcess

    public static let keyName = "dnsstore-key"
    static let sqliteSchema = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"
    static let postgresSchema = "/usr/share/pdns-backend-pgsql/schema/schema.pgsql.sql"
    /// The database PowerDNS keeps its zones in on a shared PostgreSQL server.
    public static let postgresDatabase = "pdns"

    public static var isAvailable: Bool {
        TestMode.externalServers && Subprocess.isAvailable("pdns_server") && FileManager.default.fileExists(atPath: sqliteSchema)
    }

    /// Whether the PostgreSQL backend (Debian's pdns-backend-pgsql) and psql are installed.
    public static var isAvailableOnPostgreSQL: Bool {
        TestMode.externalServers && Subprocess.isAvailable("pdns_server") && Subprocess.isAvailable("psql")
            && FileManager.default.fileExists(atPath: postgresSchema)
    }

    private init(directory: URL, port: Int, zone: DNSName, key: TSIGKey, keyFile: String, running: ServerProcess) {
        self.directory = directory
        self.port = port
        self.zone = zone
        self.key = key
        self.keyFile = keyFile
        self.running = running
    }

    /// One PowerDNS on SQLite.
    public static func start(zone: DNSName = "example.test.") async throws -> PowerDNSServer {
        try TestMode.requireExternal("PowerDNS")
        let dir = try TempDirectory.make("pdns")
        let database = dir.appendingPathComponent("pdns.db").path
        let made = try await Subprocess.run(
            "python3", ["-c", "import sqlite3, sys; sqlite3.connect(sys.argv[1]).executescript(open(sys.argv[2]).read())", database, sqliteSchema])
        guard made.status == 0 else { throw SubprocessError.failed("creating the PowerDNS database", made) }
        let backend = "launch=gsqlite3\ngsqlite3-database=\(database)"
        let (key, keyFile) = try await generateKey(keyName, in: dir)
        try await createZone(zone, key: key, backend: backend, in: dir)
        return try await launch(zone: zone, key: key, keyFile: keyFile, backend: backend, in: dir)
    }

    /// `count` PowerDNS front ends sharing one database on `postgres`, the setup whose
    /// compare-and-swap writes race (README.md): each answers and takes updates for the zone.
    /// With `notify`, each sends NOTIFY to those loopback ports after its updates.
    public static func startFrontEnds(
        _ count: Int, on postgres: PostgresServer, zone: DNSName = "example.test.", notify: [Int] = []
    ) async throws -> [PowerDNSServer] {
        let first = try TempDirectory.make("pdns")
        for sql in ["CREATE DATABASE \(postgresDatabase)", nil] {
            var args = ["-h", "127.0.0.1", "-p", "\(postgres.port)", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q"]
            args += sql.map { ["-c", $0] } ?? ["-d", postgresDatabase, "-f", postgresSchema]
            let result = try await Subprocess.run("psql", args)
            guard result.status == 0 else { throw SubprocessError.failed("psql", result) }
        }
        var backend = """
            launch=gpgsql
            gpgsql-host=127.0.0.1
            gpgsql-port=\(postgres.port)
            gpgsql-user=postgres
            gpgsql-dbname=\(postgresDatabase)
            """
        if !notify.isEmpty {
            // NOTIFY goes to these ports alone, never to the addresses of the zone's NS names.
            backend += "\nprimary=yes\nonly-notify=\nalso-notify=" + notify.map { "127.0.0.1:\($0)" }.joined(separator: ",")
        }
        let (key, keyFile) = try await generateKey(keyName, in: first)
        try await createZone(zone, key: key, backend: backend, in: first)
        if !notify.isEmpty {
            // A zone sends NOTIFY after each UPDATE only when it is of kind primary and asked to.
            let origin = String(zone.description.dropLast())
            for arguments in [["set-kind", origin, "master"], ["set-meta", origin, "NOTIFY-DNSUPDATE", "1"]] {
                let result = try await Subprocess.run("pdnsutil", ["--config-dir=\(first.path)"] + arguments)
                guard result.status == 0 else { throw SubprocessError.failed("pdnsutil \(arguments[0])", result) }
            }
        }
        var servers: [PowerDNSServer] = []
        do {
            for i in 0..<count {
                let dir = i == 0 ? first : try TempDirectory.make("pdns")
                servers.append(try await launch(zone: zone, key: key, keyFile: keyFile, backend: backend, in: dir))
            }
        } catch {
            servers.forEach { $0.stop() }
            throw error
        }
        return servers
    }

    private static func configuration(backend: String, port: Int, in dir: URL) -> String {
        """
        \(backend)
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
    }

    /// The zone, the key and the key's rights, written to the backend once by pdnsutil.
    private static func createZone(_ zone: DNSName, key: TSIGKey, backend: String, in dir: URL) async throws {
        try configuration(backend: backend, port: 0, in: dir)
            .write(to: dir.appendingPathComponent("pdns.conf"), atomically: true, encoding: .utf8)
        let origin = String(zone.description.dropLast())
        for arguments in [
            ["create-zone", origin, "localhost"],
            ["import-tsig-key", keyName, "hmac-sha256", key.secretBase64],
            ["set-meta", origin, "TSIG-ALLOW-DNSUPDATE", keyName],
            ["set-meta", origin, "TSIG-ALLOW-AXFR", keyName],
            // Without it an UPDATE leaves the serial alone and secondaries never see the change.
            ["set-meta", origin, "SOA-EDIT-DNSUPDATE", "INCREASE"],
        ] {
            let result = try await Subprocess.run("pdnsutil", ["--config-dir=\(dir.path)"] + arguments)
            guard result.status == 0 else { throw SubprocessError.failed("pdnsutil \(arguments[0])", result) }
        }
    }

    private static func launch(zone: DNSName, key: TSIGKey, keyFile: String, backend: String, in dir: URL) async throws -> PowerDNSServer {
        let port = Ports.free()
        try configuration(backend: backend, port: port, in: dir)
            .write(to: dir.appendingPathComponent("pdns.conf"), atomically: true, encoding: .utf8)
        let running = try await ServerProcess.launch(
            "pdns_server", ["--config-dir=\(dir.path)"], in: dir, logName: "pdns.log", port: port)
        return PowerDNSServer(directory: dir, port: port, zone: zone, key: key, keyFile: keyFile, running: running)
    }

    public var log: String { running.log }

    public func stop() { running.stop() }
}

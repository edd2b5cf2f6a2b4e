import DNSWire
import Foundation

/// A real BIND 9 `named`, primary for one zone, started in a temp folder on a free loopback port
/// with a fresh key, and stopped by its PID.
public final class BindServer: @unchecked Sendable {
    public let directory: URL
    public let port: Int
    public let zone: DNSName
    public let key: TSIGKey
    public let keyFile: String
    private let running: ServerProcess

    public static let keyName = "dnsstore-key"

    private init(directory: URL, port: Int, zone: DNSName, key: TSIGKey, keyFile: String, running: ServerProcess) {
        self.directory = directory
        self.port = port
        self.zone = zone
        self.key = key
        self.keyFile = keyFile
        self.running = running
    }

    /// Starts `named` serving `zone` (SOA, NS and a glue A record), writable with the key.
    /// `zoneFile`: a zone file to serve instead of the small test zone (moved into its folder).
    /// `notify`: ports on 127.0.0.1 told of every change (NOTIFY at once, up to 1,000 a second).
    public static func start(zone: DNSName = "example.test.", algorithm: String = "hmac-sha256", zoneFile: URL? = nil, notify: [Int] = [])
        async throws -> BindServer
    {
        try TestMode.requireExternal("BIND 9")
        let dir = try TempDirectory.make("bind")
        let port = Ports.free()
        let (key, keyFile) = try await generateKey(keyName, algorithm: algorithm, in: dir)
        let origin = zone.description
        if let zoneFile {
            try FileManager.default.moveItem(at: zoneFile, to: dir.appendingPathComponent("zone.db"))
        } else {
            try TestZone.text(zone).write(to: dir.appendingPathComponent("zone.db"), atomically: true, encoding: .utf8)
        }
        let conf = """
            include "\(keyFile)";
            options {
                directory "\(dir.path)";
                pid-file "\(dir.path)/named.pid";
                listen-on port \(port) { 127.0.0.1; };
                listen-on-v6 { none; };
                recursion no;
                dnssec-validation no;
                max-records-per-type 0;
                max-types-per-name 0;
                \(notify.isEmpty ? "notify no;" : "notify explicit; notify-delay 0; notify-rate 1000; startup-notify-rate 1000;")
            };
            controls { };
            zone "\(origin)" {
                type primary;
                file "\(dir.path)/zone.db";
                journal "\(dir.path)/zone.db.jnl";
                allow-update { key "\(keyName)"; };
                allow-transfer { key "\(keyName)"; };\(notify.isEmpty ? "" : "\n        also-notify { " + notify.map { "127.0.0.1 port \($0);" }.joined(separator: " ") + " };")
            };

            """
        let confPath = dir.appendingPathComponent("named.conf").path
        try conf.write(toFile: confPath, atomically: true, encoding: .utf8)
        let running = try await ServerProcess.launch(
            "named", ["-g", "-c", confPath, "-u", "root", "-n", "1"], in: dir, logName: "named.log", port: port,
            timeout: zoneFile == nil ? .seconds(30) : .seconds(600))
        return BindServer(directory: dir, port: port, zone: zone, key: key, keyFile: keyFile, running: running)
    }

    public var log: String { running.log }

    public var pid: Int32 { running.pid }

    /// Sends SIGTERM to the `named` this object started, waits for it, and removes its folder.
    public func stop() { running.stop() }

    /// Runs `body` with a fresh server and stops the server afterwards, whatever happens.
    public static func with<T>(
        zone: DNSName = "example.test.", _ body: (BindServer) async throws -> T
    ) async throws -> T {
        let server = try await start(zone: zone)
        do {
            let result = try await body(server)
            server.stop()
            return result
        } catch {
            server.stop()
            throw error
        }
    }
}

/// The zone file the test primaries start from: SOA, NS and the name server's address.
public enum TestZone {
    public static func text(_ zone: DNSName) -> String {
        let origin = zone.description
        return """
            $TTL 300
            \(origin) IN SOA ns1.\(origin) hostmaster.\(origin) 1 3600 600 86400 60
            \(origin) IN NS ns1.\(origin)
            ns1.\(origin) IN A 127.0.0.1

            """
    }
}

public enum TempDirectory {
    public static func make(_ prefix: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "dnsstore-\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// A fresh TSIG key made by BIND's `tsig-keygen`, written to `dir/tsig.key` in BIND's format.
func generateKey(_ name: String, algorithm: String = "hmac-sha256", in dir: URL) async throws -> (key: TSIGKey, file: String) {
    let keygen = try await Subprocess.run("tsig-keygen", ["-a", algorithm, name])
    guard keygen.status == 0 else { throw SubprocessError.failed("tsig-keygen", keygen) }
    let file = dir.appendingPathComponent("tsig.key").path
    try keygen.stdout.write(toFile: file, atomically: true, encoding: .utf8)
    return (try TSIGKey.parseBINDKeyFile(keygen.stdout)[0], file)
}

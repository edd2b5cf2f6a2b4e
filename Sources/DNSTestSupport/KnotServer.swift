import DNSWire
import Foundation

/// A real Knot DNS `knotd`, primary for one zone, in a temp folder on a free loopback port with a
/// fresh key, stopped by its PID. Journal settings follow what keeps updates across restarts.
public final class KnotServer: @unchecked Sendable {
    public let directory: URL
    public let port: Int
    public let zone: DNSName
    public let key: TSIGKey
    private let running: ServerProcess

    private init(directory: URL, port: Int, zone: DNSName, key: TSIGKey, running: ServerProcess) {
        self.directory = directory
        self.port = port
        self.zone = zone
        self.key = key
        self.running = running
    }

    public static func start(zone: DNSName = "example.test.") async throws -> KnotServer {
        try TestMode.requireExternal("Knot")
        let dir = try TempDirectory.make("knot")
        // knotd keeps its journal and timers here and fails every update when it is missing.
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("db"), withIntermediateDirectories: true)
        let port = Ports.free()
        let key = TSIGKey.generate(name: "dnsstore-key.")
        let origin = zone.description
        try TestZone.text(zone).write(to: dir.appendingPathComponent("zone.db"), atomically: true, encoding: .utf8)
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
              - id: dnsstore-key
                algorithm: hmac-sha256
                secret: \(key.secretBase64)
            acl:
              - id: writers
                address: 127.0.0.0/8
                key: dnsstore-key
                action: [update, transfer]
            zone:
              - domain: \(origin)
                storage: "\(dir.path)"
                file: zone.db
                acl: writers
                journal-content: changes
                zonefile-load: whole
                zonefile-sync: 30
                journal-max-depth: 100000

            """
        let confPath = dir.appendingPathComponent("knot.conf").path
        try conf.write(toFile: confPath, atomically: true, encoding: .utf8)
        let running = try await ServerProcess.launch("knotd", ["-c", confPath], in: dir, logName: "knot.log", port: port)
        return KnotServer(directory: dir, port: port, zone: zone, key: key, running: running)
    }

    public var log: String { running.log }

    /// The server's process ID, for reading its memory and CPU time.
    public var pid: Int32 { running.pid }

    public func stop() { running.stop() }
}

/// A standard authoritative server started for a test: BIND 9, Knot or PowerDNS.
public enum ServerKind: String, Sendable, CaseIterable, CustomStringConvertible {
    case bind, knot, powerdns
    /// Our own server, in this process, over real sockets.
    case embedded
    public var description: String { rawValue }
}

/// Whichever server a test asked for, behind one face.
public struct RunningServer: Sendable {
    public let kind: ServerKind
    public let port: Int
    public let zone: DNSName
    public let key: TSIGKey
    public let stop: @Sendable () async -> Void

    public init(kind: ServerKind, port: Int, zone: DNSName, key: TSIGKey, stop: @escaping @Sendable () async -> Void) {
        self.kind = kind
        self.port = port
        self.zone = zone
        self.key = key
        self.stop = stop
    }

    public static func start(_ kind: ServerKind, zone: DNSName = "example.test.") async throws -> RunningServer {
        switch kind {
        case .bind:
            let s = try await BindServer.start(zone: zone)
            return RunningServer(kind: kind, port: s.port, zone: zone, key: s.key, stop: { s.stop() })
        case .knot:
            let s = try await KnotServer.start(zone: zone)
            return RunningServer(kind: kind, port: s.port, zone: zone, key: s.key, stop: { s.stop() })
        case .powerdns:
            let s = try await PowerDNSServer.start(zone: zone)
            return RunningServer(kind: kind, port: s.port, zone: zone, key: s.key, stop: { s.stop() })
        case .embedded:
            let s = try await EmbeddedServer.start(zone: zone)
            return RunningServer(kind: kind, port: s.port, zone: zone, key: s.key, stop: { await s.stop() })
        }
    }

    /// Runs `body` with a fresh server, stopping it afterwards whatever happens.
    public static func with<T>(_ kind: ServerKind, zone: DNSName = "example.test.", _ body: (RunningServer) async throws -> T)
        async throws -> T
    {
        let server = try await start(kind, zone: zone)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }
}

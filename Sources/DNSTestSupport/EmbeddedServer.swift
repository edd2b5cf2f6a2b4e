import DNSServer
import DNSWire
import Foundation

/// Our own server started in this process on a free loopback port, in a temp folder, with a fresh key.
public final class EmbeddedServer: Sendable {
    public let directory: URL
    public let server: NetworkServer
    public let zone: DNSName
    public let key: TSIGKey

    public var port: Int { server.localAddress?.port ?? 0 }

    private init(directory: URL, server: NetworkServer, zone: DNSName, key: TSIGKey) {
        self.directory = directory
        self.server = server
        self.zone = zone
        self.key = key
    }

    public static func start(
        zone: DNSName = "example.test.", configure: (inout AuthorityConfiguration) -> Void = { _ in }
    ) async throws -> EmbeddedServer {
        let dir = try TempDirectory.make("embedded")
        let key = TSIGKey.generate(name: "dnsstore-key.")
        var config = AuthorityConfiguration(zones: [zone], keys: [key])
        configure(&config)
        let authority = try Authority(databasePath: dir.appendingPathComponent("zones.sqlite").path, configuration: config)
        let server = try await NetworkServer.start(authority, host: "127.0.0.1", port: 0)
        return EmbeddedServer(directory: dir, server: server, zone: zone, key: key)
    }

    public func stop() async {
        await server.close()
        try? FileManager.default.removeItem(at: directory)
    }
}

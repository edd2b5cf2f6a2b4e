import DNSClient
import DNSStore
import DNSTestSupport
import DNSWire
import Synchronization

/// Counts the queries and updates a store sends through a real client.
final class CountingTransport: StoreTransport {
    let inner: DNSClient
    private let counts = Mutex((queries: 0, updates: 0))

    init(_ inner: DNSClient) { self.inner = inner }

    var queries: Int { counts.withLock { $0.queries } }
    var updates: Int { counts.withLock { $0.updates } }
    func reset() { counts.withLock { $0 = (0, 0) } }

    func txt(at name: DNSName, overTCP: Bool) async throws -> [RData] {
        counts.withLock { $0.queries += 1 }
        return try await inner.txt(at: name, overTCP: overTCP)
    }

    func update(_ update: UpdateBuilder) async throws {
        counts.withLock { $0.updates += 1 }
        _ = try await inner.update(update) as Message
    }
}

/// A store on a real server, with the counting transport that reaches it.
struct StoreFixture {
    let server: RunningServer
    let store: DNSStore
    let transport: CountingTransport

    /// Another client of the same store that knows only the domain, and `key` to write with.
    func freshStore(key: TSIGKey?) throws -> DNSStore {
        try Self.store(server, key: key).0
    }

    static func store(_ server: RunningServer, key: TSIGKey?) throws -> (DNSStore, CountingTransport) {
        var config = try DNSClientConfiguration(host: "127.0.0.1", port: server.port, key: key)
        config.timeout = .seconds(5)
        let transport = CountingTransport(DNSClient(configuration: config))
        let store = try DNSStore(configuration: StoreConfiguration(domain: server.zone), transport: transport)
        return (store, transport)
    }

    static func with<T>(_ kind: ServerKind, _ body: (StoreFixture) async throws -> T) async throws -> T {
        try await RunningServer.with(kind) { server in
            let (store, transport) = try store(server, key: server.key)
            defer { Task { await transport.inner.shutdown() } }
            return try await body(StoreFixture(server: server, store: store, transport: transport))
        }
    }
}

struct Counter: Codable, Sendable, Equatable {
    var count: Int
}

struct Person: Codable, Sendable, Equatable {
    var name: String
    var age: Int
    var city: String
}

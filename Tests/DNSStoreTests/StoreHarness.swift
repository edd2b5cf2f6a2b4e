import DNSClient
import DNSServer
import DNSStore
import DNSStoreEmbedded
import DNSStoreRoute53
import DNSTestSupport
import DNSWire
import Testing

/// Counts the queries and updates a store sends through a real client.
final class CountingTransport: StoreTransport {
    let inner: any StoreTransport
    let dnsClient: DNSClient?
    private let counts = Locked((queries: 0, updates: 0))

    init(_ inner: any StoreTransport, client: DNSClient?) {
        self.inner = inner
        self.dnsClient = client
    }

    /// A client of the same server over sockets, for looking at raw answers; a store on Route 53
    /// has none, and tests that use it do not run there.
    var client: DNSClient {
        guard let dnsClient else { preconditionFailure("a store on Route 53 has no DNS server to query") }
        return dnsClient
    }

    convenience init(_ client: DNSClient) { self.init(client, client: client) }

    var queries: Int { counts.withLock { $0.queries } }
    var updates: Int { counts.withLock { $0.updates } }
    func reset() { counts.withLock { $0 = (0, 0) } }

    /// Counts an UPDATE as an update and anything else as a query, then forwards it.
    func send(_ request: Message, overTCP: Bool, each: (Message) throws -> Void) async throws {
        counts.withLock { request.opcode == .update ? ($0.updates += 1) : ($0.queries += 1) }
        try await inner.send(request, overTCP: overTCP, each: each)
    }
}

/// Where a store test runs: a real server over sockets, or our engine in the same process.
enum Backend: String, CaseIterable, CustomStringConvertible, Sendable {
    case bind, knot, powerdns, embedded, inProcess
    /// A Route 53 hosted zone (moto behind the proxy of `Route53Double`), through `Route53Transport`.
    case route53
    var description: String { rawValue }

    /// The DNS servers tests run on: all, or in quick mode (`scripts/test --quick`) ours alone.
    static var selected: [Backend] { TestMode.quick ? [.embedded, .inProcess] : [.bind, .knot, .powerdns, .embedded, .inProcess] }

    /// For tests that use the store's API alone: the DNS servers and, outside quick mode, Route 53.
    static var storeSuite: [Backend] { selected + (TestMode.quick || !MotoServer.isAvailable ? [] : [.route53]) }
}

/// A store on a real server (or a Route 53 zone), with the counting transport that reaches it.
struct StoreFixture {
    /// The DNS server; nil on Route 53 (tests that need one do not run there).
    let runningServer: RunningServer?
    let store: DocumentStore
    let transport: CountingTransport
    /// Another store object on the same zone, writing with `key` (on Route 53: the same credentials).
    let connect: @Sendable (_ key: TSIGKey?) throws -> (DocumentStore, CountingTransport)
    /// The key writes are signed with (nil on Route 53, whose credentials are the transport's).
    let writeKey: TSIGKey?

    var server: RunningServer {
        guard let runningServer else { preconditionFailure("a store on Route 53 has no DNS server") }
        return runningServer
    }

    init(
        server: RunningServer?, store: DocumentStore, transport: CountingTransport,
        connect: (@Sendable (_ key: TSIGKey?) throws -> (DocumentStore, CountingTransport))? = nil
    ) {
        self.runningServer = server
        self.store = store
        self.transport = transport
        self.writeKey = server?.key
        self.connect = connect ?? { key in try StoreFixture.store(server!, key: key) }
    }

    /// A store object with nothing cached, on the same transport, counting what it sends.
    func coldStore() throws -> (DocumentStore, CountingTransport) {
        let counter = CountingTransport(transport.inner, client: transport.dnsClient)
        return (try DocumentStore(configuration: store.configuration, transport: counter), counter)
    }

    /// Another client of the same store that knows only the domain, and `key` to write with.
    func freshStore(key: TSIGKey?) throws -> DocumentStore {
        try connect(key).0
    }

    static func with<T>(_ backend: Backend, _ body: (StoreFixture) async throws -> T) async throws -> T {
        switch backend {
        case .bind: return try await with(ServerKind.bind, body)
        case .knot: return try await with(ServerKind.knot, body)
        case .powerdns: return try await with(ServerKind.powerdns, body)
        case .embedded: return try await with(ServerKind.embedded, body)
        case .inProcess: return try await InProcessFixture.with(body)
        case .route53: return try await Route53Fixture.with(body)
        }
    }

    static func store(_ server: RunningServer, key: TSIGKey?) throws -> (DocumentStore, CountingTransport) {
        var config = try DNSClientConfiguration(host: "127.0.0.1", port: server.port, key: key)
        config.timeout = .seconds(5)
        let transport = CountingTransport(DNSClient(configuration: config))
        let store = try DocumentStore(configuration: StoreConfiguration(domain: server.zone), transport: transport)
        return (store, transport)
    }

    static func with<T>(_ kind: ServerKind, _ body: (StoreFixture) async throws -> T) async throws -> T {
        try await RunningServer.with(kind) { server in
            let (store, transport) = try store(server, key: server.key)
            defer { Task { await transport.client.shutdown() } }
            return try await body(StoreFixture(server: server, store: store, transport: transport))
        }
    }
}

extension StoreFixture {
    /// Eight writers, each a store object of its own, compare-and-swap documents `h0` to
    /// `h<ids - 1>` of `database/collection`, picked at random, to what `change` makes of the one
    /// read, for `seconds` (and on a loaded machine until each has made two); a conflict is read
    /// again. Returns the updates acknowledged.
    func eightWriters<Read: Decodable & Sendable, Written: Encodable & Sendable>(
        _ database: String, _ collection: String, ids: Int, seconds: Int, reading: Read.Type,
        change: @escaping @Sendable (Read) -> Written
    ) async throws -> Int {
        let end = ContinuousClock.now + .seconds(seconds)
        return try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    let (store, _) = try connect(writeKey)
                    let documents = store.database(database).collection(collection)
                    var written = 0
                    while ContinuousClock.now < end || (written < 2 && ContinuousClock.now < end + .seconds(60)) {
                        let id = "h\(Int.random(in: 0..<ids))"
                        guard let current = try await documents.get(id, as: Read.self) else { continue }
                        do {
                            _ = try await documents.update(id, change(current.value), ifVersion: current.version)
                            written += 1
                        } catch let error as StoreError where error.code == .conflict {
                            continue
                        }
                    }
                    return written
                }
            }
            return try await group.reduce(0, +)
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

/// The store on our engine in this process (no sockets), while the same engine also listens on
/// loopback so other clients of the test can reach it.
enum InProcessFixture {
    static func with<T>(_ body: (StoreFixture) async throws -> T) async throws -> T {
        let embedded = try await EmbeddedServer.start()
        let server = RunningServer(kind: .embedded, port: embedded.port, zone: embedded.zone, key: embedded.key, stop: { await embedded.stop() })
        do {
            let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: embedded.port))
            let transport = CountingTransport(LocalTransport(authority: embedded.server.authority), client: client)
            let store = try DocumentStore(configuration: StoreConfiguration(domain: embedded.zone), transport: transport)
            let result = try await body(StoreFixture(server: server, store: store, transport: transport))
            await client.shutdown()
            await embedded.stop()
            return result
        } catch {
            await embedded.stop()
            throw error
        }
    }
}

/// The store on a Route 53 hosted zone: moto's server behind the proxy that refuses what AWS
/// refuses, on loopback.
enum Route53Fixture {
    static func with<T>(_ body: (StoreFixture) async throws -> T) async throws -> T {
        let double = try await Route53Double.start()
        defer { double.stop() }
        let zone: DNSName = "example.test."
        let (client, hostedZone) = try await double.hostedZone(zone)
        let connect: @Sendable (TSIGKey?) throws -> (DocumentStore, CountingTransport) = { _ in
            let transport = CountingTransport(try Route53Transport(client: client, hostedZone: hostedZone, zone: zone), client: nil)
            var configuration = StoreConfiguration(domain: zone)
            Route53Transport.fit(&configuration)
            return (try DocumentStore(configuration: configuration, transport: transport), transport)
        }
        let (store, transport) = try connect(nil)
        return try await body(StoreFixture(server: nil, store: store, transport: transport, connect: connect))
    }
}

/// Checks that `body` fails with a store error of `code` about `path` (and, for a lost
/// compare-and-swap, the versions): the typed context programs rely on, not the wording.
func expectStoreError<T>(
    _ code: StoreError.Code, path: String, expected: Int? = nil, actual: Int? = nil,
    sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
) async {
    do {
        _ = try await body()
        Issue.record("expected \(code) about '\(path)', but it succeeded", sourceLocation: sourceLocation)
    } catch let error as StoreError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(error.path == path, "\(error)", sourceLocation: sourceLocation)
        #expect(error.expectedVersion == expected, "\(error)", sourceLocation: sourceLocation)
        #expect(error.actualVersion == actual, "\(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a store error \(code), got \(error)", sourceLocation: sourceLocation)
    }
}

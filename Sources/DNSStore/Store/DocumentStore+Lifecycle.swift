import DNSClient
import DNSWire
import Logging
import NIOCore
import ServiceLifecycle

extension DocumentStore: Service {
    /// Runs until the service group shuts down gracefully (SIGTERM, say) or the task is
    /// cancelled, then shuts the store down: so a program runs its store the way it runs
    /// postgres-nio's `PostgresClient`, in its `ServiceGroup`.
    public func run() async throws {
        try? await gracefulShutdown()
        await shutdown()
    }

    /// Releases what the store opened itself: the clients of the convenience initializers, the
    /// engine and data file of `DocumentStore.embedded` (in DNSStoreEmbedded).
    /// Transports passed in stay open unless the store was told it owns them. Every call after
    /// the first does nothing. Nothing may be sent through the store after it.
    public func shutdown() async {
        guard isShutDown.withLock({ done in defer { done = true }; return !done }) else { return }
        guard ownsTransports else { return }
        await transport.shutdown()
        for server in replicas?.servers ?? [] { await server.transport.shutdown() }
    }
}

extension DocumentStore {
    /// A store on DNS servers named by host name or address (`"primary.internal:53"`,
    /// `"10.0.0.1"`, `"[::1]:5353"`; port 53 unless given), resolved here and again when they
    /// stop answering or every 30 s (`DNSClientConfiguration.serverNames`), with the
    /// configuration's logger, encryption keys and consistency. Writes go to `primaries` in order,
    /// signed with `key`; reads go to `readServers` as the consistency allows (the primaries when
    /// there are none). `timeout` and `attempts` bound each request to the primaries; a read
    /// server gets one try of `readTimeout` before the next is asked.
    public convenience init(
        configuration: StoreConfiguration, primaries: [String], readServers: [String] = [], key: TSIGKey?,
        timeout: Duration = .seconds(2), attempts: Int = 3, readTimeout: Duration = .milliseconds(700)
    ) throws {
        guard !primaries.isEmpty else { throw StoreError.unreachable("no primary given: a store needs a server to write to") }
        var primary = DNSClientConfiguration(servers: try primaries.flatMap(Self.resolve), key: key)
        primary.serverNames = primaries
        primary.timeout = timeout
        primary.attempts = attempts
        if let shared = configuration.serverHealth { primary.health = shared }
        let readers = try readServers.map { name in
            (transport: Self.readClient(try Self.resolve(name), timeout: readTimeout, names: [name]) as any StoreTransport, name: name)
        }
        try self.init(
            configuration: configuration, transport: DNSClient(configuration: primary), readServers: readers, ownsTransports: true)
    }

    /// A server of the configuration, resolved: every address of a host name.
    static func resolve(_ server: String) throws -> [SocketAddress] {
        do {
            return try ServerAddress.resolve(server)
        } catch {
            throw StoreError.unreachable("server '\(server)': \(error)")
        }
    }
}

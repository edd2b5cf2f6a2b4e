import DNSWire
import NIOCore

/// How a `DNSClient` reaches its servers.
public struct DNSClientConfiguration: Sendable {
    /// Servers in order of preference; a request that times out moves on to the next.
    public var servers: [SocketAddress]
    /// Counts what this client sends and receives, when set (`TrafficCount`).
    public var traffic: TrafficCount?
    /// Time allowed for one attempt.
    public var timeout: Duration = .seconds(2)
    /// Attempts per request, across servers.
    public var attempts: Int = 3
    /// Pause before the second attempt, doubled for each one after.
    public var backoff: Duration = .milliseconds(50)
    /// Key that signs every request and must sign every response.
    public var key: TSIGKey?
    /// UDP payload size advertised with EDNS0; 1232 avoids IP fragmentation.
    public var payloadSize: UInt16 = EDNS.defaultPayloadSize
    /// Requests a UDP socket carries before it is replaced by one on a new random port.
    public var udpSocketReuseLimit = 1024
    /// Send everything over TCP instead of UDP first.
    public var alwaysTCP = false
    /// TSIG fudge in seconds.
    public var fudge: UInt16 = TSIGSigner.defaultFudge
    /// Seconds since the epoch for TSIG's time signed and its checks; the system clock unless replaced.
    public var clock: @Sendable () -> UInt64 = { WallClock.seconds() }
    /// Which servers failed lately: they are tried after the others while they rest, so a dead
    /// server costs a client's first request, not every one. Each configuration has one of its
    /// own (shared by its copies); set one to share it with other clients (the command line keeps
    /// it between commands), or nil to try the servers in their order every time.
    public var health: ServerHealth? = ServerHealth()
    /// The servers as named (`host[:port]`), when `servers` came from names: the client resolves
    /// them again when no address it has answers a request (at most once a second), and in the
    /// background every `reresolveInterval`, so a server that moves to new addresses (a container
    /// started again, a name pointed elsewhere) is found without restarting the program.
    public var serverNames: [String] = []
    /// How often names are resolved again while everything answers.
    public var reresolveInterval: Duration = .seconds(30)
    /// How a name becomes addresses: `ServerAddress.resolve` (getaddrinfo) unless replaced.
    public var resolver: @Sendable (String) throws -> [SocketAddress] = { try ServerAddress.resolve($0) }

    /// Servers to ask, in order of preference, signing with `key` when given.
    public init(servers: [SocketAddress], key: TSIGKey? = nil) {
        self.servers = servers
        self.key = key
    }

    /// Servers named `host[:port]` (or addresses), resolved now and again later (`serverNames`).
    public init(serverNames: [String], key: TSIGKey? = nil) throws(ServerAddress.Failure) {
        var servers: [SocketAddress] = []
        for name in serverNames { servers += try ServerAddress.resolve(name) }
        self.init(servers: servers, key: key)
        self.serverNames = serverNames
    }

    /// One server at `host` (an IP address) and `port`.
    public init(host: String, port: Int, key: TSIGKey? = nil) throws {
        self.init(servers: [try SocketAddress(ipAddress: host, port: port)], key: key)
    }
}

extension Duration {
    package var timeAmount: TimeAmount {
        let (seconds, attoseconds) = components
        return .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}


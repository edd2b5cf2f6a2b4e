import DNSWire
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Puts an `Authority` on the network: UDP, and TCP with RFC 7766 framing and pipelining. What
/// the authority answers at once is answered where the request arrived (a UDP socket's own
/// thread, or a TCP connection's event loop); its blocking work (UPDATEs, transfers) runs on a
/// thread pool. Every TCP connection is bounded in what it may hold and for
/// how long (`TCPLimits`), and so is the number of connections.
public final class NetworkServer: Sendable {
    /// The engine the sockets feed.
    public let authority: Authority
    /// The UDP sockets, one per event loop of the group, sharing the port.
    private let udp: UDPSockets
    /// The listening TCP socket.
    public let tcpChannel: any Channel
    let slots: ConnectionSlots

    /// What the sockets may hold at once.
    public struct Limits: Sendable {
        /// TCP connections open at once; past it, the one idle longest is closed for a new one.
        public var maxTCPConnections = 256
        /// What each TCP connection may hold and for how long.
        public var tcp = TCPLimits()
        /// The defaults.
        public init() {}
    }

    /// The address actually bound (useful with port 0).
    public var localAddress: SocketAddress? { tcpChannel.localAddress }

    /// TCP connections open now.
    public var tcpConnections: Int { slots.count }

    private init(authority: Authority, udp: UDPSockets, tcp: any Channel, slots: ConnectionSlots) {
        self.authority = authority
        self.udp = udp
        self.tcpChannel = tcp
        self.slots = slots
    }

    /// Binds UDP and TCP on `host`:`port` (port 0: the same free port for both).
    public static func start(
        _ authority: Authority, host: String, port: Int, limits: Limits = Limits(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> NetworkServer {
        let pool = NIOThreadPool.singleton
        if port != 0 {
            // UDP first: whoever sees TCP accept (a harness waiting for the server, say) finds UDP
            // answering too.
            let udp = try await UDPSockets.bind(authority, host: host, port: port, pool: pool, group: group)
            let slots = ConnectionSlots(limit: limits.maxTCPConnections)
            let tcp: any Channel
            do {
                tcp = try await bindTCP(authority, host: host, port: port, limits: limits, slots: slots, pool: pool, group: group)
            } catch {
                await udp.close()
                throw error
            }
            authority.startExpiringLeases()
            return NetworkServer(authority: authority, udp: udp, tcp: tcp, slots: slots)
        }
        // Port 0: TCP picks a free port, and UDP takes the same one when it can.
        var boundPort = port
        var attempt = 0
        while true {
            attempt += 1
            let slots = ConnectionSlots(limit: limits.maxTCPConnections)
            let tcp: any Channel
            do {
                tcp = try await bindTCP(authority, host: host, port: boundPort, limits: limits, slots: slots, pool: pool, group: group)
            } catch where attempt < 20 && port == 0 {
                continue
            }
            boundPort = tcp.localAddress?.port ?? boundPort
            do {
                // One UDP socket per event loop on the same port (SO_REUSEPORT): the kernel spreads
                // queries across them, so every core answers.
                let udp = try await UDPSockets.bind(authority, host: host, port: boundPort, pool: pool, group: group)
                // A server that stays up deletes names whose lease (RFC 9664) ended.
                authority.startExpiringLeases()
                return NetworkServer(authority: authority, udp: udp, tcp: tcp, slots: slots)
            } catch where port == 0 && attempt < 20 {
                try? await tcp.close()
                boundPort = 0
                continue
            }
        }
    }

    private static func bindTCP(
        _ authority: Authority, host: String, port: Int, limits: Limits, slots: ConnectionSlots, pool: NIOThreadPool,
        group: any EventLoopGroup
    ) async throws -> any Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard slots.admit(channel, now: .now()) else { throw ConnectionLimitReached() }
                    channel.closeFuture.whenComplete { _ in slots.leave(channel) }
                    try channel.pipeline.syncOperations.addHandler(
                        TCPSessionHandler(authority: authority, pool: pool, limits: limits.tcp, slots: slots))
                }
            }
            .bind(host: host, port: port)
            .get()
    }

    /// Stops listening, then shuts the authority down.
    public func close() async {
        await udp.close()
        try? await tcpChannel.close()
        await authority.shutdown()
    }
}

struct ConnectionLimitReached: Error {}

import DNSWire
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Puts an `Authority` on the network: UDP, and TCP with RFC 7766 framing, several requests per
/// connection, an idle timeout and a cap on connections. Queries are answered on the event loop;
/// UPDATEs and transfers, which touch the disk, run on a thread pool.
public final class NetworkServer: Sendable {
    public let authority: Authority
    public let udpChannels: [any Channel]
    public let tcpChannel: any Channel

    public struct Limits: Sendable {
        public var maxTCPConnections = 256
        public var tcpIdleTimeout: TimeAmount = .seconds(30)
        public init() {}
    }

    /// The address actually bound (useful with port 0).
    public var localAddress: SocketAddress? { tcpChannel.localAddress }

    private init(authority: Authority, udp: [any Channel], tcp: any Channel) {
        self.authority = authority
        self.udpChannels = udp
        self.tcpChannel = tcp
    }

    /// Binds UDP and TCP on `host`:`port` (port 0: the same free port for both).
    public static func start(
        _ authority: Authority, host: String, port: Int, limits: Limits = Limits(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async throws -> NetworkServer {
        let pool = NIOThreadPool.singleton
        var boundPort = port
        var attempt = 0
        while true {
            attempt += 1
            let tcp: any Channel
            do {
                tcp = try await bindTCP(authority, host: host, port: boundPort, limits: limits, pool: pool, group: group)
            } catch where attempt < 20 && port == 0 {
                continue
            }
            boundPort = tcp.localAddress?.port ?? boundPort
            do {
                // One UDP socket per event loop on the same port (SO_REUSEPORT): the kernel spreads
                // queries across them, so every core answers.
                var udp: [any Channel] = []
                for loop in group.makeIterator() {
                    udp.append(
                        try await DatagramBootstrap(group: loop)
                            .channelOption(.socketOption(.so_reuseaddr), value: 1)
                            .channelOption(ChannelOptions.Types.SocketOption(level: .socket, name: .init(rawValue: SO_REUSEPORT)), value: 1)
                            // A deep receive queue rides out bursts (floods of junk included) without
                            // dropping the valid queries behind them; the kernel caps it at rmem_max.
                            .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
                            .channelInitializer { channel in
                                channel.eventLoop.makeCompletedFuture {
                                    try channel.pipeline.syncOperations.addHandler(UDPRequestHandler(authority: authority, pool: pool))
                                }
                            }
                            .bind(host: host, port: boundPort)
                            .get())
                }
                return NetworkServer(authority: authority, udp: udp, tcp: tcp)
            } catch where port == 0 && attempt < 20 {
                try? await tcp.close()
                boundPort = 0
                continue
            }
        }
    }

    private static func bindTCP(
        _ authority: Authority, host: String, port: Int, limits: Limits, pool: NIOThreadPool, group: any EventLoopGroup
    ) async throws -> any Channel {
        let counter = ConnectionCounter()
        return try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard counter.enter(limit: limits.maxTCPConnections) else {
                        throw ConnectionLimitReached()
                    }
                    channel.closeFuture.whenComplete { _ in counter.leave() }
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(IdleStateHandler(allTimeout: limits.tcpIdleTimeout))
                    try sync.addHandler(ByteToMessageHandler(DNSFrameDecoder()))
                    try sync.addHandler(TCPRequestHandler(authority: authority, pool: pool))
                }
            }
            .bind(host: host, port: port)
            .get()
    }

    public func close() async {
        for channel in udpChannels { try? await channel.close() }
        try? await tcpChannel.close()
    }
}

struct ConnectionLimitReached: Error {}

/// Open TCP connections, so a flood of them cannot exhaust the server.
final class ConnectionCounter: Sendable {
    private let count = Atomic<Int>(0)
    func enter(limit: Int) -> Bool {
        let now = count.wrappingAdd(1, ordering: .relaxed).newValue
        if now > limit {
            count.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }
    func leave() { count.wrappingSubtract(1, ordering: .relaxed) }
}

/// Whether a request must leave the event loop: UPDATEs wait for the disk and transfers send many
/// messages; plain queries are answered from memory where they arrive.
func needsPool(_ request: ByteBuffer) -> Bool {
    let start = request.readerIndex
    guard let flags = request.getInteger(at: start + 2, as: UInt16.self) else { return false }
    if (flags >> 11) & 0x0F != 0 { return true }
    // The first question's type, after its name (uncompressed in any sane query).
    var offset = start + 12
    while let length = request.getInteger(at: offset, as: UInt8.self), length != 0 {
        guard length & 0xC0 == 0 else { return false }
        offset += 1 + Int(length)
    }
    guard let type = request.getInteger(at: offset + 1, as: UInt16.self) else { return false }
    return type == RRType.axfr.rawValue || type == RRType.ixfr.rawValue
}

final class UDPRequestHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    let authority: Authority
    let pool: NIOThreadPool

    init(authority: Authority, pool: NIOThreadPool) {
        self.authority = authority
        self.pool = pool
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let request = envelope.data
        if needsPool(request) {
            let channel = context.channel
            let authority = self.authority
            pool.runIfActive(eventLoop: context.eventLoop) { authority.handle(request, over: .udp) }
                .whenSuccess { answers in
                    for answer in answers {
                        channel.write(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: answer), promise: nil)
                    }
                    channel.flush()
                }
            return
        }
        for answer in authority.handle(request, over: .udp) {
            context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: answer)), promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A UDP socket sees ICMP errors for answers to vanished clients; they concern no one.
    }
}

final class TCPRequestHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let authority: Authority
    let pool: NIOThreadPool

    init(authority: Authority, pool: NIOThreadPool) {
        self.authority = authority
        self.pool = pool
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let request = unwrapInboundIn(data)
        guard needsPool(request) else {
            for answer in authority.handle(request, over: .tcp) {
                context.write(wrapOutboundOut(answer.framedForTCP()), promise: nil)
            }
            return
        }
        let channel = context.channel
        let authority = self.authority
        pool.runIfActive(eventLoop: context.eventLoop) { authority.handle(request, over: .tcp) }
            .whenSuccess { answers in
                for answer in answers { channel.write(answer.framedForTCP(), promise: nil) }
                channel.flush()
            }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

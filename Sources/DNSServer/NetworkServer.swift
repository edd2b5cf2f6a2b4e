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
    public let udpChannel: any Channel
    public let tcpChannel: any Channel

    public struct Limits: Sendable {
        public var maxTCPConnections = 256
        public var tcpIdleTimeout: TimeAmount = .seconds(30)
        public init() {}
    }

    /// The address actually bound (useful with port 0).
    public var localAddress: SocketAddress? { udpChannel.localAddress }

    private init(authority: Authority, udp: any Channel, tcp: any Channel) {
        self.authority = authority
        self.udpChannel = udp
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
                let udp = try await DatagramBootstrap(group: group)
                    .channelOption(.socketOption(.so_reuseaddr), value: 1)
                    // A deep receive queue rides out bursts (floods of junk included) without
                    // dropping the valid queries behind them; the kernel caps it at rmem_max.
                    .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            try channel.pipeline.syncOperations.addHandler(UDPRequestHandler(authority: authority, pool: pool))
                        }
                    }
                    .bind(host: host, port: boundPort)
                    .get()
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
        let connections = Atomic<Int>(0)
        let counter = ConnectionCounter(connections)
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
                    try sync.addHandler(ByteToMessageHandler(TCPFrameDecoder()))
                    try sync.addHandler(TCPRequestHandler(authority: authority, pool: pool))
                }
            }
            .bind(host: host, port: port)
            .get()
    }

    public func close() async {
        try? await udpChannel.close()
        try? await tcpChannel.close()
    }
}

struct ConnectionLimitReached: Error {}

final class ConnectionCounter: Sendable {
    private let count: Atomic<Int>
    init(_ count: consuming Atomic<Int>) { self.count = Atomic(0) }
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

/// Whether a request must leave the event loop: anything but a plain QUERY may write to disk or
/// produce many messages.
func needsPool(_ request: ByteBuffer) -> Bool {
    guard let flags = request.getInteger(at: request.readerIndex + 2, as: UInt16.self) else { return false }
    let opcode = (flags >> 11) & 0x0F
    if opcode != 0 { return true }
    // AXFR and IXFR: the question type after the first name. Cheap check: scan for it only on TCP.
    return false
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

/// Length-prefixed frames (RFC 7766); a frame larger than a DNS message cannot occur.
struct TCPFrameDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
            buffer.readableBytes >= 2 + Int(length)
        else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(length))!))
        return .continue
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
        let channel = context.channel
        let authority = self.authority
        // Over TCP everything may be a transfer; the pool keeps the loop free for other connections.
        pool.runIfActive(eventLoop: context.eventLoop) { authority.handle(request, over: .tcp) }
            .whenSuccess { answers in
                for answer in answers {
                    var framed = ByteBuffer()
                    framed.writeInteger(UInt16(answer.readableBytes))
                    framed.writeImmutableBuffer(answer)
                    channel.write(framed, promise: nil)
                }
                channel.flush()
            }
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

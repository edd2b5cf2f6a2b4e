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

/// The server's UDP sockets: on Linux each with a thread of its own and batched system calls
/// (`UDPListener`), elsewhere SwiftNIO datagram channels.
struct UDPSockets: Sendable {
    #if os(Linux)
        let listeners: [UDPListener]
    #else
        let channels: [any Channel]
    #endif

    static func bind(
        _ authority: Authority, host: String, port: Int, pool: NIOThreadPool, group: any EventLoopGroup
    ) async throws -> UDPSockets {
        #if os(Linux)
            let count = Array(group.makeIterator()).count
            let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
            var listeners: [UDPListener] = []
            do {
                for i in 0..<count {
                    listeners.append(try UDPListener(authority, address: address, pool: pool, name: "dnsstore-udp-\(i)"))
                }
            } catch {
                for listener in listeners { await listener.stop() }
                throw error
            }
            return UDPSockets(listeners: listeners)
        #else
            var channels: [any Channel] = []
            for loop in group.makeIterator() {
                channels.append(
                    try await DatagramBootstrap(group: loop)
                        .channelOption(.socketOption(.so_reuseaddr), value: 1)
                        .channelOption(ChannelOptions.Types.SocketOption(level: .socket, name: .init(rawValue: SO_REUSEPORT)), value: 1)
                        .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
                        .channelOption(.datagramVectorReadMessageCount, value: UDPRequestHandler.readBatch)
                        .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: UDPRequestHandler.readBatch * UDPRequestHandler.slot))
                        .channelInitializer { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHandler(UDPRequestHandler(authority: authority, pool: pool))
                            }
                        }
                        .bind(host: host, port: port)
                        .get())
            }
            return UDPSockets(channels: channels)
        #endif
    }

    func close() async {
        #if os(Linux)
            for listener in listeners { await listener.stop() }
        #else
            for channel in channels { try? await channel.close() }
        #endif
    }
}

#if !os(Linux)
final class UDPRequestHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    let authority: Authority
    let pool: NIOThreadPool

    init(authority: Authority, pool: NIOThreadPool) {
        self.authority = authority
        self.pool = pool
    }

    /// Datagrams read per system call (recvmmsg), each into a slot that holds the largest.
    static let readBatch = 32
    static let slot = 65_536

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let remote = envelope.remoteAddress
        // Most queries were asked before: answered from where the datagram lies.
        if let answer = authority.preparedAnswer(envelope.data, over: .udp) {
            context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: remote, data: answer)), promise: nil)
            return
        }
        // The datagram is a slice of the shared read buffer: copied, so that work that keeps it
        // does not keep the whole buffer, and the channel can read into that buffer again.
        var request = context.channel.allocator.buffer(capacity: envelope.data.readableBytes)
        request.writeImmutableBuffer(envelope.data)
        switch authority.receive(request, over: .udp) {
        case .answered(let answers):
            for answer in answers {
                context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: remote, data: answer)), promise: nil)
            }
        case .work(let work):
            let channel = context.channel
            // Over UDP all answers fit in one step (transfers of more are refused over UDP).
            pool.runIfActive(eventLoop: context.eventLoop) { work.runToEnd() }
                .whenComplete { result in
                    guard case .success(let answers) = result else { return work.abandon() }
                    for answer in answers {
                        channel.write(AddressedEnvelope(remoteAddress: remote, data: answer), promise: nil)
                    }
                    channel.flush()
                }
        case .deferred(let work):
            let channel = context.channel
            work.start(on: pool) { answers in
                guard !answers.isEmpty else { return }
                channel.eventLoop.execute {
                    for answer in answers { channel.write(AddressedEnvelope(remoteAddress: remote, data: answer), promise: nil) }
                    channel.flush()
                }
            }
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A UDP socket sees ICMP errors for answers to vanished clients; they concern no one.
    }
}
#endif

/// One TCP connection: feeds `TCPSessionState` and does what it says. It reads from the socket
/// only while the session wants input, which is how a client that sends faster than it reads is
/// slowed down to the pace of its own reading.
final class TCPSessionHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let authority: Authority
    private let pool: NIOThreadPool
    private let slots: ConnectionSlots
    private var state: TCPSessionState
    private var readPending = false
    private var timer: RepeatedTask?
    /// Steps of work waiting for the socket to take more.
    private var waitingWork: [BlockingWork] = []

    init(authority: Authority, pool: NIOThreadPool, limits: TCPLimits, slots: ConnectionSlots) {
        self.authority = authority
        self.pool = pool
        self.slots = slots
        self.state = TCPSessionState(limits: limits, now: .now())
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleRepeatedTask(initialDelay: state.limits.tick, delay: state.limits.tick) { _ in
            let (handler, context) = bound.value
            guard handler.state.mayBeIdle(now: .now()) else { return handler.closeIfExpired(context) }
            KernelSendQueue.holdsOutput(context.channel) { holds in
                let (handler, context) = bound.value
                handler.state.kernelQueue(holdsOutput: holds, now: .now())
                handler.closeIfExpired(context)
            }
        }
    }

    private func closeIfExpired(_ context: ChannelHandlerContext) {
        let now = NIODeadline.now()
        defer { state.look(now: now) }
        if let reason = state.expired(now: now) {
            authority.logger.debug("closing a TCP connection", metadata: ["reason": "\(reason)"])
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        state.received(unwrapInboundIn(data), now: .now())
        process(context)
    }

    /// Starts every request the session allows, then reads on if it wants more.
    private func process(_ context: ChannelHandlerContext) {
        while let message = state.nextMessage(now: .now()) {
            switch authority.receive(message, over: .tcp) {
            case .answered(let answers):
                for answer in answers { context.write(wrapOutboundOut(answer.framedForTCP()), promise: nil) }
                state.wrote(now: .now())
            case .work(let work):
                state.started()
                run(work, context)
            case .deferred(let work):
                state.started()
                let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
                let loop = context.eventLoop
                work.start(on: pool) { answers in
                    loop.execute {
                        let (handler, context) = bound.value
                        handler.finished(answers, context)
                    }
                }
            }
        }
        context.flush()
        slots.mark(context.channel, idle: state.isIdle, now: .now())
        if readPending && state.wantsInput {
            readPending = false
            context.read()
        }
    }

    /// Runs one step of admitted work on the pool, writes its answers, and runs the next step only
    /// once the socket takes more: the work goes at the pace of the client's reading.
    private func run(_ work: BlockingWork, _ context: ChannelHandlerContext) {
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        pool.runIfActive(eventLoop: context.eventLoop) { work.run() }
            .whenComplete { result in
                let (handler, context) = bound.value
                guard case .success(let step) = result else {
                    work.abandon()  // never ran: its place is still held
                    handler.state.finished(now: .now())
                    return
                }
                guard context.channel.isActive else {
                    step.next?.abandon()
                    handler.state.finished(now: .now())
                    return
                }
                for answer in step.answers { context.write(handler.wrapOutboundOut(answer.framedForTCP()), promise: nil) }
                context.flush()
                handler.state.wrote(now: .now())
                if let next = step.next {
                    if context.channel.isWritable {
                        handler.run(next, context)
                    } else {
                        handler.waitingWork.append(next)
                    }
                } else {
                    handler.state.finished(now: .now())
                    handler.process(context)
                }
            }
    }

    /// Writes the answers of deferred work, then goes on with the connection's requests.
    private func finished(_ answers: [ByteBuffer], _ context: ChannelHandlerContext) {
        guard context.channel.isActive else { return state.finished(now: .now()) }
        for answer in answers { context.write(wrapOutboundOut(answer.framedForTCP()), promise: nil) }
        context.flush()
        state.wrote(now: .now())
        state.finished(now: .now())
        process(context)
    }

    func read(context: ChannelHandlerContext) {
        if state.wantsInput {
            context.read()
        } else {
            readPending = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        state.writabilityChanged(writable: context.channel.isWritable, now: .now())
        if context.channel.isWritable {
            let resumed = waitingWork
            waitingWork = []
            for work in resumed { run(work, context) }
            process(context)
        }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        for work in waitingWork { work.abandon() }
        waitingWork = []
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

/// Whether a TCP socket's kernel send queue still holds answers the client has not taken: read
/// from TCP_INFO, whose `tcpi_unacked` and `tcpi_notsent_bytes` (Linux 4.6 and later, at octet
/// 144) say so. NIO's `tcp_info` type stops before the latter, so the structure is read whole.
enum KernelSendQueue {
    struct Info: Sendable {
        var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64,
                    UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
    }

    /// Calls `then` on the channel's event loop with the answer (false when it cannot be told).
    static func holdsOutput(_ channel: any Channel, then: @escaping @Sendable (Bool) -> Void) {
        #if os(Linux)
            guard let provider = channel as? SocketOptionProvider else { return then(false) }
            let future: EventLoopFuture<Info> = provider.unsafeGetSocketOption(
                level: .init(rawValue: CInt(IPPROTO_TCP)), name: .init(rawValue: CInt(TCP_INFO)))
            future.whenComplete { result in
                guard case .success(let info) = result else { return then(false) }
                then(withUnsafeBytes(of: info.words) { raw in
                    raw.load(fromByteOffset: 24, as: UInt32.self) > 0 || raw.load(fromByteOffset: 144, as: UInt32.self) > 0
                })
            }
        #else
            then(false)
        #endif
    }
}

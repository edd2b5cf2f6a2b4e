import DNSWire
import Logging
import NIOCore
import NIOPosix
import Synchronization


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
        if let (reason, why) = state.expired(now: now) {
            ServerMetrics.tcpClosed(reason).increment()
            authority.logger.debug("closing a TCP connection", metadata: ["reason": "\(why)"])
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
            switch authority.receive(message, over: .tcp, from: RequestSource(context.channel.remoteAddress)) {
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
                if step.brokeOff {
                    handler.state.finished(now: .now())
                    context.close(promise: nil)
                } else if let next = step.next {
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
        ServerMetrics.tcpClosed(.error).increment()
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

import DNSWire
import NIOCore
import NIOPosix

/// A request handed to a pooled UDP socket. From the moment its socket's multiplexer takes it,
/// the multiplexer alone resumes `answer`, exactly once: with the answer, a timeout or the
/// socket's failure.
struct UDPRequest: Sendable {
    var octets: ByteBuffer
    var server: SocketAddress
    var matcher: ResponseMatcher
    var answer: UnsafeContinuation<(ByteBuffer, Message), any Error>
    var timeout: Duration
}

/// A few UDP sockets connected to one server, one per event loop, each carrying many requests at
/// once and matching answers by ID, source address and question. Being connected, the kernel drops
/// datagrams from elsewhere and reports an unreachable server at once. A socket is retired after
/// `maxUses` requests and replaced by one on a new random port, so the source port keeps changing
/// without paying for a socket per request.
final class UDPSocketPool: Sendable {
    /// An open socket and the multiplexer on it, which requests made on the socket's own thread
    /// are handed to directly rather than through the channel pipeline.
    struct Socket: Sendable {
        let channel: any Channel
        let multiplexer: NIOLoopBound<UDPMultiplexer>
    }

    private struct Slot {
        /// The socket's opening, which concurrent requests share while it is in progress.
        var opening: EventLoopFuture<Socket>
        /// The socket once open: taken without a suspension.
        var ready: Socket?
        var uses: Int
    }

    let server: SocketAddress
    private let group: any EventLoopGroup
    private let slots: Locked<(slots: [Slot?], next: Int)>
    private let maxUses: Int
    /// How long a retired socket stays open for the answers still owed to it.
    private let drainTime: TimeAmount

    init(server: SocketAddress, group: any EventLoopGroup, size: Int, maxUses: Int = 1024, drainTime: Duration) {
        self.server = server
        self.group = group
        self.slots = Locked((Array(repeating: nil, count: max(1, size)), 0))
        self.maxUses = maxUses
        self.drainTime = drainTime.timeAmount + .seconds(1)
    }

    /// Sends `octets` and waits for the datagram `matcher` accepts. The caller's task is resumed
    /// straight from the socket's read, with no future in between: at many requests in flight the
    /// promise, its callback and the write's own future were a third of a request's allocations.
    nonisolated(nonsending) func send(_ octets: ByteBuffer, matcher: ResponseMatcher, timeout: Duration) async throws -> (ByteBuffer, Message) {
        let socket = try await openSocket()
        let server = self.server
        return try await withUnsafeThrowingContinuation { answer in
            let request = UDPRequest(octets: octets, server: server, matcher: matcher, answer: answer, timeout: timeout)
            let channel = socket.channel
            if channel.eventLoop.inEventLoop && channel.isActive {
                // On the socket's own thread an open channel still has its multiplexer (handlers
                // leave the pipeline only after it closes), which takes the request at once.
                socket.multiplexer.value.send(request)
            } else {
                // From elsewhere the write may find the socket closed before the multiplexer sees
                // it; the multiplexer succeeds the write as soon as it takes the request, so a
                // failure here means nobody else will resume it. No flush: the multiplexer flushes
                // once per event-loop turn, so requests sent together leave in one sendmmsg call.
                channel.write(request).whenFailure { error in
                    answer.resume(throwing: DNSError.connection("UDP to \(server.display): \(describeFailure(error))"))
                }
            }
        }
    }

    /// An open socket from the pool, replacing ones that fail to open or were closed under us.
    nonisolated(nonsending) private func openSocket() async throws -> Socket {
        var socket: Socket
        var attempts = 0
        while true {
            let (future, ready) = nextSocket()
            do {
                if let ready {
                    socket = ready
                } else {
                    socket = try await future.get()
                    markReady(future, socket)
                }
            } catch {
                forget(future)
                throw DNSError.connection("cannot open a UDP socket to \(server.display): \(describeFailure(error))")
            }
            if socket.channel.isActive { break }
            // Closed under us (an ICMP error ends a connected socket's requests): open another.
            forget(future)
            attempts += 1
            guard attempts < 3 else { throw DNSError.connection("UDP socket to \(server) keeps closing") }
        }
        return socket
    }

    /// The socket for the next request, slots taken in turn. A slot is opened on first use and
    /// replaced once worn out or closed; only one request does that, the others share the result.
    private func nextSocket() -> (EventLoopFuture<Socket>, Socket?) {
        let (future, ready, retired) = slots.withLock {
            state -> (EventLoopFuture<Socket>, Socket?, EventLoopFuture<Socket>?) in
            let index = state.next
            state.next = (state.next + 1) % state.slots.count
            if var slot = state.slots[index] {
                if slot.uses < maxUses {
                    slot.uses += 1
                    state.slots[index] = slot
                    return (slot.opening, slot.ready, nil)
                }
                let fresh = open()
                state.slots[index] = Slot(opening: fresh, ready: nil, uses: 1)
                return (fresh, nil, slot.opening)
            }
            let fresh = open()
            state.slots[index] = Slot(opening: fresh, ready: nil, uses: 1)
            return (fresh, nil, nil)
        }
        retired?.whenSuccess { old in
            old.channel.eventLoop.scheduleTask(in: self.drainTime) { old.channel.close(promise: nil) }
        }
        return (future, ready)
    }

    private func markReady(_ future: EventLoopFuture<Socket>, _ socket: Socket) {
        slots.withLock { state in
            for i in state.slots.indices where state.slots[i]?.opening === future {
                state.slots[i]?.ready = socket
            }
        }
    }

    /// Empties the slot holding `future`, if it still does, so the next request opens a new socket.
    private func forget(_ future: EventLoopFuture<Socket>) {
        slots.withLock { state in
            for i in state.slots.indices where state.slots[i]?.opening === future {
                state.slots[i] = nil
            }
        }
    }

    private func open() -> EventLoopFuture<Socket> {
        DatagramBootstrap(group: group.next())
            // Read up to `readBatch` datagrams per system call (recvmmsg).
            .channelOption(.datagramVectorReadMessageCount, value: Self.readBatch)
            .channelOption(.maxMessagesPerRead, value: 4)
            .channelOption(
                .recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: Self.readBatch * 65_536 / 8))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(UDPMultiplexer())
                }
            }
            .connect(to: server)
            .flatMapThrowing { channel in
                let multiplexer = try channel.pipeline.syncOperations.handler(type: UDPMultiplexer.self)
                return Socket(channel: channel, multiplexer: NIOLoopBound(multiplexer, eventLoop: channel.eventLoop))
            }
    }

    /// Datagrams read per system call. Eight, not more: SwiftNIO builds an array of that many
    /// envelopes on every read, however few datagrams came, and with 32 its allocation showed in
    /// profiles (the client's CPU per query fell by about a tenth at eight).
    static let readBatch = 8

    func shutdown() async {
        let all = slots.withLock { state in
            defer { state.slots = state.slots.map { _ in nil } }
            return state.slots.compactMap { $0?.opening }
        }
        for future in all { try? await future.get().channel.close() }
    }
}

/// Keeps the requests in flight on one UDP socket and hands each answer to its request.
final class UDPMultiplexer: ChannelDuplexHandler, MultiplexerTiming {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundIn = UDPRequest
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private struct Pending {
        var request: UDPRequest
        var deadline: NIODeadline
    }

    private var pending: [UInt16: Pending] = [:]
    var flushScheduled = false
    var sweep: (task: Scheduled<Void>, deadline: NIODeadline)?
    var deadlines: [(id: UInt16, deadline: NIODeadline)] { pending.map { ($0.key, $0.value.deadline) } }

    /// The handler's place in its pipeline, while it is in one.
    private var context: ChannelHandlerContext?

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        // The request is ours from here on; the write's promise only tells the sender so.
        promise?.succeed()
        send(unwrapOutboundIn(data))
    }

    /// Takes a request: from `write`, or directly from a task on this socket's thread.
    func send(_ request: UDPRequest) {
        guard let context else {
            request.answer.resume(throwing: DNSError.connection("UDP socket closed"))
            return
        }
        let id = request.matcher.id
        guard pending[id] == nil else {
            request.answer.resume(throwing: ClientInternalError.idInUse)
            return
        }
        let deadline = context.eventLoop.now + request.timeout.timeAmount
        pending[id] = Pending(request: request, deadline: deadline)
        watch(deadline, context: context)
        let envelope = AddressedEnvelope(remoteAddress: request.server, data: request.octets)
        // A send the kernel refuses outright closes the socket, which fails every request on it
        // (`channelInactive`); one it refuses as unreachable is left to the request's timeout.
        context.write(wrapOutboundOut(envelope), promise: nil)
        flushAtEndOfTurn(context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let id = Message.peekID(envelope.data), let entry = pending[id],
            entry.request.server == envelope.remoteAddress
        else { return }
        switch entry.request.matcher.check(envelope.data) {
        case .unrelated: return
        case .malformed(let error): finish(id: id, with: DNSError.malformedResponse(error))
        case .matches(let message):
            pending[id] = nil
            entry.request.answer.resume(returning: (envelope.data, message))
        }
    }

    private func finish(id: UInt16, with error: any Error) {
        guard let entry = pending.removeValue(forKey: id) else { return }
        entry.request.answer.resume(throwing: error)
    }

    func timedOut(_ id: UInt16) { finish(id: id, with: DNSError.timeout) }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // On a connected socket, an ICMP error (nothing listens there) concerns every request on it.
        let all = pending
        pending = [:]
        stopWatching()
        for entry in all.values {
            entry.request.answer.resume(throwing: DNSError.connection("UDP to \(entry.request.server.display): \(describeFailure(error))"))
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let all = pending
        pending = [:]
        stopWatching()
        for entry in all.values {
            entry.request.answer.resume(throwing: DNSError.connection("UDP socket closed"))
        }
        context.fireChannelInactive()
    }
}

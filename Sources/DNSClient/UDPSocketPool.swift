import DNSWire
import NIOCore
import NIOPosix
import Synchronization

/// A request handed to a pooled UDP socket.
struct UDPRequest: Sendable {
    var octets: ByteBuffer
    var server: SocketAddress
    var matcher: ResponseMatcher
    var promise: EventLoopPromise<(ByteBuffer, Message)>
    var timeout: Duration
}

/// A few UDP sockets connected to one server, one per event loop, each carrying many requests at
/// once and matching answers by ID, source address and question. Being connected, the kernel drops
/// datagrams from elsewhere and reports an unreachable server at once. A socket is retired after
/// `maxUses` requests and replaced by one on a new random port, so the source port keeps changing
/// without paying for a socket per request.
final class UDPSocketPool: Sendable {
    private struct Slot {
        var channel: any Channel
        var uses: Int
    }

    let server: SocketAddress
    private let group: any EventLoopGroup
    private let slots: Mutex<[Slot?]>
    private let maxUses: Int
    /// How long a retired socket stays open for the answers still owed to it.
    private let drainTime: TimeAmount

    init(server: SocketAddress, group: any EventLoopGroup, size: Int, maxUses: Int = 1024, drainTime: Duration) {
        self.server = server
        self.group = group
        self.slots = Mutex(Array(repeating: nil, count: max(1, size)))
        self.maxUses = maxUses
        self.drainTime = drainTime.timeAmount + .seconds(1)
    }

    func send(_ request: UDPRequest) async throws -> (ByteBuffer, Message) {
        let channel = try await channel()
        channel.writeAndFlush(request).whenFailure { error in
            request.promise.fail(DNSError.connection("UDP send to \(request.server): \(error)"))
        }
        return try await request.promise.futureResult.get()
    }

    /// A socket for the next request: a random slot, opened or replaced when needed.
    private func channel() async throws -> any Channel {
        let index = Int.random(in: 0..<slots.withLock { $0.count })
        let reuse: (any Channel)? = slots.withLock { slots in
            guard var slot = slots[index], slot.channel.isActive, slot.uses < maxUses else { return nil }
            slot.uses += 1
            slots[index] = slot
            return slot.channel
        }
        if let reuse { return reuse }
        let fresh = try await open()
        let retired: (any Channel)? = slots.withLock { slots in
            let old = slots[index]?.channel
            slots[index] = Slot(channel: fresh, uses: 1)
            return old
        }
        if let retired {
            retired.eventLoop.scheduleTask(in: drainTime) { retired.close(promise: nil) }
        }
        return fresh
    }

    private func open() async throws -> any Channel {
        do {
            return try await DatagramBootstrap(group: group.next())
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(UDPMultiplexer())
                    }
                }
                .connect(to: server)
                .get()
        } catch {
            throw DNSError.connection("cannot open a UDP socket to \(server): \(error)")
        }
    }

    func shutdown() async {
        let all = slots.withLock { slots in
            defer { slots = slots.map { _ in nil } }
            return slots.compactMap { $0?.channel }
        }
        for channel in all { try? await channel.close() }
    }
}

/// Keeps the requests in flight on one UDP socket and hands each answer to its request.
final class UDPMultiplexer: ChannelDuplexHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundIn = UDPRequest
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private struct Pending {
        var request: UDPRequest
        var timer: Scheduled<Void>
    }

    private var pending: [UInt16: Pending] = [:]

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        let id = request.matcher.id
        guard pending[id] == nil else {
            request.promise.fail(ClientInternalError.idInUse)
            promise?.succeed()
            return
        }
        let bound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let timer = context.eventLoop.scheduleTask(in: request.timeout.timeAmount) {
            bound.value.finish(id: id, with: DNSError.timeout)
        }
        pending[id] = Pending(request: request, timer: timer)
        let envelope = AddressedEnvelope(remoteAddress: request.server, data: request.octets)
        context.write(wrapOutboundOut(envelope), promise: promise)
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
            entry.timer.cancel()
            entry.request.promise.succeed((envelope.data, message))
        }
    }

    private func finish(id: UInt16, with error: any Error) {
        guard let entry = pending.removeValue(forKey: id) else { return }
        entry.timer.cancel()
        entry.request.promise.fail(error)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // On a connected socket, an ICMP error (nothing listens there) concerns every request on it.
        let all = pending
        pending = [:]
        for entry in all.values {
            entry.timer.cancel()
            entry.request.promise.fail(DNSError.connection("UDP: \(error)"))
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        let all = pending
        pending = [:]
        for entry in all.values {
            entry.timer.cancel()
            entry.request.promise.fail(DNSError.connection("UDP socket closed"))
        }
        context.fireChannelInactive()
    }
}

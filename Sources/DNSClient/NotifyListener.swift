import DNSWire
import NIOCore
import NIOPosix

/// Listens for NOTIFY (RFC 1996) on a UDP address and acknowledges it, so that whoever follows a
/// zone (a watch) learns of a change at once instead of at its next look.
public final class NotifyListener: Sendable {
    private struct Waiter {
        var id: Int
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        /// Zones notified since their last wait returned.
        var pending: Set<DNSName> = []
        var waiters: [DNSName: [Waiter]] = [:]
        var nextID = 0
    }

    private let state = Locked(State())
    private let channel = Locked<(any Channel)?>(nil)
    private let count = Locked(0)

    /// NOTIFYs received and acknowledged so far.
    public var notificationsReceived: Int { count.withLock { $0 } }

    private init() {}

    /// Binds `host`:`port` (port 0: any free port) and starts listening.
    public static func start(host: String, port: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws
        -> NotifyListener
    {
        let listener = NotifyListener()
        let channel = try await DatagramBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Handler(listener: listener))
                }
            }
            .bind(host: host, port: port)
            .get()
        listener.channel.withLock { $0 = channel }
        return listener
    }

    /// Where it listens.
    public var localAddress: SocketAddress? { channel.withLock { $0?.localAddress } }

    /// Returns when a NOTIFY for `zone` arrives (or arrived since the last wait), or after `timeout`.
    public func wait(for zone: DNSName, upTo timeout: Duration) async {
        if state.withLock({ $0.pending.remove(zone) != nil }) { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.notification(for: zone) }
            await group.next()
            group.cancelAll()
        }
        _ = state.withLock { $0.pending.remove(zone) }
    }

    private func notification(for zone: DNSName) async {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending.contains(zone) || Task.isCancelled { return true }
                    state.waiters[zone, default: []].append(Waiter(id: id, continuation: continuation))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters[zone]?.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters[zone]?.remove(at: index)
            }
            waiter?.continuation.resume()
        }
    }

    fileprivate func received(_ zone: DNSName) {
        count.withLock { $0 += 1 }
        let waiters = state.withLock { state -> [Waiter] in
            state.pending.insert(zone)
            return state.waiters.removeValue(forKey: zone) ?? []
        }
        for waiter in waiters { waiter.continuation.resume() }
    }

    /// Stops listening.
    public func close() async {
        if let channel = channel.withLock({ $0 }) { try? await channel.close() }
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = AddressedEnvelope<ByteBuffer>
        typealias OutboundOut = AddressedEnvelope<ByteBuffer>
        let listener: NotifyListener

        init(listener: NotifyListener) { self.listener = listener }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let envelope = unwrapInboundIn(data)
            guard let message = try? Message(decoding: envelope.data), message.opcode == .notify, !message.isResponse,
                let zone = message.questions.first?.name
            else { return }
            let reply = Message(id: message.id, isResponse: true, opcode: .notify, authoritative: true, questions: message.questions)
            if let octets = try? reply.encode() {
                context.writeAndFlush(wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: octets)), promise: nil)
            }
            listener.received(zone)
        }
    }
}

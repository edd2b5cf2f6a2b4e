import DNSWire
import NIOCore
import NIOPosix

/// One request over UDP from a fresh socket on a random port, connected to the server so the
/// kernel drops datagrams from other sources; the handler checks ID and question too.
enum UDPExchange {
    static func send(
        _ octets: ByteBuffer, matcher: ResponseMatcher, to server: SocketAddress, timeout: Duration,
        group: any EventLoopGroup
    ) async throws -> (ByteBuffer, Message) {
        let eventLoop = group.next()
        let promise = eventLoop.makePromise(of: (ByteBuffer, Message).self)
        let channel: any Channel
        do {
            channel = try await DatagramBootstrap(group: eventLoop)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(
                            UDPResponseHandler(server: server, matcher: matcher, promise: promise))
                    }
                }
                .connect(to: server)
                .get()
        } catch {
            promise.fail(DNSError.connection("UDP socket to \(server): \(error)"))
            throw DNSError.connection("UDP socket to \(server): \(error)")
        }
        let timer = eventLoop.scheduleTask(in: timeout.timeAmount) { promise.fail(DNSError.timeout) }
        channel.writeAndFlush(AddressedEnvelope(remoteAddress: server, data: octets)).whenFailure { error in
            promise.fail(DNSError.connection("UDP send to \(server): \(error)"))
        }
        promise.futureResult.whenComplete { _ in
            timer.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }
}

final class UDPResponseHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    let server: SocketAddress
    let matcher: ResponseMatcher
    let promise: EventLoopPromise<(ByteBuffer, Message)>

    init(server: SocketAddress, matcher: ResponseMatcher, promise: EventLoopPromise<(ByteBuffer, Message)>) {
        self.server = server
        self.matcher = matcher
        self.promise = promise
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard envelope.remoteAddress == server else { return }
        switch matcher.check(envelope.data) {
        case .matches(let message): promise.succeed((envelope.data, message))
        case .malformed(let error): promise.fail(DNSError.malformedResponse(error))
        case .unrelated: break
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // ICMP port unreachable arrives as a read error on a connected socket.
        promise.fail(DNSError.connection("UDP to \(server): \(error)"))
    }
}

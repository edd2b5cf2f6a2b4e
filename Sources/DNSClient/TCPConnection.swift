import DNSWire
import NIOCore
import NIOPosix

/// A request handed to a TCP connection: the framed octets, and where its answers go.
struct TCPRequest: Sendable {
    enum Reply: Sendable {
        /// One answer completes the request.
        case single(EventLoopPromise<(ByteBuffer, Message)>)
        /// Every answer with this ID is yielded until the receiver finishes (zone transfers).
        case stream(AsyncThrowingStream<(ByteBuffer, Message), any Error>.Continuation)
    }

    var octets: ByteBuffer
    var matcher: ResponseMatcher
    var reply: Reply
    var timeout: Duration?

    func fail(_ error: any Error) {
        switch reply {
        case .single(let promise): promise.fail(error)
        case .stream(let continuation): continuation.finish(throwing: error)
        }
    }
}

/// A TCP connection to one server that carries many requests at once (RFC 7766 pipelining):
/// answers may come in any order and are matched to requests by message ID.
final class TCPConnection: Sendable {
    let channel: any Channel
    let server: SocketAddress

    private init(channel: any Channel, server: SocketAddress) {
        self.channel = channel
        self.server = server
    }

    static func connect(to server: SocketAddress, group: any EventLoopGroup, timeout: Duration) async throws
        -> TCPConnection
    {
        try await connect(to: server, group: group, timeout: timeout, first: nil)
    }

    /// Connects and, when `first` is given, writes it as soon as the connection is up, on the
    /// event loop: a busy caller's scheduling delay cannot then sit between the two, where a
    /// server's idle timer for new connections (Knot's is 10 s by default) would close it.
    private static func connect(to server: SocketAddress, group: any EventLoopGroup, timeout: Duration, first: TCPRequest?)
        async throws -> TCPConnection
    {
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(timeout.timeAmount)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(DNSFrameDecoder()))
                        try channel.pipeline.syncOperations.addHandler(TCPMultiplexer(server: server))
                    }
                }
                .connect(to: server)
                .flatMap { channel in
                    guard let first else { return channel.eventLoop.makeSucceededFuture(channel) }
                    return channel.writeAndFlush(first).map { channel }
                }
                .get()
            return TCPConnection(channel: channel, server: server)
        } catch let error as DNSError {
            throw error
        } catch {
            throw DNSError.connection("TCP to \(server.display): \(describeFailure(error))")
        }
    }

    /// A new connection whose first request is one whose answer spans several messages (a zone
    /// transfer), written as it connects; the caller finishes the stream and closes the connection.
    static func connect(
        to server: SocketAddress, group: any EventLoopGroup, timeout: Duration, streaming octets: ByteBuffer, matcher: ResponseMatcher
    ) async throws -> (TCPConnection, AsyncThrowingStream<(ByteBuffer, Message), any Error>) {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: (ByteBuffer, Message).self)
        let request = TCPRequest(octets: octets, matcher: matcher, reply: .stream(continuation), timeout: nil)
        do {
            let connection = try await connect(to: server, group: group, timeout: timeout, first: request)
            return (connection, stream)
        } catch {
            request.fail(error)
            throw error
        }
    }

    var isActive: Bool { channel.isActive }

    /// Sends one request and waits for its single answer.
    nonisolated(nonsending) func send(_ octets: ByteBuffer, matcher: ResponseMatcher, timeout: Duration) async throws -> (ByteBuffer, Message)
    {
        let promise = channel.eventLoop.makePromise(of: (ByteBuffer, Message).self)
        let request = TCPRequest(octets: octets, matcher: matcher, reply: .single(promise), timeout: timeout)
        // No flush here: the multiplexer flushes once per event-loop turn, so requests sent
        // together leave in one write.
        channel.write(request).whenFailure { request.fail(ClientInternalError.notSent("TCP to \(self.server.display): \(describeFailure($0))")) }
        return try await promise.futureResult.get()
    }

    func close() {
        channel.close(promise: nil)
    }
}

/// Keeps the requests in flight on one connection and hands each answer to its request.
final class TCPMultiplexer: ChannelDuplexHandler, MultiplexerTiming {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = TCPRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var request: TCPRequest
        var deadline: NIODeadline?
    }

    private let server: SocketAddress
    private var pending: [UInt16: Pending] = [:]
    var flushScheduled = false
    var sweep: (task: Scheduled<Void>, deadline: NIODeadline)?
    var deadlines: [(id: UInt16, deadline: NIODeadline)] {
        pending.compactMap { id, entry in entry.deadline.map { (id, $0) } }
    }

    init(server: SocketAddress) { self.server = server }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        let id = request.matcher.id
        guard pending[id] == nil else {
            request.fail(ClientInternalError.idInUse)
            promise?.succeed()
            return
        }
        let deadline = request.timeout.map { context.eventLoop.now + $0.timeAmount }
        pending[id] = Pending(request: request, deadline: deadline)
        if let deadline { watch(deadline, context: context) }
        context.write(wrapOutboundOut(request.octets.framedForTCP()), promise: promise)
        flushAtEndOfTurn(context)
    }

    func timedOut(_ id: UInt16) { finish(id: id, with: DNSError.timeout) }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        guard let id = Message.peekID(frame), let entry = pending[id] else { return }
        switch entry.request.matcher.check(frame) {
        case .unrelated:
            return
        case .malformed(let error):
            finish(id: id, with: DNSError.malformedResponse(error))
        case .matches(let message):
            switch entry.request.reply {
            case .single(let promise):
                pending[id] = nil
                promise.succeed((frame, message))
            case .stream(let continuation):
                if case .terminated = continuation.yield((frame, message)) { pending[id] = nil }
            }
        }
    }

    private func finish(id: UInt16, with error: any Error) {
        guard let entry = pending.removeValue(forKey: id) else { return }
        entry.request.fail(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(DNSError.connection("TCP connection to \(server.display) closed"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(DNSError.connection("TCP to \(server.display): \(describeFailure(error))"))
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        let all = pending
        pending = [:]
        stopWatching()
        for entry in all.values { entry.request.fail(error) }
    }
}

enum ClientInternalError: Error {
    /// Another request on the connection already uses this ID; pick another.
    case idInUse
    /// The request could not be written (the connection was already closed): the server never
    /// saw it, so sending it again elsewhere is safe whatever it is.
    case notSent(String)
    /// The server answered BADTIME, signed, with its own clock: the request may be signed again
    /// with the server's time (the client's clock offset is now set to it).
    case signAgain
}

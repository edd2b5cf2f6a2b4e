import Atomics
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// `dnsstore serve --metrics ADDRESS:PORT`: the metrics of the process in Prometheus's text
/// format at `GET /metrics`, on a listener of its own. It bounds what a client can take: at most
/// `maxConnections` at once (more are closed at once), a request's head by SwiftNIO's HTTP
/// parser, a connection's life to `connectionLifetime` and its idle time to `idleTimeout`; a
/// request with a body is refused.
final class MetricsEndpoint: Sendable {
    static let maxConnections = 16
    static let idleTimeout = TimeAmount.seconds(10)
    static let connectionLifetime = TimeAmount.seconds(60)

    let channel: any Channel

    private init(channel: any Channel) { self.channel = channel }

    static func start(registry: PrometheusCollectorRegistry, host: String, port: Int, group: any EventLoopGroup) async throws -> MetricsEndpoint {
        let open = ManagedAtomic<Int>(0)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard open.loadThenWrappingIncrement(ordering: .relaxed) < maxConnections else {
                    open.wrappingDecrement(ordering: .relaxed)
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in open.wrappingDecrement(ordering: .relaxed) }
                let deadline = channel.eventLoop.scheduleTask(in: connectionLifetime) { channel.close(promise: nil) }
                channel.closeFuture.whenComplete { _ in deadline.cancel() }
                return channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: idleTimeout))
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(registry: registry))
                }
            }
            .bind(host: host, port: port)
            .get()
        return MetricsEndpoint(channel: channel)
    }

    var localAddress: SocketAddress? { channel.localAddress }

    func close() async { try? await channel.close() }
}

/// Answers each request on one connection: the metrics at `/metrics`, 404 elsewhere, 405 for a
/// method other than GET and HEAD, 400 for a request with a body.
final class MetricsHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let registry: PrometheusCollectorRegistry
    private var head: HTTPRequestHead?
    private var hadBody = false

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            hadBody = false
        case .body:
            hadBody = true
        case .end:
            guard let head else { return }
            self.head = nil
            respond(context, to: head)
        }
    }

    private func respond(_ context: ChannelHandlerContext, to head: HTTPRequestHead) {
        let status: HTTPResponseStatus
        var body: [UInt8]
        var contentType = "text/plain; charset=utf-8"
        if hadBody {
            (status, body) = (.badRequest, Array("a request for metrics has no body\n".utf8))
        } else if head.method != .GET && head.method != .HEAD {
            (status, body) = (.methodNotAllowed, Array("only GET and HEAD are answered\n".utf8))
        } else if head.uri.split(separator: "?").first != "/metrics" {
            (status, body) = (.notFound, Array("not found: the metrics are at /metrics\n".utf8))
        } else {
            status = .ok
            body = registry.emitToBuffer()
            contentType = "text/plain; version=0.0.4; charset=utf-8"
        }
        let keepAlive = head.isKeepAlive && !hadBody
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: "\(body.count)")
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        if head.method == .HEAD { body = [] }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if !body.isEmpty { context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil) }
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }
}

/// The metrics endpoint, until shutdown.
struct MetricsService: Service {
    let endpoint: MetricsEndpoint

    func run() async throws {
        try? await gracefulShutdown()
        await endpoint.close()
    }
}

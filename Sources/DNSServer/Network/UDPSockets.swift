import DNSWire
import Logging
import NIOCore
import NIOPosix
import Synchronization


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
        switch authority.receive(request, over: .udp, from: RequestSource(remote)) {
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

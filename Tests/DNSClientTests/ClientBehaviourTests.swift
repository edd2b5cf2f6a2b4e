import DNSClient
import DNSWire
import NIOCore
import NIOPosix
import Testing

/// A UDP peer on loopback that answers each query with a scripted list of replies, to check
/// what the client accepts. Not a DNS server: it echoes the question in whatever form the script says.
final class ScriptedResponder: ChannelInboundHandler, Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    /// Turns the query into the replies to send, in order.
    let script: @Sendable (Message, SocketAddress) -> [Message]

    init(script: @escaping @Sendable (Message, SocketAddress) -> [Message]) { self.script = script }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        guard let query = try? Message(decoding: envelope.data) else { return }
        for reply in script(query, envelope.remoteAddress) {
            let bytes = try! reply.encode()
            context.write(wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: bytes)), promise: nil)
        }
        context.flush()
    }

    static func start(_ script: @escaping @Sendable (Message) -> [Message]) async throws -> any Channel {
        try await start { query, _ in script(query) }
    }

    static func start(_ script: @escaping @Sendable (Message, SocketAddress) -> [Message]) async throws -> any Channel {
        try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { $0.pipeline.addHandler(ScriptedResponder(script: script)) }
            .bind(host: "127.0.0.1", port: 0)
            .get()
    }
}

@Suite("Client behaviour")
struct ClientBehaviourTests {
    /// A signed UPDATE whose TSIG record would carry it past 65,535 octets is refused as too
    /// large before anything is sent; it used to stop the process when framed for TCP.
    @Test func anUpdateTooLargeOnceSignedIsRefusedNotSent() async throws {
        let key = TSIGKey.generate(name: "k.", algorithm: .hmacSHA256)
        let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: 9, key: key))
        defer { Task { await client.shutdown() } }
        // 60 octets short of the limit: room for the EDNS cookie the client adds (23), not for TSIG.
        func update(_ count: Int) -> UpdateBuilder {
            var update = UpdateBuilder(zone: "example.")
            update.replace("big.example.", .txt, with: [.txt(TXT(splitting: [UInt8](repeating: 0x78, count: count)))], ttl: 30)
            return update
        }
        var count = 65_000
        count += 65_535 - 60 - (try update(count).message().encode().readableBytes)
        if (try update(count).message().encode().readableBytes) > 65_535 - 60 { count -= 1 }
        let big = update(count)
        let unsigned = try big.message().encode().readableBytes
        #expect(unsigned <= 65_535 - 60 && unsigned > 65_535 - 64, "\(unsigned)")
        await #expect(throws: DNSWireError.self) { _ = try await client.update(big) }
    }

    static func answer(_ query: Message, id: UInt16? = nil, name: DNSName? = nil, text: String) -> Message {
        var reply = query
        reply.id = id ?? query.id
        reply.isResponse = true
        reply.tsig = nil
        if let name { reply.questions[0].name = name }
        reply.answers = [.txt(reply.questions[0].name, TXT(text))]
        return reply
    }

    @Test func dropsRepliesWithWrongIDOrQuestion() async throws {
        let peer = try await ScriptedResponder.start { query in
            [
                Self.answer(query, id: query.id &+ 1, text: "wrong id"),
                Self.answer(query, name: "other.example.", text: "wrong question"),
                Self.answer(query, text: "right"),
            ]
        }
        let client = DNSClient(configuration: DNSClientConfiguration(servers: [peer.localAddress!]))
        let answer = try await client.query("q.example.", type: .txt)
        #expect(answer.answers.map(\.rdata) == [.txt(TXT("right"))])
        try await peer.close()
    }

    @Test func requestsFromTasksOnTheClientsLoopAreAnsweredOnIt() async throws {
        let peer = try await ScriptedResponder.start { query in [Self.answer(query, text: "ok")] }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let client = DNSClient(configuration: DNSClientConfiguration(servers: [peer.localAddress!]), group: loop)
        let executor = EventLoopTaskExecutor(loop)
        // Many requests in flight from tasks that prefer the loop: each is answered, and each task
        // goes on on the loop's thread, never handed to the shared pool and back.
        let results = try await withThrowingTaskGroup(of: (Bool, Bool).self) { group in
            for i in 0..<64 {
                group.addTask(executorPreference: executor) {
                    let answer = try await client.query(try DNSName("q\(i).example."), type: .txt)
                    return (answer.answers.map(\.rdata) == [.txt(TXT("ok"))], loop.inEventLoop)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results.count == 64 && results.allSatisfy { $0.0 && $0.1 })
        await client.shutdown()
        try await peer.close()
    }

    @Test func sourcePortsAndIDsChange() async throws {
        let seen = Locked<[(port: Int, id: UInt16)]>([])
        let peer = try await ScriptedResponder.start { query, from in
            seen.withLock { $0.append((from.port ?? 0, query.id)) }
            return [Self.answer(query, text: "ok")]
        }
        var config = DNSClientConfiguration(servers: [peer.localAddress!])
        config.udpSocketReuseLimit = 10
        let client = DNSClient(configuration: config)
        for _ in 0..<100 { _ = try await client.query("q.example.", type: .txt) }
        let all = seen.withLock { $0 }
        #expect(all.count == 100)
        #expect(Set(all.map(\.port)).count >= 9)
        #expect(Set(all.map(\.id)).count >= 95)
        await client.shutdown()
        try await peer.close()
    }

    @Test func questionMatchIsCaseInsensitive() async throws {
        let peer = try await ScriptedResponder.start { [Self.answer($0, name: "Q.EXAMPLE.", text: "ok")] }
        let client = DNSClient(configuration: DNSClientConfiguration(servers: [peer.localAddress!]))
        #expect(try await client.query("q.example.", type: .txt).answers.count == 1)
        try await peer.close()
    }

    @Test func timesOutAfterEveryAttempt() async throws {
        let silent = try await ScriptedResponder.start { _ in [] }
        var config = DNSClientConfiguration(servers: [silent.localAddress!])
        config.timeout = .milliseconds(200)
        config.attempts = 3
        config.backoff = .milliseconds(10)
        let client = DNSClient(configuration: config)
        let start = ContinuousClock.now
        await #expect(throws: DNSError.timeout) { try await client.query("q.example.", type: .txt) }
        #expect(ContinuousClock.now - start >= .milliseconds(600))
        try await silent.close()
    }

    /// A client made with the default configuration remembers a server that gave no answer: the
    /// first request waits for it, the next ones go to the live server at once while it rests.
    @Test func aSilentServerCostsTheFirstRequestOnly() async throws {
        let asked = Locked(0)
        let silent = try await ScriptedResponder.start { _ in
            asked.withLock { $0 += 1 }
            return []
        }
        let live = try await ScriptedResponder.start { query in [Self.answer(query, text: "live")] }
        /// How many of `count` requests went to the silent server.
        func silentAsked(_ config: DNSClientConfiguration, count: Int) async throws -> Int {
            let before = asked.withLock { $0 }
            let client = DNSClient(configuration: config)
            for _ in 0..<count {
                let answer = try await client.query("q.example.", type: .txt)
                #expect(answer.answers.count == 1)
            }
            await client.shutdown()
            return asked.withLock { $0 } - before
        }
        // A timeout no answer of the live server outlasts, even beside the whole suite.
        var config = DNSClientConfiguration(servers: [silent.localAddress!, live.localAddress!])
        config.timeout = .seconds(2)
        config.attempts = 2
        config.backoff = .milliseconds(1)
        // It rests half a second after its first failure, a second after the next, and so on, so
        // five requests ask it once, or a few times on a loaded machine; never every time.
        let remembered = try await silentAsked(config, count: 5)
        #expect(remembered >= 1 && remembered < 5, "the silent server was asked \(remembered) times in 5 requests")
        // Without the record every request goes to the silent server first.
        config.health = nil
        #expect(try await silentAsked(config, count: 2) == 2)
        try await silent.close()
        try await live.close()
    }

    @Test func unsignedAnswerToSignedRequestIsRejected() async throws {
        let peer = try await ScriptedResponder.start { [Self.answer($0, text: "forged")] }
        var config = DNSClientConfiguration(servers: [peer.localAddress!])
        config.key = TSIGKey.generate(name: "k.")
        let client = DNSClient(configuration: config)
        await #expect(throws: DNSError.tsig(.responseNotSigned)) { try await client.query("q.example.", type: .txt) }
        try await peer.close()

        // Copying the request's TSIG into the answer does not make it signed.
        let echo = try await ScriptedResponder.start { query in
            var reply = Self.answer(query, text: "forged")
            reply.tsig = query.tsig
            return [reply]
        }
        config.servers = [echo.localAddress!]
        await #expect(throws: DNSError.tsig(.responseSignatureInvalid)) {
            try await DNSClient(configuration: config).query("q.example.", type: .txt)
        }
        try await echo.close()
    }

    @Test func mapsEveryRCodeToItsError() async throws {
        let codes: [(ResponseCode, DNSError)] = [
            (.formErr, .formatError), (.servFail, .serverFailure), (.nxDomain, .nxDomain), (.notImp, .notImplemented),
            (.refused, .refused), (.yxDomain, .yxDomain), (.yxRRSet, .yxRRSet), (.nxRRSet, .nxRRSet),
            (.notAuth, .notAuth), (.notZone, .notZone),
        ]
        for (code, error) in codes {
            let peer = try await ScriptedResponder.start { query in
                var reply = query
                reply.isResponse = true
                reply.rcode = code
                return [reply]
            }
            let client = DNSClient(configuration: DNSClientConfiguration(servers: [peer.localAddress!]))
            await #expect(throws: error) { try await client.query("q.example.", type: .txt) }
            try await peer.close()
        }
    }
}

extension ClientBehaviourTests {
    /// A server named by host name that moves to a new address is found again: when nothing at
    /// the old address answers, the name is resolved again and the request goes to the new one.
    @Test func aServerNamedByHostNameIsFoundAgainWhenItMoves() async throws {
        let (old, new) = (try await ScriptedResponder.start { _ in [] }, try await ScriptedResponder.start { [Self.answer($0, text: "moved")] })
        let moved = Locked(false)
        let resolutions = Locked(0)
        var configuration = DNSClientConfiguration(servers: [old.localAddress!])
        configuration.serverNames = ["dns.service.test"]
        configuration.resolver = { name in
            #expect(name == "dns.service.test")
            resolutions.withLock { $0 += 1 }
            return [moved.withLock { $0 } ? new.localAddress! : old.localAddress!]
        }
        // Long enough for the new address to answer beside the whole suite on two cores.
        configuration.timeout = .seconds(1)
        configuration.attempts = 2
        let client = DNSClient(configuration: configuration)
        // Nothing resolved again within a second of the last resolution (the one that made it).
        await #expect(throws: DNSError.timeout) { try await client.query("q.example.", type: .txt) }
        try await Task.sleep(for: .seconds(1))
        moved.withLock { $0 = true }
        let answer = try await client.query("q.example.", type: .txt)
        #expect(answer.answers.map(\.rdata) == [.txt(TXT("moved"))])
        #expect(client.servers == [new.localAddress!])
        #expect(resolutions.withLock { $0 } == 1)
        // Later requests go to the new address at once.
        #expect(try await client.query("r.example.", type: .txt).answers.count == 1)
        #expect(resolutions.withLock { $0 } == 1)
        await client.shutdown()
        try await old.close()
        try await new.close()
    }
}

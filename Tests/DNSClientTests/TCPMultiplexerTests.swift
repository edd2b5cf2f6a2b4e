@testable import DNSClient
import DNSWire
import NIOCore
import NIOEmbedded
import Testing

/// The client's pipelining rules on an in-memory channel: answers matched by ID and question in
/// any order, strays dropped, timeouts and a closed connection failing what is left.
@Suite("TCP multiplexer")
struct TCPMultiplexerTests {
    static let server = try! SocketAddress(ipAddress: "127.0.0.1", port: 53)

    struct Sent {
        let message: Message
        let answer: EventLoopFuture<(ByteBuffer, Message)>
    }

    static func send(_ name: DNSName, id: UInt16, on channel: EmbeddedChannel, timeout: Duration? = nil) throws -> Sent {
        let message = Message.query(name, type: .txt, id: id)
        let promise = channel.eventLoop.makePromise(of: (ByteBuffer, Message).self)
        let request = TCPRequest(
            octets: try message.encode(), matcher: ResponseMatcher(request: message), reply: .single(promise), timeout: timeout)
        try channel.writeOutbound(request)
        return Sent(message: message, answer: promise.futureResult)
    }

    static func answer(to message: Message, text: String) throws -> ByteBuffer {
        var answer = message
        answer.isResponse = true
        answer.answers = [.txt(message.questions[0].name, TXT(text))]
        return try answer.encode()
    }

    /// What the future holds now: the answer's text, an error, or nil while it waits.
    static func outcome(_ future: EventLoopFuture<(ByteBuffer, Message)>) -> Result<String, any Error>? {
        let result = Locked<Result<String, any Error>?>(nil)
        future.whenComplete { completed in
            result.withLock {
                $0 = completed.map { _, message in
                    guard case .txt(let txt) = message.answers.first?.rdata else { return "" }
                    return txt.strings.map { String(decoding: $0, as: UTF8.self) }.joined()
                }
            }
        }
        return result.withLock { $0 }
    }

    @Test func answersInAnyOrderReachTheirRequests() throws {
        let channel = EmbeddedChannel(handler: TCPMultiplexer(server: Self.server))
        let first = try Self.send("a.example.", id: 1, on: channel)
        let second = try Self.send("b.example.", id: 2, on: channel)
        // Each request leaves framed with its two-octet length.
        let frame = try #require(try channel.readOutbound(as: ByteBuffer.self))
        #expect(frame.getInteger(at: frame.readerIndex, as: UInt16.self).map(Int.init) == frame.readableBytes - 2)
        #expect(try channel.readOutbound(as: ByteBuffer.self) != nil)

        try channel.writeInbound(try Self.answer(to: second.message, text: "second"))
        #expect(Self.outcome(first.answer) == nil)
        try channel.writeInbound(try Self.answer(to: first.message, text: "first"))
        #expect(try Self.outcome(first.answer)?.get() == "first")
        #expect(try Self.outcome(second.answer)?.get() == "second")
        _ = try channel.finish()
    }

    @Test func aStrayWithTheRightIDButAnotherQuestionIsDropped() throws {
        let channel = EmbeddedChannel(handler: TCPMultiplexer(server: Self.server))
        let sent = try Self.send("a.example.", id: 7, on: channel)
        var forged = sent.message
        forged.questions = [Question(name: "evil.example.", type: .txt)]
        try channel.writeInbound(try Self.answer(to: forged, text: "forged"))
        try channel.writeInbound(try Self.answer(to: Message.query("a.example.", type: .txt, id: 8), text: "other id"))
        #expect(Self.outcome(sent.answer) == nil)
        try channel.writeInbound(try Self.answer(to: sent.message, text: "real"))
        #expect(try Self.outcome(sent.answer)?.get() == "real")
        _ = try channel.finish()
    }

    @Test func anIDInUseIsRefusedAndTheFirstRequestKept() throws {
        let channel = EmbeddedChannel(handler: TCPMultiplexer(server: Self.server))
        let first = try Self.send("a.example.", id: 3, on: channel)
        let clash = try Self.send("b.example.", id: 3, on: channel)
        guard case .failure(let error) = Self.outcome(clash.answer), case ClientInternalError.idInUse = error else {
            Issue.record("a second request with ID 3 was not refused")
            return
        }
        try channel.writeInbound(try Self.answer(to: first.message, text: "first"))
        #expect(try Self.outcome(first.answer)?.get() == "first")
        _ = try channel.finish()
    }

    @Test func timeoutsAndACloseFailWhatIsLeft() throws {
        let channel = EmbeddedChannel(handler: TCPMultiplexer(server: Self.server))
        let slow = try Self.send("a.example.", id: 1, on: channel, timeout: .seconds(2))
        let waiting = try Self.send("b.example.", id: 2, on: channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(Self.outcome(slow.answer) == nil)
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        guard case .failure(DNSError.timeout) = Self.outcome(slow.answer) else {
            Issue.record("the request did not time out")
            return
        }
        // A late answer to the timed-out request changes nothing.
        try channel.writeInbound(try Self.answer(to: slow.message, text: "late"))
        channel.pipeline.fireChannelInactive()
        guard case .failure(DNSError.connection) = Self.outcome(waiting.answer) else {
            Issue.record("a request on a closed connection did not fail")
            return
        }
        _ = try? channel.finish()
    }
}

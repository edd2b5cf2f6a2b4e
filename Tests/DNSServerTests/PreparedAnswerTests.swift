import DNSClient
import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import NIOCore
import Testing

/// Answers kept as sent and given again to the same query: the same octets the ordinary path
/// gives, never older than the zone, and only for queries of the plain shape.
@Suite("Prepared answers")
struct PreparedAnswerTests {
    static let zone: DNSName = "example.test."

    static func authority() throws -> (Authority, URL) {
        let dir = try TempDirectory.make("prepared")
        let config = AuthorityConfiguration(zones: [zone], keys: [])
        return (try Authority(databasePath: dir.appendingPathComponent("zones.sqlite").path, configuration: config), dir)
    }

    static func set(_ authority: Authority, _ name: DNSName, _ text: String) throws {
        var update = UpdateBuilder(zone: zone)
        update.replace(name, .txt, with: [.txt(TXT(text))], ttl: 60)
        let answers = authority.handle(try update.message(id: 1).encode(), over: .local)
        #expect(try Message(decoding: answers[0]).rcode == .noError)
    }

    static func ask(_ authority: Authority, _ query: Message, over transport: RequestTransport = .udp) throws -> [UInt8] {
        let answers = authority.handle(try query.encode(), over: transport)
        return Array(buffer: try #require(answers.first))
    }

    @Test func aRepeatedQueryGetsTheOrdinaryAnswerWithItsOwnIDAndRD() throws {
        let (authority, dir) = try Self.authority()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.set(authority, "a.example.test.", "first")
        var query = Message.query("a.example.test.", type: .txt, id: 7)
        query.recursionDesired = true
        // The first answers come the ordinary way (storage, then the node cache); then kept.
        var ordinary: [UInt8] = []
        for _ in 0..<3 { ordinary = try Self.ask(authority, query) }
        let before = authority.statistics.preparedHits.load(ordering: .relaxed)
        query.id = 4242
        query.recursionDesired = false
        let prepared = try Self.ask(authority, query)
        #expect(authority.statistics.preparedHits.load(ordering: .relaxed) == before + 1)
        let decoded = try Message(decoding: prepared)
        #expect(decoded.id == 4242 && !decoded.recursionDesired)
        #expect(decoded.answers.map(\.rdata) == [.txt(TXT("first"))])
        // Apart from the ID and RD bit, the very octets of the ordinary answer.
        #expect(Array(prepared[4...]) == Array(ordinary[4...]))
        #expect(prepared[2] & 0xFE == ordinary[2] & 0xFE)

        // Another name case, no EDNS, over TCP, NXDOMAIN: each right, each its own entry.
        let mixed = try Message(decoding: try Self.ask(authority, Message.query("A.Example.TEST.", type: .txt, id: 1)))
        #expect(mixed.answers.map(\.rdata) == [.txt(TXT("first"))] && mixed.questions.first?.name.description == "A.Example.TEST.")
        for _ in 0..<3 {
            let plain = try Message(decoding: try Self.ask(authority, Message.query("a.example.test.", type: .txt, id: 2, payloadSize: nil)))
            #expect(plain.edns == nil && plain.answers.count == 1)
            let tcp = try Message(decoding: try Self.ask(authority, query, over: .tcp))
            #expect(tcp.answers.count == 1)
            let missing = try Message(decoding: try Self.ask(authority, Message.query("nope.example.test.", type: .txt, id: 3)))
            #expect(missing.rcode == .nxDomain && missing.authority.first?.type == .soa)
        }
    }

    @Test func aChangeIsSeenByTheNextQuery() throws {
        let (authority, dir) = try Self.authority()
        defer { try? FileManager.default.removeItem(at: dir) }
        let query = Message.query("b.example.test.", type: .txt, id: 9)
        for round in 0..<20 {
            try Self.set(authority, "b.example.test.", "value \(round)")
            for _ in 0..<3 {
                let answer = try Message(decoding: try Self.ask(authority, query))
                #expect(answer.answers.map(\.rdata) == [.txt(TXT("value \(round)"))], "round \(round)")
            }
        }
        #expect(authority.statistics.preparedHits.load(ordering: .relaxed) > 0)
        // Another process's commit (a second engine on the same file) is seen as well.
        let other = try Authority(databasePath: dir.appendingPathComponent("zones.sqlite").path,
                                  configuration: AuthorityConfiguration(zones: [Self.zone], keys: []))
        try Self.set(other, "b.example.test.", "from the other")
        let answer = try Message(decoding: try Self.ask(authority, query))
        #expect(answer.answers.map(\.rdata) == [.txt(TXT("from the other"))])
    }

    /// Shapes the cache does not read go the ordinary way and get the ordinary answer: a large
    /// answer truncated for a small payload, a compressed question name, two additional records.
    @Test func otherShapesTakeTheOrdinaryPath() throws {
        let (authority, dir) = try Self.authority()
        defer { try? FileManager.default.removeItem(at: dir) }
        try Self.set(authority, "big.example.test.", String(repeating: "x", count: 1000))
        let big = Message.query("big.example.test.", type: .txt, id: 5)
        for _ in 0..<3 { _ = try Self.ask(authority, big) }
        let small = try Message(decoding: try Self.ask(authority, Message.query("big.example.test.", type: .txt, id: 6, payloadSize: nil)))
        #expect(small.truncated && small.answers.isEmpty)
        let hits = authority.statistics.preparedHits.load(ordering: .relaxed)
        var twoOPT = Array(buffer: try big.encode())
        twoOPT[11] = 2
        twoOPT += twoOPT[(twoOPT.count - 11)...]
        let refused = authority.handle(ByteBuffer(bytes: twoOPT), over: .udp)
        let rcode = try refused.first.map { try Message(decoding: $0).rcode }
        #expect(rcode == nil || rcode == .formErr)
        #expect(authority.statistics.preparedHits.load(ordering: .relaxed) == hits)
    }
    /// Over a UDP socket, repeated queries from several clients at once are read and answered in
    /// batches; each answer goes to its own sender with its own ID and RD bit, and is the very
    /// octets of the ordinary answer otherwise.
    @Test func burstsOverUDPAreAnsweredEachToItsSenderWithItsOwnIDAndRD() async throws {
        let server = try await EmbeddedServer.start()
        let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: server.port, key: server.key))
        var update = UpdateBuilder(zone: Self.zone)
        update.replace("a.example.test.", .txt, with: [.txt(TXT("over the wire"))], ttl: 60)
        #expect(try await client.update(update).rcode == .noError)
        await client.shutdown()
        let query = Message.query("a.example.test.", type: .txt, id: 1)
        var ordinary: [UInt8] = []
        for _ in 0..<3 { ordinary = try #require(RawDNS.udp(Array(buffer: try query.encode()), port: server.port)) }
        let hitsBefore = server.server.authority.statistics.preparedHits.load(ordering: .relaxed)
        let senders = (0..<8).map { _ in RawDNS.Sender(port: server.port) }
        let rounds = 20
        for round in 0..<rounds {
            for (n, sender) in senders.enumerated() {
                var asked = query
                asked.id = UInt16(n * 100 + round)
                asked.recursionDesired = round % 2 == 0
                sender.send(Array(buffer: try asked.encode()))
            }
        }
        for (n, sender) in senders.enumerated() {
            var ids = Set<UInt16>()
            for _ in 0..<rounds {
                guard let reply = sender.receive() else { break }
                let decoded = try Message(decoding: reply)
                #expect(Int(decoded.id) / 100 == n, "sender \(n) got the answer to \(decoded.id)")
                #expect(decoded.recursionDesired == (decoded.id % 100 % 2 == 0))
                #expect(Array(reply[4...]) == Array(ordinary[4...]) && reply[2] & 0xFE == ordinary[2] & 0xFE)
                ids.insert(decoded.id)
            }
            #expect(ids.count == rounds, "sender \(n) got \(ids.count) of \(rounds) answers")
        }
        #expect(server.server.authority.statistics.preparedHits.load(ordering: .relaxed) >= hitsBefore + rounds * senders.count)
        await server.stop()
    }
}

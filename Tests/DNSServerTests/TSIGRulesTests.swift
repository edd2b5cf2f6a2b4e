import DNSClient
import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import NIOCore
import Testing

/// RFC 8945's rules for requests, checked against BIND 9 on the same octets; an UPDATE with an
/// EDNS version we do not speak changes nothing; a replayed signed UPDATE changes nothing again.
@Suite("TSIG and EDNS rules")
struct TSIGRulesTests {
    static func update(_ name: DNSName, _ text: String, id: UInt16, edns: EDNS? = EDNS()) -> Message {
        var builder = UpdateBuilder(zone: "example.test.")
        builder.add(.txt(name, TXT(text)))
        var message = builder.message(id: id)
        message.edns = edns
        return message
    }

    /// The request signed in full, then given a MAC of `length` octets (a prefix, or padded).
    static func withMAC(_ message: Message, key: TSIGKey, length: Int) throws -> [UInt8] {
        let now = WallClock.seconds()
        let full = try TSIGSigner.sign(try message.encode(), key: key, timeSigned: now).mac
        let mac = length <= full.count ? Array(full.prefix(length)) : full + [UInt8](repeating: 0, count: length - full.count)
        var signed = message
        signed.tsig = TSIGRecord(keyName: key.name, algorithm: key.algorithm.name, timeSigned: now, fudge: 300, mac: mac, originalID: message.id)
        return Array(try signed.encode().readableBytesView)
    }

    static func answer(_ bytes: [UInt8], port: Int) throws -> Message {
        try Message(decoding: try #require(RawDNS.udp(bytes, port: port), "no answer on \(port)"))
    }

    static func exists(_ name: DNSName, port: Int) async throws -> Bool {
        let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port))
        defer { Task { await client.shutdown() } }
        do {
            return !(try await client.records(name, type: .txt)).isEmpty
        } catch DNSError.nxDomain {
            return false
        }
    }

    @Test func requestMACsAndErrorFieldsAsRFC8945AndBINDSay() async throws {
        try await BindServer.with { bind in
            let ours = try await EmbeddedServer.start { $0.keys = [bind.key] }
            defer { Task { await ours.stop() } }
            for port in [ours.port, bind.port] {
                let who = port == ours.port ? "ours" : "BIND"
                // Half the MAC: allowed by the RFC's floor, below the local minimum: BADTRUNC.
                let half = try Self.answer(try Self.withMAC(Self.update("half.example.test.", "x", id: 1), key: bind.key, length: 16), port: port)
                #expect(half.rcode == .notAuth && half.tsig?.error == .badTrunc, "\(who): \(half.rcode) \(String(describing: half.tsig?.error))")
                #expect(try await !Self.exists("half.example.test.", port: port))
                // A request whose TSIG error field is set is still a valid request.
                let now = WallClock.seconds()
                let flagged = try TSIGSigner.sign(
                    try Self.update("flagged.example.test.", "x", id: 2).encode(), key: bind.key, timeSigned: now, error: .badTime)
                let accepted = try Self.answer(Array(flagged.message.readableBytesView), port: port)
                #expect(accepted.rcode == .noError, "\(who): \(accepted.rcode)")
                if port == ours.port {
                    // BIND answers NOERROR too, but logs the request as badly signed and leaves it unapplied;
                    // the field has no meaning in a request (RFC 8945 section 4.2), so we apply it.
                    #expect(try await Self.exists("flagged.example.test.", port: port))
                }
                // An UPDATE with EDNS version 1 is answered BADVERS and changes nothing.
                let versioned = Self.update("v1.example.test.", "x", id: 3, edns: EDNS(version: 1))
                let signed = try TSIGSigner.sign(try versioned.encode(), key: bind.key, timeSigned: now)
                let badvers = try Self.answer(Array(signed.message.readableBytesView), port: port)
                #expect(badvers.rcode == .badVers, "\(who): \(badvers.rcode)")
                #expect(try await !Self.exists("v1.example.test.", port: port), "\(who) applied an UPDATE it answered BADVERS")
            }
            // MACs of sizes RFC 8945 section 5.2.2.1 calls malformed: FORMERR.
            for length in [1, 10, 33] {
                let reply = try Self.answer(try Self.withMAC(Self.update("bad.example.test.", "x", id: 4), key: bind.key, length: length), port: ours.port)
                #expect(reply.rcode == .formErr, "MAC of \(length) octets: \(reply.rcode)")
            }
        }
    }

    @Test func aReplayedSignedUpdateIsAnsweredAsBeforeAndAppliedOnce() async throws {
        let server = try await EmbeddedServer.start()
        defer { Task { await server.stop() } }
        let now = WallClock.seconds()
        func signed(_ builder: UpdateBuilder, id: UInt16) throws -> [UInt8] {
            Array(try TSIGSigner.sign(try builder.message(id: id).encode(), key: server.key, timeSigned: now).message.readableBytesView)
        }
        var create = UpdateBuilder(zone: "example.test.")
        create.add(.txt("doc.example.test.", TXT("v1")))
        var delete = UpdateBuilder(zone: "example.test.")
        delete.apply(.deleteName("doc.example.test."))
        var recreate = UpdateBuilder(zone: "example.test.")
        recreate.add(.txt("doc.example.test.", TXT("v2")))

        #expect(try Self.answer(try signed(create, id: 10), port: server.port).rcode == .noError)
        let captured = try signed(delete, id: 11)
        let first = try #require(RawDNS.udp(captured, port: server.port))
        #expect(try Message(decoding: first).rcode == .noError)
        #expect(try await !Self.exists("doc.example.test.", port: server.port))
        #expect(try Self.answer(try signed(recreate, id: 12), port: server.port).rcode == .noError)
        // The captured delete sent again: the same answer, and the document created since stays.
        let replayed = try #require(RawDNS.udp(captured, port: server.port))
        #expect(replayed == first)
        #expect(try await Self.exists("doc.example.test.", port: server.port))
    }
}

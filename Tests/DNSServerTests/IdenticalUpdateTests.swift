@testable import DNSClient
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// Our server answers a signed UPDATE whose MAC it has seen with the first one's answer (its
/// replay cache). Two writers that compare-and-swap the same version to the same value, under one
/// key, with the same random ID in the same second, sign identical octets: without something of
/// its own in each UPDATE, the second writer would be told NOERROR for a change it did not make (a
/// lost increment, seen in the 8-writer race). The client puts a random client cookie in every
/// signed UPDATE.
@Suite("Identical signed UPDATEs")
struct IdenticalUpdateTests {
    static let name: DNSName = "doc.example.test."

    /// A compare-and-swap from "v1" to "v2", with this ID, signed at this time, with this cookie.
    static func swap(_ server: EmbeddedServer, id: UInt16, time: UInt64, cookie: [UInt8]?) throws -> [UInt8] {
        var update = UpdateBuilder(zone: server.zone)
        update.require(.rrsetEquals(name, .txt, [.txt(TXT("v1"))]))
        update.replace(name, .txt, with: [.txt(TXT("v2"))], ttl: 30)
        if let cookie { update.options.append(.clientCookie(cookie)) }
        let signed = try TSIGSigner.sign(try update.message(id: id).encode(), key: server.key, timeSigned: time)
        return Array(buffer: signed.message)
    }

    static func rcode(_ answer: [UInt8]?) throws -> ResponseCode? {
        try answer.map { try Message(decoding: $0).rcode }
    }

    @Test func twoWritersSwappingTheSameVersionAreToldApartByTheirCookies() async throws {
        let server = try await EmbeddedServer.start()
        let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: server.port, key: server.key))
        func reset() async throws {
            var update = UpdateBuilder(zone: server.zone)
            update.replace(Self.name, .txt, with: [.txt(TXT("v1"))], ttl: 30)
            #expect(try await client.update(update).rcode == .noError)
        }
        let time = WallClock.seconds()

        // Identical octets are one request to the server: the second is answered NOERROR from
        // the first, though its swap from "v1" did not happen (what the cookie prevents).
        try await reset()
        let same = try Self.swap(server, id: 7, time: time, cookie: nil)
        #expect(try Self.rcode(RawDNS.udp(same, port: server.port)) == .noError)
        #expect(try Self.rcode(RawDNS.udp(same, port: server.port)) == .noError)

        // With different cookies, the same swap at the same ID and second is two requests: one
        // applied, the other refused because "v1" is gone.
        try await reset()
        #expect(try Self.rcode(RawDNS.udp(try Self.swap(server, id: 8, time: time, cookie: [1, 2, 3, 4, 5, 6, 7, 8]), port: server.port)) == .noError)
        #expect(try Self.rcode(RawDNS.udp(try Self.swap(server, id: 8, time: time, cookie: [8, 7, 6, 5, 4, 3, 2, 1]), port: server.port)) == .nxRRSet)

        // The client gives every signed UPDATE a cookie of its own (and queries none).
        var update = UpdateBuilder(zone: server.zone)
        update.replace(Self.name, .txt, with: [.txt(TXT("v3"))], ttl: 30)
        let cookies = try (0..<2).map { _ -> [UInt8]? in
            let (octets, _, _) = try client.prepare(update.message())
            return try Message(decoding: octets).edns?.options.first { $0.code == EDNSOption.cookieCode }?.data
        }
        #expect(cookies[0]?.count == 8 && cookies[1]?.count == 8 && cookies[0] != cookies[1], "\(cookies)")
        let (query, _, _) = try client.prepare(Message.query(Self.name, type: .txt))
        #expect(try Message(decoding: query).edns?.options.contains { $0.code == EDNSOption.cookieCode } == false)
        // Our server, BIND and the others take UPDATEs with a cookie (the store suite runs on them).
        #expect(try await client.update(update).rcode == .noError)
        await client.shutdown()
        await server.stop()
    }
}

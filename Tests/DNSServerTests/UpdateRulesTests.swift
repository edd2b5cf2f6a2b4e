import DNSClient
import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// Signed UPDATEs that would break secondaries: refused or ignored as RFC 2136 and BIND do, and
/// the zone stays transferable.
@Suite("UPDATE rules")
struct UpdateRulesTests {
    struct Case: Sendable {
        var what: String
        var update: @Sendable (inout UpdateBuilder) throws -> Void
        var rcode: ResponseCode
    }

    static func opaque(_ name: DNSName, _ type: UInt16, _ bytes: [UInt8]) -> ResourceRecord {
        ResourceRecord(name: name, type: RRType(type), ttl: 300, rdata: .opaque(bytes))
    }

    static let cases: [Case] = [
        Case(what: "A record before the CNAME case", update: { $0.add(ResourceRecord(name: "both.example.test.", type: .a, ttl: 300, rdata: .a(IPv4Address(10, 0, 0, 1)))) }, rcode: .noError),
        Case(what: "CNAME beside other data", update: { $0.add(ResourceRecord(name: "both.example.test.", type: .cname, ttl: 300, rdata: .cname("t.example.test."))) }, rcode: .noError),
        Case(what: "CNAME at the apex", update: { $0.add(ResourceRecord(name: "example.test.", type: .cname, ttl: 300, rdata: .cname("t.example.test."))) }, rcode: .noError),
        Case(what: "two CNAMEs at one name", update: {
            $0.add(ResourceRecord(name: "two.example.test.", type: .cname, ttl: 300, rdata: .cname("t1.example.test.")))
            $0.add(ResourceRecord(name: "two.example.test.", type: .cname, ttl: 300, rdata: .cname("t2.example.test.")))
        }, rcode: .noError),
        Case(what: "data beside a CNAME", update: { $0.add(.txt("two.example.test.", TXT("beside"))) }, rcode: .noError),
        Case(what: "TYPE0", update: { $0.add(Self.opaque("t0.example.test.", 0, [1, 2])) }, rcode: .formErr),
        Case(what: "TYPE128, a meta type", update: { $0.add(Self.opaque("t128.example.test.", 128, [1, 2])) }, rcode: .formErr),
        Case(what: "SRV of 3 octets", update: { $0.add(Self.opaque("_x._tcp.example.test.", 33, [0, 1, 2])) }, rcode: .formErr),
        Case(what: "CAA of 1 octet", update: { $0.add(Self.opaque("caa.example.test.", 257, [0])) }, rcode: .formErr),
        Case(what: "SRV with a valid target", update: {
            $0.add(Self.opaque("_y._tcp.example.test.", 33, [0, 10, 0, 5, 0x1F, 0x90, 3] + Array("www".utf8) + [0]))
        }, rcode: .noError),
        Case(what: "CAA that is whole", update: { $0.add(Self.opaque("caa.example.test.", 257, [0, 5] + Array("issue".utf8) + Array("ca.example".utf8))) }, rcode: .noError),
    ]

    /// A malformed NSEC3: its hash length promises more octets than follow.
    static let badNSEC3 = Case(what: "NSEC3 whose hash overruns", update: { $0.add(Self.opaque("n3.example.test.", 50, [1, 0, 0, 10, 0, 20, 1, 2, 3])) }, rcode: .formErr)

    static func send(_ update: UpdateBuilder, port: Int, key: TSIGKey) async throws -> ResponseCode {
        let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port, key: key))
        defer { Task { await client.shutdown() } }
        do {
            return try await client.send(update.message()).rcode
        } catch DNSError.formatError {
            return .formErr  // answered unsigned, as servers may answer what they cannot parse
        }
    }

    static func lines(_ name: DNSName, port: Int, key: TSIGKey) async throws -> Set<String> {
        let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port, key: key))
        defer { Task { await client.shutdown() } }
        let records = try await client.transfer(zone: "example.test.").records.filter { $0.name == name }
        return Set(records.map { "\($0.type) \($0.rdata.presentation.lowercased())" })
    }

    @Test func refusesOrIgnoresWhatBINDDoesAndStaysTransferable() async throws {
        let ours = try await EmbeddedServer.start()
        defer { Task { await ours.stop() } }
        try await BindServer.with { bind in
            for c in Self.cases + [Self.badNSEC3] {
                var update = UpdateBuilder(zone: "example.test.")
                try c.update(&update)
                #expect(try await Self.send(update, port: ours.port, key: ours.key) == c.rcode, "ours: \(c.what)")
                if c.what != Self.badNSEC3.what {
                    #expect(try await Self.send(update, port: bind.port, key: bind.key) == c.rcode, "BIND: \(c.what)")
                }
            }
            // The same zone content results, name by name.
            for name: DNSName in ["both.example.test.", "two.example.test.", "example.test.", "caa.example.test."] {
                let mine = try await Self.lines(name, port: ours.port, key: ours.key).filter { !$0.hasPrefix("SOA") && !$0.hasPrefix("NS") }
                let theirs = try await Self.lines(name, port: bind.port, key: bind.key).filter { !$0.hasPrefix("SOA") && !$0.hasPrefix("NS") }
                #expect(mine == theirs, "\(name)")
            }
            #expect(try await Self.lines("two.example.test.", port: ours.port, key: ours.key) == ["CNAME t2.example.test."])
        }
        // A BIND secondary takes the whole zone.
        let port = Ports.free()
        let secondary = try await SecondaryServer.start(.bind, port: port, zone: "example.test.", primaryPort: ours.port, key: ours.key)
        defer { secondary.stop() }
        let copied = try await Poll.until(within: .seconds(20), every: .milliseconds(100)) {
            (try? await Self.lines("_y._tcp.example.test.", port: port, key: ours.key))?.isEmpty == false
        }
        #expect(copied, "the BIND secondary did not load the zone")
    }

    @Test func rdataRulesNameTheProblem() {
        #expect(RDataRules.problem(RRType(33), .opaque([0, 1, 2])) == "TYPE33 RDATA ends early")
        #expect(RDataRules.problem(RRType(257), .opaque([0, 0])) == "TYPE257 RDATA has a tag of 0 octets; 1 to 15 are allowed")
        #expect(RDataRules.problem(RRType(0), .opaque([])) == "TYPE0 records cannot be stored")
        #expect(RDataRules.problem(RRType(33), .opaque([0, 0, 0, 0, 0, 0, 0xC0, 12])) == "TYPE33 RDATA has a compressed or malformed name")
        #expect(RDataRules.problem(RRType(47), .opaque([0, 0, 1, 0])) == "TYPE47 RDATA has a type bitmap window ending in a zero octet")
        #expect(RDataRules.problem(RRType(65280), .opaque([1, 2, 3])) == nil)  // unknown: opaque (RFC 3597)
        #expect(RDataRules.problem(.txt, .txt(TXT("fine"))) == nil)
    }
}

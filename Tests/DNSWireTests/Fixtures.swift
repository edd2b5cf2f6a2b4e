import DNSWire
import NIOCore

/// Messages with every RR type we parse, names worth compressing, EDNS0 and UPDATE sections.
enum Fixtures {
    static let soa = SOA(mname: "ns1.example.com.", rname: "hostmaster.example.com.", serial: 2_024_010_101,
                         refresh: 3600, retry: 600, expire: 86400, minimum: 60)

    static var everyType: Message {
        var m = Message(id: 0xBEEF, isResponse: true, opcode: .query, authoritative: true, recursionDesired: true,
                        rcode: .nxDomain, questions: [Question(name: "www.example.com.", type: .a)])
        m.answers = [
            ResourceRecord(name: "www.example.com.", type: .a, ttl: 300, rdata: .a(IPv4Address(192, 0, 2, 1))),
            ResourceRecord(name: "www.example.com.", type: .aaaa, ttl: 300, rdata: .aaaa(try! IPv6Address("2001:db8::1"))),
            ResourceRecord(name: "alias.example.com.", type: .cname, ttl: 60, rdata: .cname("www.example.com.")),
            ResourceRecord(name: "example.com.", type: .mx, ttl: 60, rdata: .mx(preference: 10, exchange: "mail.example.com.")),
            ResourceRecord(name: "1.2.0.192.in-addr.arpa.", type: .ptr, ttl: 60, rdata: .ptr("www.example.com.")),
            .txt("doc.example.com.", TXT(strings: [[], [0, 255, 34, 92], Array(repeating: 7, count: 255)])),
            ResourceRecord(name: "example.com.", type: RRType(65280), ttl: 1, rdata: .opaque([1, 2, 3, 0xC0, 0x0C])),
        ]
        m.authority = [
            ResourceRecord(name: "example.com.", type: .ns, ttl: 3600, rdata: .ns("ns1.example.com.")),
            ResourceRecord(name: "example.com.", type: .soa, ttl: 3600, rdata: .soa(soa)),
        ]
        m.additional = [ResourceRecord(name: "ns1.example.com.", type: .a, ttl: 3600, rdata: .a(IPv4Address(192, 0, 2, 53)))]
        m.edns = EDNS(udpPayloadSize: 1232, dnssecOK: true, options: [EDNSOption(code: 10, data: Array(0..<8))])
        return m
    }

    static var update: Message {
        var u = UpdateBuilder(zone: "example.com.")
        u.require(.rrsetExists("a.example.com.", .txt))
        u.require(.rrsetEquals("b.example.com.", .txt, [.txt(TXT("v1")), .txt(TXT("v2"))]))
        u.require(.rrsetDoesNotExist("c.example.com.", .txt))
        u.require(.nameInUse("d.example.com."))
        u.require(.nameNotInUse("e.example.com."))
        u.add(.txt("f.example.com.", TXT("new"), ttl: 120))
        u.apply(.deleteRRset("g.example.com.", .txt))
        u.apply(.deleteName("h.example.com."))
        u.apply(.deleteRecord("i.example.com.", .txt, .txt(TXT("old"))))
        return u.message(id: 4242)
    }

    static func bytes(_ message: Message) -> [UInt8] {
        Array(try! message.encode().readableBytesView)
    }
}

import DNSStore
@testable import DNSStoreRoute53
import DNSWire
import Testing

/// How an RFC 2136 UPDATE becomes one Route 53 change batch, with no I/O, and the text forms the
/// API uses for names and TXT values.
@Suite("Route 53 update plans")
struct Route53UpdatePlanTests {
    static let zone: DNSName = "example.test."

    static func set(_ name: String, _ texts: [String], ttl: Int = 30) -> Route53RecordSet {
        Route53RecordSet(name: name, type: "TXT", ttl: ttl, values: texts.map { Route53Text.value(TXT($0)) })
    }

    static func excerpt(_ sets: [Route53RecordSet]) -> Route53Excerpt {
        var excerpt = Route53Excerpt()
        for set in sets { excerpt.set(set, at: Route53Text.name(set.name)!, type: set.type) }
        return excerpt
    }

    /// Only names an UPDATE gives a whole new set, replacing what they held or required empty,
    /// are planned unread; and a value's length is counted as `value` writes it.
    @Test func onlyNamesGivenAWholeNewSetArePlannedUnread() throws {
        let (a, b, c, d, e): (DNSName, DNSName, DNSName, DNSName, DNSName) =
            ("a.example.test.", "b.example.test.", "c.example.test.", "d.example.test.", "e.example.test.")
        var update = UpdateBuilder(zone: Self.zone)
        update.replace(a, .txt, with: [.txt(TXT("new"))], ttl: 30)  // whole: unread
        update.replace(b, .txt, with: [.txt(TXT("new"))], ttl: 30)  // but a prerequisite reads it
        update.require(.rrsetEquals(b, .txt, [.txt(TXT("old"))]))
        update.add(.txt(c, TXT("more")))  // an add alone joins what is there
        update.apply(.deleteName(d))  // a delete must name the values it deletes
        update.apply(.deleteName(e))
        update.add(.txt(e, TXT("e")))
        let (f, g, h): (DNSName, DNSName, DNSName) = ("f.example.test.", "g.example.test.", "h.example.test.")
        update.require(.rrsetDoesNotExist(f, .txt))  // must be empty, and is added to: unread
        update.add(.txt(f, TXT("f")))
        update.require(.nameNotInUse(g))  // must be empty, nothing added: read
        update.require(.rrsetDoesNotExist(h, .txt))  // also required to exist elsewhere: read
        update.require(.nameInUse(h))
        update.add(.txt(h, TXT("h")))
        let unread = Route53UpdatePlan.plannedUnread(update.prerequisites, update.operations)
        #expect(unread == [a, e, f])
        for txt in [TXT("plain"), TXT(strings: [Array("q\"\\".utf8), [0x00, 0xFF, 0x41]]), TXT(strings: [])] {
            #expect(Route53Text.valueCharacters(txt) == Route53Text.value(txt).count)
        }
    }

    @Test func namesAndValuesRoundTripThroughTheAPIsTextForms() throws {
        let odd = try DNSName(labels: [Array("a b.\\\"*".utf8), [0x00, 0xFF, 0x41], Array("_x-1".utf8), Array("example".utf8), Array("test".utf8)])
        let text = Route53Text.name(odd)
        #expect(text == #"a\040b\056\134\042\052.\000\377a._x-1.example.test."#)
        #expect(Route53Text.name(text) == odd)
        #expect(Route53Text.name("WWW.Example.test.") == "www.example.test.")

        let txt = TXT(strings: [Array(#"{"k":"v\"}"#.utf8), [0x00, 0x0A, 0xC3, 0xA9], [], Array(repeating: 0x61, count: 255)])
        let value = Route53Text.value(txt)
        #expect(value.hasPrefix(#""{\"k\":\"v\\\"}" "\000\012\303\251" """#))
        #expect(Route53Text.txt(value) == txt)
        // What another tool may have written: unquoted strings and `\c` escapes.
        #expect(Route53Text.txt(#"abc "d\"e" \"f"#) == TXT(strings: [Array("abc".utf8), Array("d\"e".utf8), Array("\"f".utf8)]))
        #expect(Route53Text.txt(#""unclosed"#) == nil)
        #expect(Route53Text.txt(#""\9""#) == TXT(strings: [Array("9".utf8)]))
        #expect(Route53Text.txt(#""\77""#) == nil, "an octal escape needs three digits")
        #expect(Route53Text.soa("ns.example. admin.example. 7 7200 900 1209600 86400")?.serial == 7)
        #expect(Route53Text.soa("ns.example. admin.example. 7 7200") == nil)
    }

    /// A compare-and-swap: the DELETE repeats the values read, the CREATE holds the new ones.
    @Test func aSwapDeletesWhatWasReadAndCreatesTheNew() {
        let name: DNSName = "doc.example.test."
        let old = Self.set("doc.example.test.", ["v1"])
        var update = UpdateBuilder(zone: Self.zone)
        update.require(.rrsetEquals(name, .txt, [.txt(TXT("v1"))]))
        update.replace(name, .txt, with: [.txt(TXT("v2"))], ttl: 60)
        let outcome = Route53UpdatePlan.plan(zone: Self.zone, prerequisites: update.prerequisites, operations: update.operations, over: Self.excerpt([old]))
        #expect(outcome == .changes([Route53Change(.delete, old), Route53Change(.create, Self.set("doc.example.test.", ["v2"], ttl: 60))]))
    }

    /// Each prerequisite that does not hold gives RFC 2136's RCODE, and nothing is sent.
    @Test(arguments: [
        (Prerequisite.rrsetEquals("doc.example.test.", .txt, [.txt(TXT("v0"))]), ResponseCode.nxRRSet),
        (.rrsetExists("none.example.test.", .txt), .nxRRSet),
        (.rrsetDoesNotExist("doc.example.test.", .txt), .yxRRSet),
        (.nameInUse("none.example.test."), .nxDomain),
        (.nameNotInUse("doc.example.test."), .yxDomain),
        (.rrsetExists("doc.example.test.", .a), .refused),
    ])
    func aPrerequisiteThatFailsGivesItsRcode(_ prerequisite: Prerequisite, _ rcode: ResponseCode) {
        var update = UpdateBuilder(zone: Self.zone)
        update.require(prerequisite)
        update.replace("doc.example.test.", .txt, with: [.txt(TXT("v2"))], ttl: 30)
        let outcome = Route53UpdatePlan.plan(
            zone: Self.zone, prerequisites: update.prerequisites, operations: update.operations, over: Self.excerpt([Self.set("doc.example.test.", ["v1"])]))
        guard case .refused(let got, _) = outcome else {
            Issue.record("planned \(outcome)")
            return
        }
        #expect(got == rcode)
    }

    /// Adding a record already there, deleting a name that holds nothing: nothing to send. Names
    /// outside the zone are NOTZONE; records other than TXT are not written.
    @Test func changesThatChangeNothingSendNothing() {
        let held = Self.set("doc.example.test.", ["v1", "v2"])
        var update = UpdateBuilder(zone: Self.zone)
        update.add(ResourceRecord(name: "doc.example.test.", type: .txt, ttl: 30, rdata: .txt(TXT("v2"))))
        update.apply(.deleteName("none.example.test."))
        update.apply(.deleteRecord("none.example.test.", .txt, .txt(TXT("x"))))
        #expect(Route53UpdatePlan.plan(zone: Self.zone, prerequisites: [], operations: update.operations, over: Self.excerpt([held])) == .changes([]))

        var removal = UpdateBuilder(zone: Self.zone)
        removal.apply(.deleteRecord("doc.example.test.", .txt, .txt(TXT("v1"))))
        #expect(
            Route53UpdatePlan.plan(zone: Self.zone, prerequisites: [], operations: removal.operations, over: Self.excerpt([held]))
                == .changes([Route53Change(.delete, held), Route53Change(.create, Self.set("doc.example.test.", ["v2"]))]))

        var outside = UpdateBuilder(zone: Self.zone)
        outside.apply(.deleteName("example.org."))
        guard case .refused(.notZone, _) = Route53UpdatePlan.plan(zone: Self.zone, prerequisites: [], operations: outside.operations, over: Route53Excerpt())
        else {
            Issue.record("a name outside the zone was planned")
            return
        }
        var address = UpdateBuilder(zone: Self.zone)
        address.add(ResourceRecord(name: "host.example.test.", type: .a, ttl: 30, rdata: .a(IPv4Address(127, 0, 0, 1))))
        guard case .refused(.refused, _) = Route53UpdatePlan.plan(zone: Self.zone, prerequisites: [], operations: address.operations, over: Route53Excerpt())
        else {
            Issue.record("an A record was planned")
            return
        }
    }

    /// A batch Route 53 would refuse for its size is refused before it is sent.
    @Test func batchesPastRoute53sLimitsAreRefusedBeforeSending() throws {
        let fits = (0..<8).map { Route53Change(.create, Self.set("d\($0).example.test.", [String(repeating: "x", count: 3_900)])) }
        try Route53Transport.checkLimits(fits)
        for tooLarge in [fits + [fits[0]], [Route53Change(.create, Self.set("big.example.test.", [String(repeating: "\"", count: 2_000)]))]] {
            do {
                try Route53Transport.checkLimits(tooLarge)
                Issue.record("a batch of \(tooLarge.count) changes passed")
            } catch let error as StoreError {
                #expect(error.code == .tooLarge, "\(error)")
            }
        }
    }
}

@testable import DNSServer
import DNSWire
import Testing

/// An UPDATE's changes as a value over a stored zone: later operations see earlier ones, the zone
/// itself is untouched until the commit.
@Suite("Zone drafts")
struct ZoneDraftTests {
    static let origin: DNSName = "example.test."

    /// Runs `body` on a draft over a zone holding SOA, NS and `records`.
    static func draft<T>(_ records: [ResourceRecord] = [], _ body: (inout ZoneDraft, any ZoneReading) throws -> T) throws -> T {
        let store = MemoryZoneStore()
        _ = try store.createZoneIfMissing(origin, records: Authority.emptyZone(origin) + records)
        return try store.read(origin) { zone in
            var draft = ZoneDraft(zone)
            return try body(&draft, zone)
        }
    }

    @Test func changesAreSeenByTheDraftAndNotByTheZone() throws {
        try Self.draft([.txt("a.example.test.", TXT("1"))]) { draft, zone in
            #expect(try draft.add(.txt("a.example.test.", TXT("2"))))
            #expect(try !draft.add(.txt("a.example.test.", TXT("2"))), "an equal record is not added twice")
            #expect(try draft.rrset("a.example.test.", .txt)?.count == 2)
            #expect(try zone.rrset("a.example.test.", .txt)?.count == 1)
            try draft.remove("a.example.test.", .txt, .txt(TXT("1")))
            #expect(try draft.rrset("a.example.test.", .txt)?.rdatas == [.txt(TXT("2"))])
        }
    }

    @Test func aRemovedRRsetStaysRemovedWhateverComesAfter() throws {
        try Self.draft([.txt("b.example.test.", TXT("only"))]) { draft, zone in
            try draft.remove("b.example.test.", .txt, .txt(TXT("only")))
            #expect(try draft.rrset("b.example.test.", .txt) == nil)
            #expect(try draft.types(at: "b.example.test.").isEmpty)
            // Removing it again (or a record it never had) must not bring the stored one back.
            try draft.remove("b.example.test.", .txt, .txt(TXT("only")))
            #expect(try draft.rrset("b.example.test.", .txt) == nil)
            #expect(try zone.rrset("b.example.test.", .txt) != nil)
            // And adding afterwards starts a new RRset.
            try draft.add(ResourceRecord(name: "b.example.test.", type: .txt, ttl: 60, rdata: .txt(TXT("new"))))
            #expect(try draft.rrset("b.example.test.", .txt)?.rdatas == [.txt(TXT("new"))])
            #expect(try draft.rrset("b.example.test.", .txt)?.ttl == 60)
        }
    }

    @Test func typesAtANameMergeTheZoneAndTheDraft() throws {
        try Self.draft([.txt("c.example.test.", TXT("t"))]) { draft, _ in
            try draft.add(ResourceRecord(name: "c.example.test.", type: .a, ttl: 300, rdata: .a(IPv4Address(10, 0, 0, 1))))
            #expect(Set(try draft.types(at: "c.example.test.").keys) == [.txt, .a])
            try draft.remove("c.example.test.", .txt, .txt(TXT("t")))
            #expect(Set(try draft.types(at: "c.example.test.").keys) == [.a])
        }
    }

    @Test func anRRsetOfThousandsKeepsEachRecordOnce() throws {
        try Self.draft { draft, _ in
            for i in 0..<20_000 { try draft.add(.txt("big.example.test.", TXT("record \(i)"))) }
            for i in stride(from: 0, to: 20_000, by: 2) { try draft.add(.txt("big.example.test.", TXT("record \(i)"))) }
            for i in stride(from: 1, to: 20_000, by: 2) { try draft.remove("big.example.test.", .txt, .txt(TXT("record \(i)"))) }
            let set = try #require(try draft.rrset("big.example.test.", .txt))
            #expect(set.count == 10_000)
            #expect(set.contains(.txt(TXT("record 0"))) && !set.contains(.txt(TXT("record 1"))))
        }
    }
}

import DNSWire
import Testing

@Suite("UPDATE")
struct UpdateTests {
    @Test func prerequisitesAndUpdatesUseRFC2136Forms() throws {
        let m = Fixtures.update
        #expect(m.opcode == .update)
        #expect(m.zone == Question(name: "example.com.", type: .soa))
        let forms = m.prerequisites.map { "\($0.class) \($0.type) \($0.ttl) \($0.rdata == .empty ? "empty" : "data")" }
        #expect(forms == ["ANY TXT 0 empty", "IN TXT 0 data", "IN TXT 0 data", "NONE TXT 0 empty", "ANY ANY 0 empty", "NONE ANY 0 empty"])
        let updates = m.updates.map { "\($0.class) \($0.type) \($0.ttl) \($0.rdata == .empty ? "empty" : "data")" }
        #expect(updates == ["IN TXT 120 data", "ANY TXT 0 empty", "ANY ANY 0 empty", "NONE TXT 0 data"])
    }

    @Test func sectionsParseBackIntoTheBuilder() throws {
        let decoded = try Message(decoding: Fixtures.bytes(Fixtures.update))
        let prerequisites = try decoded.parsedPrerequisites(zoneClass: .in)
        #expect(Set(prerequisites) == [
            .rrsetExists("a.example.com.", .txt),
            .rrsetEquals("b.example.com.", .txt, [.txt(TXT("v1")), .txt(TXT("v2"))]),
            .rrsetDoesNotExist("c.example.com.", .txt),
            .nameInUse("d.example.com."),
            .nameNotInUse("e.example.com."),
        ])
        #expect(try decoded.parsedOperations(zoneClass: .in) == [
            .add(.txt("f.example.com.", TXT("new"), ttl: 120)),
            .deleteRRset("g.example.com.", .txt),
            .deleteName("h.example.com."),
            .deleteRecord("i.example.com.", .txt, .txt(TXT("old"))),
        ])
    }

    @Test func malformedUpdateSectionsAreRejected() {
        var m = Message(opcode: .update, questions: [Question(name: "example.com.", type: .soa)])
        m.updates = [ResourceRecord(name: "x.example.com.", type: .txt, class: .any, ttl: 5, rdata: .empty)]
        #expect(throws: UpdateFormatError.badUpdate("x.example.com.", .any)) { try m.parsedOperations(zoneClass: .in) }
        m.prerequisites = [ResourceRecord(name: "x.example.com.", type: .txt, class: .none, ttl: 1, rdata: .empty)]
        #expect(throws: UpdateFormatError.prerequisiteTTL("x.example.com.")) { try m.parsedPrerequisites(zoneClass: .in) }
    }
}

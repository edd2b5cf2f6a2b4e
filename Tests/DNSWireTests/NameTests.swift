import DNSWire
import Testing

/// Parses at run time: `DNSName("literal")` is literal syntax and would trap on a bad name.
func parse(_ text: String) throws -> DNSName { try DNSName(text) }

@Suite("Names")
struct NameTests {
    @Test func parsesAndPrintsPresentationForm() throws {
        let name = try parse("Www.Example.COM")
        #expect(name.description == "Www.Example.COM.")
        #expect(name.labels == [Array("Www".utf8), Array("Example".utf8), Array("COM".utf8)])
        #expect(try parse("example.com.") == parse("example.com"))
        #expect(try parse(".") == .root)
        #expect(DNSName.root.description == ".")
    }

    @Test func escapesRoundTrip() throws {
        let name = try DNSName(labels: [[UInt8(ascii: "a"), UInt8(ascii: "."), 0, 255, UInt8(ascii: " ")], Array("b\\c".utf8)])
        #expect(name.description == #"a\.\000\255\032.b\\c."#)
        #expect(try parse(name.description).wire == name.wire)
        #expect(try parse(#"\065bc"#).labels == [Array("Abc".utf8)])
    }

    @Test func comparesCaseInsensitivelyAndKeepsCase() throws {
        let upper = try parse("MiXeD.Example")
        let lower = try parse("mixed.example")
        #expect(upper == lower)
        #expect(upper.hashValue == lower.hashValue)
        #expect(Set([upper, lower]).count == 1)
        #expect(upper.description == "MiXeD.Example.")
        #expect(upper.isSubdomain(of: "EXAMPLE."))
        #expect(!upper.isSubdomain(of: "ample."))
        #expect(try parse("a.b.c") < parse("b.b.c"))
    }

    @Test func rejectsBadNames() throws {
        #expect(throws: DNSWireError.labelTooLong(64)) { try DNSName(String(repeating: "a", count: 64) + ".com") }
        #expect(throws: DNSWireError.emptyLabel) { try parse("a..b") }
        #expect(throws: DNSWireError.emptyLabel) { try parse(".a") }
        let long = Array(repeating: String(repeating: "a", count: 63), count: 4).joined(separator: ".")
        #expect(throws: DNSWireError.nameTooLong(257)) { try parse(long) }
        let longest = Array(repeating: String(repeating: "a", count: 63), count: 3).joined(separator: ".") + "." + String(repeating: "b", count: 61)
        #expect(try parse(longest).wireLength == 255)
        #expect(throws: DNSWireError.self) { try parse(#"a\25"#) }
        #expect(throws: DNSWireError.self) { try parse(#"a\300"#) }
    }

    @Test func buildsRelatives() throws {
        let zone = try parse("example.com")
        #expect(try zone.prepending("www").description == "www.example.com.")
        #expect(try parse("www").appending(zone) == "www.example.com.")
        #expect(try parse("a.b.example.com").parent == "b.example.com.")
        #expect(zone.labelCount == 2)
    }
}

/// Names that point at names read before in the same message decode to the same names whether the
/// reader follows the pointers or reuses what it read (the reader keeps the first and last name).
@Suite("Compressed names read back")
struct CompressedNameReadingTests {
    @Test func pointersIntoEarlierNamesGiveTheFullNames() throws {
        let owners: [DNSName] = ["example.test.", "a.example.test.", "b.a.example.test.", "c.b.a.example.test.", "Example.TEST.", "x.y.example.test."]
        let message = Message(
            id: 1, isResponse: true, questions: [Question(name: "example.test.", type: .txt)],
            answers: owners.map { .txt($0, TXT("v")) },
            authority: [ResourceRecord(name: "example.test.", type: .ns, ttl: 60, rdata: .ns("ns.b.a.example.test."))])
        let octets = try message.encode()
        #expect(octets.readableBytes < 200, "names were compressed")
        let decoded = try Message(decoding: octets)
        #expect(decoded.answers.map(\.name.description) == owners.map(\.description))
        #expect(decoded.authority.first?.rdata == .ns("ns.b.a.example.test."))
        #expect(decoded == message)
    }
}

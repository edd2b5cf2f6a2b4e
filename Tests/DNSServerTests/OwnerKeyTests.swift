@testable import DNSServer
import DNSWire
import Testing

/// The keys names are stored under: labels from the right, letters folded, each label ended by a
/// zero octet (escaped where a label holds one), so a zone's names sort parent first.
@Suite("Owner keys")
struct OwnerKeyTests {
    @Test func labelsRunFromTheRightFoldedAndEscaped() throws {
        #expect(OwnerKey.key(DNSName.root) == [])
        #expect(OwnerKey.key(DNSName("Www.Example.TEST.")) == Array("test".utf8) + [0] + Array("example".utf8) + [0] + Array("www".utf8) + [0])
        let odd = try DNSName(labels: [[0x00, 0x41], [0x01, 0x7A]])
        #expect(OwnerKey.key(odd) == [0x01, 0x02, 0x7A, 0x00, 0x01, 0x01, 0x61, 0x00])
    }

    @Test func namesAtOrBelowANameSortRightAfterIt() throws {
        let names = try ["example.test.", "a.example.test.", "b.a.example.test.", "example-z.test.", "z.example.test.", "test."]
            .map { try DNSName($0) }
        let sorted = names.sorted { OwnerKey.key($0).lexicographicallyPrecedes(OwnerKey.key($1)) }.map(\.description)
        #expect(sorted == ["test.", "example.test.", "a.example.test.", "b.a.example.test.", "z.example.test.", "example-z.test."])
        // Exactly the names strictly below a name fall inside its descendants' range.
        let (after, before) = OwnerKey.descendants(of: OwnerKey.key(DNSName("a.example.test.")))
        for name in names {
            let key = OwnerKey.key(name)
            let inside = after.lexicographicallyPrecedes(key) && key.lexicographicallyPrecedes(before)
            #expect(inside == (name.description == "b.a.example.test."), "\(name)")
        }
    }
}

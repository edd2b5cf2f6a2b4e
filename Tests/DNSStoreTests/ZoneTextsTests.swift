@testable import DNSStore
import DNSWire
import Testing

@Suite("Zone texts kept for a check")
struct ZoneTextsTests {
    @Test(arguments: [false, true])
    func namesAreFoundReplacedAndAccountedEvenWhenTheirHashesCollide(colliding: Bool) throws {
        var texts = colliding ? ZoneTexts(hash: { _ in 7 }) : ZoneTexts()
        let names: [DNSName] = ["b.example.", "a.example.", "x.a.example.", "c.example."]
        for (i, name) in names.enumerated() { texts.insert(name, .txt(TXT("v\(i)"))) }
        texts.insert("A.example.", .txt(TXT("again")))  // the same name in another case
        #expect(texts["a.example."] == .txt(TXT("again")))
        #expect(texts["b.example."] == .txt(TXT("v0")))
        #expect(texts["x.a.example."] == .txt(TXT("v2")))
        #expect(texts["missing.example."] == nil)
        texts.account("b.example.")
        texts.account("elsewhere.example.")
        #expect(texts.isAccounted("b.example.") && texts.isAccounted("elsewhere.example."))
        #expect(!texts.isAccounted("c.example."))
        // Canonical order, replaced entries once, accounted ones left out.
        #expect(texts.unaccounted().map { $0.description.lowercased() } == ["a.example.", "x.a.example.", "c.example."])
    }
}

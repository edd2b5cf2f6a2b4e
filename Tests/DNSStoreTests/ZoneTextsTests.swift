@testable import DNSStore
import Foundation
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

@Suite("A check's partitions")
struct SpilledTextsTests {
    /// Whatever was held in memory or in files, each partition gives back its names' texts (the
    /// last at a name), the entries put with them and what was accounted for early; a record,
    /// its data chunks and the entries that list it share a partition; the files go at the end.
    @Test(arguments: [1 << 30, 200])
    func partitionsGiveBackWhatWasPutInThemInMemoryOrInFiles(memoryLimit: Int) throws {
        // Records at depth 4 under "s.example." (depth 2), like a store's at root plus six.
        var spilled = SpilledTexts(depth: 4, memoryLimit: memoryLimit)
        defer { spilled.remove() }
        try spilled.insert("s.example.", .txt(TXT("root")))
        for i in 0..<300 {
            let record = try DNSName("r\(i).c.s.example.")
            try spilled.insert(record, .txt(TXT("record \(i)")))
            try spilled.insert(try record.prepending("0-0000000\(i % 10)"), .txt(TXT("chunk \(i)")))
            try spilled.insert(.init(node: i % 3, chunk: i % 7, id: "id-\(i)", name: try DNSName("R\(i).c.s.example.")))
        }
        try spilled.insert("r5.c.s.example.", .txt(TXT("record 5 again")))
        spilled.account("r7.c.s.example.")
        spilled.account("s.example.")
        #expect(spilled.top["s.example."] == .txt(TXT("root")) && spilled.top.isAccounted("s.example."))
        var seen = 0
        var entries = 0
        for index in 0..<SpilledTexts.partitions {
            let (texts, found) = try spilled.take(index)
            for entry in found {
                let i = Int(entry.id.dropFirst(3))!
                #expect(entry.node == i % 3 && entry.chunk == i % 7)
                #expect(texts[entry.name] == .txt(TXT(i == 5 ? "record 5 again" : "record \(i)")))
                #expect(texts[try entry.name.prepending("0-0000000\(i % 10)")] == .txt(TXT("chunk \(i)")))
                #expect(texts.isAccounted(entry.name) == (i == 7))
            }
            entries += found.count
            seen += texts.unaccounted().count
        }
        #expect(entries == 300)
        #expect(seen == 600 - 1)  // every record and chunk once, but the one accounted for early
        #expect((spilled.folder != nil) == (memoryLimit == 200))
        spilled.remove()
        #expect(spilled.folder.map { FileManager.default.fileExists(atPath: $0.path) } != true)
    }
}

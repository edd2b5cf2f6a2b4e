@testable import DNSStore
import DNSWire
import Testing

/// Where index entries go and what an UPDATE writes for them, as values (section 3.2 of docs/FORMAT.md).
@Suite("Index chunk plans")
struct IndexChunkPlanTests {
    static let node: DNSName = "c.0.db.0._dnsstore.example.test."

    static func name(_ page: Int) -> DNSName {
        let chunk = try! node.prepending("0")
        return page == 0 ? chunk : try! chunk.prepending("_p\(page)")
    }

    /// A chunk as a server holds it: nil for a page that does not exist.
    static func chunk(_ pages: [IndexPage?]) throws -> IndexChunkPlan {
        let loaded = try pages.enumerated().map { k, page -> LoadedPage in
            guard let page else { return LoadedPage(name: name(k), rdata: nil, page: IndexPage(chunk: 0, page: k)) }
            return LoadedPage(name: name(k), rdata: .txt(TXT(splitting: try page.text(level: .record))), page: page)
        }
        return IndexChunkPlan(level: .record, chunk: 0, original: loaded) { name($0) }
    }

    /// The pages after the plan's UPDATE, by page number (absent: deleted or never there).
    static func result(of plan: IndexChunkPlan, from before: [IndexPage?]) throws -> (pages: [Int: [UInt8]], update: UpdateBuilder) {
        var plan = plan
        try plan.settle()
        var update = UpdateBuilder(zone: "example.test.")
        try plan.write(into: &update, ttl: 30)
        var pages: [Int: [UInt8]] = [:]
        for (k, page) in before.enumerated() { if let page { pages[k] = try page.text(level: .record) } }
        for op in update.operations {
            switch op {
            case .deleteRRset(let owner, _):
                if let k = (0..<64).first(where: { name($0) == owner }) { pages[k] = nil }
            case .add(let record):
                if let k = (0..<64).first(where: { name($0) == record.name }), case .txt(let txt) = record.rdata { pages[k] = txt.joined }
            default: break
            }
        }
        return (pages, update)
    }

    static func ids(_ prefix: String, _ count: Int, length: Int = 100) -> [String: IndexEntry] {
        Dictionary(uniqueKeysWithValues: (0..<count).map { i in
            let stem = "\(prefix)\(i)-"
            return (stem + String(repeating: "x", count: length - stem.count), IndexEntry.unleased)
        })
    }

    /// Fills page 0 until its text is exactly `octets` long with ids of about 100 characters.
    static func page0(octets: Int) throws -> IndexPage {
        var page = IndexPage(chunk: 0, page: 0)
        var i = 0
        while try page.text(level: .record).count + 106 <= octets {
            page.entries["id\(i)-" + String(repeating: "y", count: 100 - "id\(i)-".count)] = IndexEntry.unleased
            i += 1
        }
        let gap = octets - (try page.text(level: .record).count) - 6
        page.entries[String(repeating: "z", count: gap)] = IndexEntry.unleased
        #expect(try page.text(level: .record).count == octets)
        return page
    }

    @Test func aPageIsCheckedAsItWillBeWrittenPagesCountIncluded() throws {
        // Page 0 at 15,998 octets: one more id opens page 1, and page 0 gains "pages":2.
        let before: [IndexPage?] = [try Self.page0(octets: 15_998)]
        var plan = try Self.chunk(before)
        try plan.add(String(repeating: "n", count: 100), .unleased)
        let (pages, _) = try Self.result(of: plan, from: before)
        #expect(pages.count == 2)
        for (k, text) in pages { #expect(text.count <= IndexPage.maxTextOctets, "page \(k) is \(text.count) octets") }
        let page0 = try IndexPage(text: pages[0]!, level: .record, name: Self.name(0))
        #expect(page0.pages == 2)
        // Every id is listed once across the pages.
        let all = try pages.values.flatMap { try IndexPage(text: $0, level: .record, name: Self.name(0)).entries.keys }
        #expect(all.count == before[0]!.entries.count + 1 && Set(all).count == all.count)
    }

    @Test func newIdsGoToTheFirstPageWithRoom() throws {
        // Page 0 emptied by deletes keeps the chunk's page count; new ids land there, not on page 2.
        let before: [IndexPage?] = [
            IndexPage(chunk: 0, page: 0, pages: 3), IndexPage(chunk: 0, page: 1, entries: Self.ids("a", 150)),
            IndexPage(chunk: 0, page: 2, entries: Self.ids("b", 3)),
        ]
        var plan = try Self.chunk(before)
        try plan.add("new", .unleased)
        let (pages, update) = try Self.result(of: plan, from: before)
        #expect(try IndexPage(text: pages[0]!, level: .record, name: Self.name(0)).entries.keys.contains("new"))
        #expect(pages[2] == (try before[2]!.text(level: .record)))
        // Only page 0 is required and written.
        #expect(update.prerequisites == [.rrsetEquals(Self.name(0), .txt, [.txt(TXT(splitting: try before[0]!.text(level: .record)))])])
    }

    @Test func emptiedTrailingPagesGoAndThePageCountShrinks() throws {
        let before: [IndexPage?] = [
            IndexPage(chunk: 0, page: 0, pages: 3, entries: Self.ids("a", 2)), IndexPage(chunk: 0, page: 1, entries: Self.ids("b", 1)),
            IndexPage(chunk: 0, page: 2, entries: Self.ids("c", 1)),
        ]
        var plan = try Self.chunk(before)
        for id in Self.ids("c", 1).keys { plan.remove(id) }
        for id in Self.ids("b", 1).keys { plan.remove(id) }
        let (pages, update) = try Self.result(of: plan, from: before)
        #expect(Set(pages.keys) == [0])
        let page0 = try IndexPage(text: pages[0]!, level: .record, name: Self.name(0))
        #expect(page0.pages == 1 && page0.entries.count == 2)
        #expect(update.prerequisites.count == 3)  // each page changed was required as read
    }

    @Test func anEmptiedMiddlePageIsDeletedAndReadsAsEmpty() throws {
        let before: [IndexPage?] = [
            IndexPage(chunk: 0, page: 0, pages: 3, entries: Self.ids("a", 2)), IndexPage(chunk: 0, page: 1, entries: Self.ids("b", 1)),
            IndexPage(chunk: 0, page: 2, entries: Self.ids("c", 1)),
        ]
        var plan = try Self.chunk(before)
        for id in Self.ids("b", 1).keys { plan.remove(id) }
        let (pages, _) = try Self.result(of: plan, from: before)
        #expect(Set(pages.keys) == [0, 2])
        #expect(try IndexPage(text: pages[0]!, level: .record, name: Self.name(0)).pages == 3)

        // Filling that missing page later depends on page 0 still counting it.
        var full0 = try Self.page0(octets: 15_990)
        full0.pages = 3
        var full2 = try Self.page0(octets: 15_990)
        full2.page = 2
        let after: [IndexPage?] = [full0, nil, full2]
        var refill = try Self.chunk(after)
        try refill.add("late", .unleased)
        let (refilled, update) = try Self.result(of: refill, from: after)
        #expect(try IndexPage(text: refilled[1]!, level: .record, name: Self.name(1)).entries.keys.contains("late"))
        #expect(update.prerequisites.contains(.rrsetEquals(Self.name(0), .txt, [.txt(TXT(splitting: try after[0]!.text(level: .record)))])))
        #expect(update.prerequisites.contains(.rrsetDoesNotExist(Self.name(1), .txt)))
    }

    @Test func page0StaysWhileItHoldsAFloorOrCountsLaterPages() throws {
        let before: [IndexPage?] = [IndexPage(chunk: 0, page: 0, entries: ["only": IndexEntry.unleased])]
        var plan = try Self.chunk(before)
        plan.remove("only")
        plan.raiseFloor(to: 7)
        let (pages, _) = try Self.result(of: plan, from: before)
        #expect(String(decoding: pages[0]!, as: UTF8.self) == #"{"floor":7,"id":0,"record":{}}"#)

        var next = try Self.chunk([try IndexPage(text: pages[0]!, level: .record, name: Self.name(0))])
        #expect(next.readFloor() == 7)
        // A floor never goes down.
        next.raiseFloor(to: 3)
        #expect(next.readFloor() == 7)

        var empty = try Self.chunk([IndexPage(chunk: 0, page: 0, entries: ["only": IndexEntry.unleased])])
        empty.remove("only")
        let (gone, update) = try Self.result(of: empty, from: [IndexPage(chunk: 0, page: 0, entries: ["only": IndexEntry.unleased])])
        #expect(gone.isEmpty)
        #expect(update.operations == [UpdateOperation.deleteRRset(Self.name(0), .txt)])
    }

    @Test func anOversizePageIsLaidOutAgain() throws {
        // A page over the limit (as earlier writers could leave) is split when its chunk is laid out.
        var big = IndexPage(chunk: 0, page: 0, entries: Self.ids("big", 170))
        #expect(try big.text(level: .record).count > IndexPage.maxTextOctets)
        big.pages = 1
        let (pages, _) = try Self.result(of: try Self.chunk([big]), from: [big])
        #expect(pages.count == 2)
        for (k, text) in pages { #expect(text.count <= IndexPage.maxTextOctets, "page \(k)") }
    }

    @Test func textAndParseAgree() throws {
        let page = IndexPage(chunk: 5, page: 0, pages: 2, floor: 9, entries: ["a\"b": IndexEntry.unleased, "日本": IndexEntry.unleased])
        let text = try page.text(level: .record)
        #expect(String(decoding: text, as: UTF8.self) == #"{"floor":9,"id":5,"pages":2,"record":{"a\"b":{},"日本":{}}}"#)
        #expect(try IndexPage(text: text, level: .record, name: Self.name(0)) == page)
    }
}

/// Page 0's `"open"` hint: a writer that only adds reads page 0 and the page it names.
@Suite("Index open-page hints")
struct IndexHintTests {
    typealias T = IndexChunkPlanTests

    /// A chunk of which only the pages in `loaded` were read.
    static func partial(_ pages: [IndexPage], loaded: Set<Int>) throws -> IndexChunkPlan {
        let read = try pages.enumerated().map { k, page -> LoadedPage in
            guard loaded.contains(k) else { return LoadedPage(name: T.name(k), rdata: nil, page: IndexPage(chunk: 0, page: k), loaded: false) }
            return LoadedPage(name: T.name(k), rdata: .txt(TXT(splitting: try page.text(level: .record))), page: page)
        }
        return IndexChunkPlan(level: .record, chunk: 0, original: read) { T.name($0) }
    }

    static func page0(_ text: [UInt8]?) throws -> IndexPage {
        try IndexPage(text: try #require(text), level: .record, name: T.name(0))
    }

    static let newID = String(repeating: "n", count: 100)

    @Test func aNewIdGoesOnTheHintedPageAndNothingElseIsTouched() throws {
        let pages = [
            IndexPage(chunk: 0, page: 0, pages: 4, open: 2, entries: T.ids("a", 150)), IndexPage(chunk: 0, page: 1, entries: T.ids("b", 150)),
            IndexPage(chunk: 0, page: 2, entries: T.ids("c", 10)), IndexPage(chunk: 0, page: 3, entries: T.ids("d", 10)),
        ]
        var plan = try Self.partial(pages, loaded: [0, 2])
        #expect(try plan.hasRoom(for: [(Self.newID, .unleased)]))
        try plan.add(Self.newID, .unleased)
        let (after, update) = try T.result(of: plan, from: pages)
        #expect(try IndexPage(text: after[2]!, level: .record, name: T.name(2)).entries.keys.contains(Self.newID))
        // Only the hinted page is required and written; page 0 keeps its hint and its text.
        #expect(update.prerequisites == [.rrsetEquals(T.name(2), .txt, [.txt(TXT(splitting: try pages[2].text(level: .record)))])])
        #expect(after[0] == (try pages[0].text(level: .record)))
    }

    @Test func whenTheHintedPageIsFullThePagesAfterItAreReadAndTheHintMoves() throws {
        let pages = [
            IndexPage(chunk: 0, page: 0, pages: 3, open: 1, entries: T.ids("a", 150)), IndexPage(chunk: 0, page: 1, entries: T.ids("b", 150)),
            IndexPage(chunk: 0, page: 2, entries: T.ids("c", 10)),
        ]
        var partial = try Self.partial(pages, loaded: [0, 1])
        #expect(try !partial.hasRoom(for: [(Self.newID, .unleased)]), "page 1 cannot take it, and page 2 was not read")
        var whole = try Self.partial(pages, loaded: [0, 1, 2])
        #expect(try whole.hasRoom(for: [(Self.newID, .unleased)]))
        try whole.add(Self.newID, .unleased)
        let (after, _) = try T.result(of: whole, from: pages)
        #expect(try IndexPage(text: after[2]!, level: .record, name: T.name(2)).entries.keys.contains(Self.newID))
        #expect(try Self.page0(after[0]).open == 2)
    }

    @Test func withEveryPageFullUpToTheHintANewPageNeedsNoOtherRead() throws {
        let pages = [
            IndexPage(chunk: 0, page: 0, pages: 2, open: 2, entries: T.ids("a", 150)), IndexPage(chunk: 0, page: 1, entries: T.ids("b", 150)),
        ]
        var plan = try Self.partial(pages, loaded: [0])
        #expect(try plan.hasRoom(for: [(Self.newID, .unleased)]))
        try plan.add(Self.newID, .unleased)
        let (after, update) = try T.result(of: plan, from: pages)
        #expect(after.keys.sorted() == [0, 1, 2])
        let page0 = try Self.page0(after[0])
        #expect(page0.pages == 3 && page0.open == 2)
        #expect(!update.prerequisites.contains { if case .rrsetEquals(let owner, _, _) = $0 { return owner == T.name(1) } else { return false } })
    }

    @Test func aDeleteBelowTheHintLowersIt() throws {
        let pages = [
            IndexPage(chunk: 0, page: 0, pages: 3, open: 2, entries: T.ids("a", 150)), IndexPage(chunk: 0, page: 1, entries: T.ids("b", 60)),
            IndexPage(chunk: 0, page: 2, entries: T.ids("c", 10)),
        ]
        var plan = try Self.partial(pages, loaded: [0, 1, 2])
        plan.remove(T.ids("b", 1).keys.first!)
        let (after, _) = try T.result(of: plan, from: pages)
        #expect(try Self.page0(after[0]).open == 1)
    }

    /// Page 0 and the page a write changes both nearly full: page 0 is not rewritten for the hint,
    /// which would put about 64,000 octets of pages into one UPDATE, more than a DNS message holds.
    @Test func aHintMoveThatWouldOverfillTheUpdateWaits() throws {
        let pages = [
            IndexPage(chunk: 0, page: 0, pages: 3, open: 2, entries: T.ids("a", 150)), IndexPage(chunk: 0, page: 1, entries: T.ids("b", 150)),
            IndexPage(chunk: 0, page: 2, entries: T.ids("c", 10)),
        ]
        var plan = try Self.partial(pages, loaded: [0, 1, 2])
        plan.remove(T.ids("b", 1).keys.first!)
        let (after, update) = try T.result(of: plan, from: pages)
        #expect(after[0] == (try pages[0].text(level: .record)), "page 0 as it was, hint included")
        #expect(update.prerequisites == [.rrsetEquals(T.name(1), .txt, [.txt(TXT(splitting: try pages[1].text(level: .record)))])])
    }

    @Test func aChunkWrittenWithoutAHintGainsOne() throws {
        let pages = [IndexPage(chunk: 0, page: 0, pages: 2, entries: T.ids("a", 150)), IndexPage(chunk: 0, page: 1, entries: T.ids("b", 3))]
        var plan = try Self.partial(pages, loaded: [0, 1])
        try plan.add("new", .unleased)
        let (after, _) = try T.result(of: plan, from: pages)
        #expect(try Self.page0(after[0]).open == 1)
        // A one-page chunk has no hint to write.
        var small = try Self.partial([IndexPage(chunk: 0, page: 0, entries: T.ids("a", 3))], loaded: [0])
        try small.add("new", .unleased)
        let (one, _) = try T.result(of: small, from: [IndexPage(chunk: 0, page: 0, entries: T.ids("a", 3))])
        #expect(try Self.page0(one[0]).open == nil)
        #expect(!(String(decoding: one[0]!, as: UTF8.self).contains("open")))
    }

    @Test func aBatchThatDidNotFitTheHintedPageMovesTheHintToWhereBatchesFit() throws {
        // Page 1 has room for a few ids, not for an import's batch of fifty.
        let pages = [
            IndexPage(chunk: 0, page: 0, pages: 2, open: 1, entries: T.ids("a", 150)), IndexPage(chunk: 0, page: 1, entries: T.ids("b", 140)),
        ]
        var plan = try Self.partial(pages, loaded: [0, 1])
        let batch = T.ids("new", 50).map { ($0.key, $0.value) }
        #expect(try plan.hasRoom(for: batch), "every page was read or lies before the hint")
        try plan.add(batch)
        let (after, _) = try T.result(of: plan, from: pages)
        #expect(try IndexPage(text: after[2]!, level: .record, name: T.name(2)).entries.count == 50)
        // The next batch is written from page 2, which has room for one like it; page 1 is left to
        // single writes only after a delete lowers the hint again.
        #expect(try Self.page0(after[0]).open == 2)
    }

    /// `page` filled with ids of about 100 characters until its text is exactly `octets` long.
    static func filled(_ page: IndexPage, to octets: Int) throws -> IndexPage {
        var page = page
        var i = 0
        while try page.text(level: .record).count + 106 <= octets {
            let stem = "f\(page.page)-\(i)-"
            page.entries[stem + String(repeating: "y", count: 100 - stem.count)] = IndexEntry.unleased
            i += 1
        }
        page.entries[String(repeating: "z", count: octets - (try page.text(level: .record).count) - 6)] = IndexEntry.unleased
        #expect(try page.text(level: .record).count == octets)
        return page
    }

    @Test func aFullPage0ThatGrowsByADigitStillLeavesAnUpdateThatFitsAMessage() throws {
        // Page 0 filled to the limit under an older writer; its hint going from 9 to 3 is shorter,
        // but written for the first time (an older writer dropped it) it lengthens page 0.
        var pages = [try Self.filled(IndexPage(chunk: 0, page: 0, pages: 10), to: IndexPage.maxTextOctets)]
        for k in 1..<9 { pages.append(IndexPage(chunk: 0, page: k, entries: T.ids("p\(k)-", 150))) }
        pages.append(try Self.filled(IndexPage(chunk: 0, page: 9), to: IndexPage.maxTextOctets - 116))
        // Read whole, as after a delete lowered the hint: page 3 has room again.
        pages[3].entries = T.ids("p3-", 140)
        var plan = try Self.partial(pages, loaded: Set(0..<10))
        try plan.add(Self.newID, .unleased)
        let (after, update) = try T.result(of: plan, from: pages)
        #expect(try IndexPage(text: after[3]!, level: .record, name: T.name(3)).entries.keys.contains(Self.newID))
        for (k, text) in after { #expect(text.count <= IndexPage.maxTextOctets, "page \(k) is \(text.count) octets") }
        // Two pages as read and as written at most: the UPDATE fits in one DNS message.
        let compared = update.prerequisites.filter { if case .rrsetEquals = $0 { return true } else { return false } }
        #expect(compared.count <= 2)
        #expect(try update.message().encode().readableBytes < 65_535 - 1_000)
    }
}

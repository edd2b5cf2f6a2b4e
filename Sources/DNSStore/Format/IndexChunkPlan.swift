import DNSWire

/// One page of an index chunk as read: its name, its exact RDATA (nil when the page does not
/// exist), and its contents. A page not read (`loaded` false) is left exactly as it is.
struct LoadedPage: Sendable {
    var name: DNSName
    var rdata: RData?
    var page: IndexPage
    var loaded = true
    /// Octets of the page's text as stored, when it was read.
    var textOctets: Int? = nil
}

/// The pages of one index chunk as read, and as they will be once the planned edits are made
/// (section 3.2 of docs/FORMAT.md). A value that does no I/O: it decides where an entry goes
/// (the first page with room), drops trailing empty pages, keeps every page within 16,000
/// octets as it will be written, and then says which pages change and what each UPDATE must
/// require of them.
///
/// A plan may hold only some pages: page 0 and the page its `"open"` hint names, when entries are
/// only added. Pages not read are never placed on, changed or trimmed; those before the hint are
/// full as far as the last writer knew, those after it unknown.
struct IndexChunkPlan {
    let level: IndexLevel
    let chunk: Int
    /// As read: index k is page k.
    let original: [LoadedPage]
    /// As planned; `pages.count` is what page 0's `"pages"` will say.
    private(set) var pages: [IndexPage]
    /// Octets of each page's text as last computed (page 0's with the page count it had then),
    /// dropped whenever the page changes: serializing a full page sorts a thousand names, and
    /// placing each entry of a large chunk would otherwise do that for every page it passes.
    private var sizes: [Int: (count: Int, octets: Int)] = [:]
    /// Names added by this plan, which may move between pages while it settles.
    private var added: Set<String> = []
    /// The lowest page an entry was removed from: room there, below the hint perhaps.
    private var lowestRemoved: Int?
    /// Room a page must have left to be worth a writer's look (a short id's entry), or more: as
    /// much as the longest entry, or the largest group of entries placed together, that this plan
    /// added, so the hint moves past pages that could not take writes like the ones being made
    /// (an import's batches, say).
    static let usefulRoom = 64
    private var roomWanted = 0
    /// Page 0 must still be as read: a version floor was read from it, or a missing page was filled.
    private(set) var needsPage0AsRead = false
    /// Every page read must still be as read, changed or not: the plan found the chunk already as
    /// a change would leave it and depends on that (see `requireAsRead`).
    private(set) var needsEveryPageAsRead = false
    private let pageName: (Int) throws -> DNSName
    /// Octets a page's text may reach as this writer writes it: the format's 16,000 (section 3.2),
    /// or less for a backend that holds smaller records (``StoreConfiguration/indexPageOctets``).
    var pageLimit = IndexPage.maxTextOctets

    init(level: IndexLevel, chunk: Int, original: [LoadedPage], pageName: @escaping (Int) throws -> DNSName) {
        self.level = level
        self.chunk = chunk
        self.original = original.isEmpty ? [LoadedPage(name: (try? pageName(0)) ?? .root, rdata: nil, page: IndexPage(chunk: chunk, page: 0))] : original
        self.pages = self.original.map(\.page)
        self.pageName = pageName
        for k in pages.indices {
            pages[k].chunk = chunk
            pages[k].page = k
            // A page left as read has the size it was read at: no need to write it out to know.
            if let octets = self.original[k].textOctets { sizes[k] = (self.original.count, octets) }
        }
    }

    func page(holding name: String) -> Int? {
        pages.firstIndex { $0.entries[name] != nil }
    }

    /// Whether the chunk held no entry as read: one page (page 0's `"pages"`), with none.
    var wasEmpty: Bool {
        original.count == 1 && original[0].page.entries.isEmpty
    }

    /// Whether the chunk is known to hold no entry as planned: every page holding none, each of
    /// them read or new (a page not read may hold entries).
    var isKnownEmpty: Bool {
        pages.indices.allSatisfy { isLoaded($0) && pages[$0].entries.isEmpty }
    }

    /// Whether page k's contents are known: read, or new in this plan.
    func isLoaded(_ k: Int) -> Bool { k >= original.count || original[k].loaded }

    /// Whether every page that may have room was read: those not read lie before the hint.
    var knowsEveryRoom: Bool {
        let hint = original[0].page.open ?? 0
        return original.indices.allSatisfy { isLoaded($0) || $0 < hint }
    }

    /// Whether `entries` have a place on the pages read, as `add` would put them, without a new
    /// page while a page not read might have room.
    mutating func hasRoom(for entries: [(String, IndexEntry)]) throws -> Bool {
        if knowsEveryRoom { return true }
        let octets = try entries.reduce(0) { $0 + (try IndexPage.entryText($1.0, $1.1).count) + 1 }
        for k in pages.indices where isLoaded(k) && exists(k) {
            if try octetsOf(k) + octets <= placementLimit(k) { return true }
        }
        return false
    }

    /// The floor for a new document's version; reading it makes the write depend on page 0.
    mutating func readFloor() -> Int {
        needsPage0AsRead = true
        return pages[0].floor
    }

    /// Records that a document of this chunk was deleted at `version`.
    mutating func raiseFloor(to version: Int) {
        sizes[0] = nil
        pages[0].floor = max(pages[0].floor, version)
    }

    /// Makes the UPDATE require every page read as read, though the plan may change none: a
    /// write that found a document already unlisted where it meant to take it off (an index
    /// build may list it meanwhile), or already listed where it meant to add it (the pages it
    /// planned over may be older than the primary's), must fail if the chunk is not as it saw it.
    mutating func requireAsRead() {
        needsEveryPageAsRead = true
    }

    mutating func remove(_ name: String) {
        guard let k = page(holding: name) else { return }
        sizes[k] = nil
        pages[k].entries[name] = nil
        added.remove(name)
        lowestRemoved = min(lowestRemoved ?? k, k)
    }

    mutating func add(_ name: String, _ entry: IndexEntry) throws {
        try add([(name, entry)])
    }

    /// Adds entries together on the first page with room for all of them, or else together on a
    /// new page, so that a batch changes as few full pages as it can (each changed page goes
    /// into the UPDATE twice: as read and as written); entry by entry when they fill more than a page.
    mutating func add(_ entries: [(String, IndexEntry)]) throws {
        let new = entries.filter { page(holding: $0.0) == nil }
        guard !new.isEmpty else { return }
        added.formUnion(new.map(\.0))
        for (name, entry) in new { roomWanted = max(roomWanted, try IndexPage.entryText(name, entry).count + 1) }
        if new.count > 1 {
            let octets = try new.reduce(0) { $0 + (try IndexPage.entryText($1.0, $1.1).count) + 1 }
            roomWanted = max(roomWanted, octets)
            let fitting = try pages.indices.filter { k in try isLoaded(k) && octetsOf(k) + octets <= placementLimit(k) }
            if let k = fitting.first(where: exists) ?? fitting.first {
                if !exists(k) { needsPage0AsRead = true }
                sizes[k] = nil
                for (name, entry) in new { pages[k].entries[name] = entry }
                return
            }
            let fresh = IndexPage(chunk: chunk, page: pages.count, entries: Dictionary(uniqueKeysWithValues: new))
            if try fresh.text(level: level).count <= pageLimit - 100 {
                sizes[pages.count] = nil
                pages.append(fresh)
                return
            }
        }
        for (name, entry) in new { try place(name, entry, avoiding: nil) }
    }

    /// Puts an entry on the first page it fits: pages that exist first, then missing pages in the
    /// middle (filling one depends on page 0, which says they count), then a new page at the end.
    /// Pages in `preferred` are tried first: an entry moved off a page goes where the UPDATE
    /// writes anyway, so that it does not grow by a whole page as read and as written.
    private mutating func place(_ name: String, _ entry: IndexEntry, avoiding avoided: Int?, preferring preferred: Set<Int> = []) throws {
        let octets = try IndexPage.entryText(name, entry).count
        let loaded = pages.indices.filter { $0 != avoided && isLoaded($0) }
        let candidates = loaded.filter(preferred.contains) + loaded.filter { !preferred.contains($0) }
        for k in candidates where exists(k) {
            if try octetsOf(k) + octets + (pages[k].entries.isEmpty ? 0 : 1) <= placementLimit(k) {
                sizes[k] = nil
                pages[k].entries[name] = entry
                return
            }
        }
        for k in candidates where !exists(k) {
            if try octetsOf(k) + octets <= placementLimit(k) {
                sizes[k] = nil
                pages[k].entries[name] = entry
                needsPage0AsRead = true
                return
            }
        }
        sizes[pages.count] = nil
        pages.append(IndexPage(chunk: chunk, page: pages.count, entries: [name: entry]))
    }

    /// Whether page k is there to be written without depending on page 0: page 0 always is; a
    /// later page when it was read or this plan put entries on it.
    private func exists(_ k: Int) -> Bool {
        k == 0 || k >= original.count || original[k].rdata != nil || !pages[k].entries.isEmpty
    }

    /// Octets page k may be filled to by new entries: page 0 keeps room for its `"pages"` and
    /// `"open"` to grow by a digit or two, which would otherwise push an entry off it and make
    /// the UPDATE change a third full page (more than a DNS message holds).
    private func placementLimit(_ k: Int) -> Int {
        k == 0 ? pageLimit - Self.page0Reserve : pageLimit
    }

    static let page0Reserve = 24

    /// Pages this plan changes so far.
    private func changedPages() -> Set<Int> {
        Set(pages.indices.filter { k in k >= original.count || (isLoaded(k) && pages[k] != original[k].page) })
    }

    /// Octets of page k's text as it will be written now.
    private mutating func octetsOf(_ k: Int) throws -> Int {
        if let known = sizes[k], k != 0 || known.count == pages.count { return known.octets }
        var page = pages[k]
        if k == 0 { page.pages = pages.count }
        let octets = try page.textLength(level: level)
        sizes[k] = (pages.count, octets)
        return octets
    }

    /// Drops trailing empty pages and moves entries off any page over the limit, until stable.
    mutating func settle() throws {
        for _ in 0..<100_000 {
            while pages.count > 1, isLoaded(pages.count - 1), pages[pages.count - 1].entries.isEmpty { pages.removeLast() }
            pages[0].pages = pages.count
            try updateOpen()
            var over: Int?
            for k in pages.indices where try isLoaded(k) && octetsOf(k) > pageLimit && pages[k].entries.count > 1 {
                over = k
                break
            }
            guard let k = over else { return try keepHintIfTheUpdateWouldOverflow() }
            // Move what this plan added if it can; otherwise the last name, which a repair moves.
            let names = pages[k].entries.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            let name = names.last(where: { added.contains($0) }) ?? names.last!
            sizes[k] = nil
            let entry = pages[k].entries.removeValue(forKey: name)!
            try place(name, entry, avoiding: k, preferring: changedPages())
        }
        throw StoreError.corrupted("index chunk \(chunk) cannot be laid out within \(pageLimit) octets a page")
    }

    /// Sets page 0's hint to the first page from which a writer should look for room: the first
    /// one at or after the old hint (or a page entries left) that has useful room or was not read.
    private mutating func updateOpen() throws {
        var open: Int?
        if pages.count > 1 {
            let start = min(original[0].page.open ?? 0, lowestRemoved ?? .max, pages.count)
            open = pages.count
            for k in start..<pages.count {
                if try !isLoaded(k) || octetsOf(k) + max(Self.usefulRoom, roomWanted) <= placementLimit(k) {
                    open = k
                    break
                }
            }
        }
        if pages[0].open != open {
            pages[0].open = open
            sizes[0] = nil
        }
    }

    /// Page 0 rewritten for the hint alone, beside another page this plan changes, puts two pages
    /// into the UPDATE twice each (as read and as written): two nearly full ones exceed a DNS
    /// message. When the two hold more than one and a half pages' worth, the hint stays as read;
    /// the next writer that finds no room where it points moves it. Once, when the plan is settled.
    private mutating func keepHintIfTheUpdateWouldOverflow() throws {
        guard original[0].rdata != nil, pages[0].open != original[0].page.open else { return }
        var bare = pages[0]
        bare.open = original[0].page.open
        guard bare == original[0].page else { return }
        let changed = try (1..<max(pages.count, original.count)).filter { k in isLoaded(k) && asRead(k) != planned(k) }
            .map { k in k < pages.count ? try octetsOf(k) : original[k].textOctets ?? pageLimit }
        guard let largest = changed.max(), try octetsOf(0) + largest > pageLimit * 3 / 2 else { return }
        pages[0].open = original[0].page.open
        sizes[0] = nil
    }

    /// Page k as it will be after the plan: nil when it will not exist. Page 0 stays while later
    /// pages do or while it holds a floor; an emptied page after it is deleted.
    func planned(_ k: Int) -> IndexPage? {
        guard k < pages.count else { return nil }
        let page = pages[k]
        if k == 0 {
            return page.entries.isEmpty && pages.count == 1 && page.floor == 0 ? nil : page
        }
        return page.entries.isEmpty ? nil : page
    }

    private func asRead(_ k: Int) -> IndexPage? {
        guard k < original.count, original[k].rdata != nil else { return nil }
        return original[k].page
    }

    /// Adds to `update` the new contents of every page that changes, each required to be as read,
    /// and page 0's prerequisite when the plan depends on it. Call `settle()` first.
    func write(into update: inout UpdateBuilder, ttl: UInt32) throws {
        for k in 0..<max(original.count, pages.count) where isLoaded(k) {
            let before = asRead(k)
            let after = planned(k)
            let changes = before != after
            guard changes || (k == 0 && needsPage0AsRead) || (needsEveryPageAsRead && k < original.count) else { continue }
            let name = k < original.count ? original[k].name : try pageName(k)
            if k < original.count, let rdata = original[k].rdata {
                update.require(.rrsetEquals(name, .txt, [rdata]))
            } else {
                update.require(.rrsetDoesNotExist(name, .txt))
            }
            guard changes else { continue }
            if let after {
                update.replace(name, .txt, with: [.txt(TXT(splitting: try after.text(level: level)))], ttl: ttl)
            } else {
                update.apply(.deleteRRset(name, .txt))
            }
        }
    }
}

import Foundation
import DNSWire

/// Changes to index chunks, gathered so that each page is read once and written once per UPDATE,
/// with a prerequisite that it still holds what was read (section 8.1 of docs/FORMAT.md).
struct IndexEdits {
    struct ChunkKey: Hashable {
        var node: DNSName
        var chunk: Int
        var level: IndexLevel
    }

    var adds: [ChunkKey: [String: IndexEntry]] = [:]
    var removes: [ChunkKey: Set<String>] = [:]
    /// Chunks to lay out again even without adds or removes (a repair of oversize pages).
    var relayouts: Set<ChunkKey> = []

    mutating func add(_ key: String, _ entry: IndexEntry, chunk: Int, of node: DNSName, level: IndexLevel) {
        adds[ChunkKey(node: node, chunk: chunk, level: level), default: [:]][key] = .some(entry)
    }

    mutating func remove(_ key: String, chunk: Int, of node: DNSName, level: IndexLevel) {
        removes[ChunkKey(node: node, chunk: chunk, level: level), default: []].insert(key)
    }

    var chunks: Set<ChunkKey> { Set(adds.keys).union(removes.keys).union(relayouts) }
}

extension DocumentStore {
    /// Reads all pages of one index chunk; page 0 first. A missing chunk is one empty page, and a
    /// missing page after it reads as empty.
    /// `route`: the primary (what a write compares against) unless a listing reads elsewhere.
    func loadIndexChunk(_ chunk: Int, of node: DNSName, level: IndexLevel, route: ReadRoute = .primary) async throws -> [LoadedPage] {
        let first = try await loadPage(0, chunk: chunk, of: node, level: level, route: route)
        let count = first.page.pages
        guard count > 1 else { return [first] }
        let rest = try await concurrently(Array(1..<count)) { page in
            try await self.loadPage(page, chunk: chunk, of: node, level: level, route: route)
        }
        return [first] + rest
    }

    /// Reads what adding entries to one chunk needs: page 0 and the page its `"open"` hint names.
    /// Without a hint (a chunk written before hints, or by a writer that drops them) every page.
    func loadIndexChunkForAdding(_ chunk: Int, of node: DNSName, level: IndexLevel) async throws -> [LoadedPage] {
        let first = try await loadPage(0, chunk: chunk, of: node, level: level, route: .primary)
        let count = first.page.pages
        guard count > 1 else { return [first] }
        guard let open = first.page.open else { return try await loadIndexChunk(chunk, of: node, level: level) }
        var pages = [first]
        for k in 1..<count {
            if k == open {
                pages.append(try await loadPage(k, chunk: chunk, of: node, level: level, route: .primary))
            } else {
                let name = try layout.indexPage(k, chunk: chunk, of: node)
                pages.append(LoadedPage(name: name, rdata: nil, page: IndexPage(chunk: chunk, page: k), loaded: false))
            }
        }
        return pages
    }

    /// Reads what removing `ids` from one chunk needs: every page's record (which pages exist),
    /// parsed only for page 0 and the pages whose text holds one of the ids, quoted; the plan
    /// leaves the others as not read (see `IndexChunkPlan`). Parsing a thousand entries a page is
    /// what a delete in a chunk of many pages spent its time on. A page that spells an id with
    /// JSON escapes is missed here: the caller reads the chunk whole when an id is not found.
    func loadIndexChunkForRemoving(_ chunk: Int, of node: DNSName, level: IndexLevel, ids: Set<String>) async throws -> [LoadedPage] {
        let first = try await loadPage(0, chunk: chunk, of: node, level: level, route: .primary)
        let count = first.page.pages
        guard count > 1 else { return [first] }
        let needles = ids.map { Array("\"\($0)\"".utf8) }
        let rest = try await concurrently(Array(1..<count)) { page in
            try await self.loadPage(page, chunk: chunk, of: node, level: level, route: .primary) { text in
                needles.contains { Self.occurs($0, in: text) }
            }
        }
        return [first] + rest
    }

    /// Whether `needle` occurs in `haystack`: a page is searched in microseconds.
    static func occurs(_ needle: [UInt8], in haystack: [UInt8]) -> Bool {
        guard let first = needle.first else { return true }
        guard needle.count <= haystack.count else { return false }
        return haystack.withUnsafeBufferPointer { h in
            needle.withUnsafeBufferPointer { n in
                var i = 0
                let last = h.count - n.count
                while i <= last {
                    if h[i] == first && memcmp(h.baseAddress! + i, n.baseAddress!, n.count) == 0 { return true }
                    i += 1
                }
                return false
            }
        }
    }

    /// One page, read and parsed; with `parsing`, a page whose text it turns down is left
    /// unread (`loaded` false), as the plan treats pages it need not see.
    func loadPage(
        _ page: Int, chunk: Int, of node: DNSName, level: IndexLevel, route: ReadRoute, parsing: (([UInt8]) -> Bool)? = nil
    ) async throws -> LoadedPage {
        let name = try layout.indexPage(page, chunk: chunk, of: node)
        guard let rdata = try await readRecord(name, route: route) else {
            return LoadedPage(name: name, rdata: nil, page: IndexPage(chunk: chunk, page: page))
        }
        let text = try text(of: rdata, at: name)
        if let parsing, !parsing(text) {
            return LoadedPage(name: name, rdata: nil, page: IndexPage(chunk: chunk, page: page), loaded: false)
        }
        let parsed = try IndexPage(text: text, level: level, name: name)
        guard parsed.chunk == chunk, parsed.page == page else {
            throw StoreError.corrupted("index page \(name) says it is page \(parsed.page) of chunk \(parsed.chunk)")
        }
        return LoadedPage(name: name, rdata: rdata, page: parsed, textOctets: text.count)
    }

    /// Every entry of a node's index: all chunks and pages, read concurrently, from read servers
    /// as configured unless `route` says otherwise.
    func readIndex(of node: DNSName, total: Int, level: IndexLevel, route: ReadRoute? = nil) async throws -> [String: IndexEntry] {
        let route = route ?? .reader(configuration.consistency)
        let chunks = try await concurrently(Array(0..<total)) { chunk in
            try await self.loadIndexChunk(chunk, of: node, level: level, route: route)
        }
        var all: [String: IndexEntry] = [:]
        for pages in chunks {
            for page in pages { all.merge(page.page.entries) { a, _ in a } }
        }
        return all
    }

    /// Reads the given chunks concurrently, each ready to be planned: every page, or for the chunks
    /// in `adding` only what adding entries needs (`loadIndexChunkForAdding`), and for those in
    /// `removing` only the pages that hold the ids removed (`loadIndexChunkForRemoving`).
    /// Chunks in `cached` (secondary index lists) are taken from `listPages` when it holds their
    /// one page, and noted there when read whole as one page.
    func loadPlans(
        _ keys: Set<IndexEdits.ChunkKey>, adding: Set<IndexEdits.ChunkKey> = [], removing: [IndexEdits.ChunkKey: Set<String>] = [:],
        cached: Set<IndexEdits.ChunkKey> = []
    ) async throws -> [IndexEdits.ChunkKey: IndexChunkPlan] {
        let keys = Array(keys)
        let loaded = try await concurrently(keys) { key -> [LoadedPage] in
            let cacheable = cached.contains(key)
            if cacheable, let page = try self.cachedListPage(key) { return [page] }
            let pages: [LoadedPage]
            if adding.contains(key) {
                pages = try await self.loadIndexChunkForAdding(key.chunk, of: key.node, level: key.level)
            } else if let ids = removing[key] {
                pages = try await self.loadIndexChunkForRemoving(key.chunk, of: key.node, level: key.level, ids: ids)
            } else {
                pages = try await self.loadIndexChunk(key.chunk, of: key.node, level: key.level)
            }
            if cacheable, let first = pages.first, first.loaded, first.page.pages == 1 {
                self.listPages.noteRead(first.name, first.rdata, parsed: first.textOctets.map { .init(page: first.page, textOctets: $0) })
            }
            return pages
        }
        var plans: [IndexEdits.ChunkKey: IndexChunkPlan] = [:]
        for (key, pages) in zip(keys, loaded) {
            let layout = self.layout
            var plan = IndexChunkPlan(level: key.level, chunk: key.chunk, original: pages) { page in
                try layout.indexPage(page, chunk: key.chunk, of: key.node)
            }
            plan.pageLimit = min(max(configuration.indexPageOctets, 900), IndexPage.maxTextOctets)
            plans[key] = plan
        }
        return plans
    }

    /// A list chunk's one page from `listPages`, as if read; nil when it holds none (or one that
    /// no longer parses, or says its chunk has more pages, which is read again).
    private func cachedListPage(_ key: IndexEdits.ChunkKey) throws -> LoadedPage? {
        let name = try layout.indexPage(0, chunk: key.chunk, of: key.node)
        switch listPages.page(name) {
        case nil:
            return nil
        case .absent:
            return LoadedPage(name: name, rdata: nil, page: IndexPage(chunk: key.chunk, page: 0))
        case .present(let rdata, let parsed?):
            return LoadedPage(name: name, rdata: rdata, page: parsed.page, textOctets: parsed.textOctets)
        case .present(let rdata, nil):
            guard case .txt(let txt) = rdata, let page = try? IndexPage(text: txt.joined, level: key.level, name: name),
                page.chunk == key.chunk, page.page == 0, page.pages == 1
            else {
                listPages.forget([name])
                return nil
            }
            let octets = txt.joined.count
            listPages.noteParsed(name, rdata, .init(page: page, textOctets: octets))
            return LoadedPage(name: name, rdata: rdata, page: page, textOctets: octets)
        }
    }

    /// Settles the plans and adds their page changes and prerequisites to `update`.
    func write(_ plans: [IndexEdits.ChunkKey: IndexChunkPlan], into update: inout UpdateBuilder) throws {
        for key in plans.keys.sorted(by: { ($0.node, $0.chunk) < ($1.node, $1.chunk) }) {
            var plan = plans[key]!
            try plan.settle()
            try plan.write(into: &update, ttl: configuration.recordTTL)
        }
    }

    /// Reads the pages the edits touch and adds to `update` their prerequisites and new contents.
    func apply(_ edits: IndexEdits, to update: inout UpdateBuilder) async throws {
        var plans = try await loadPlans(edits.chunks)
        for (key, names) in edits.removes {
            for name in names { plans[key]!.remove(name) }
        }
        for (key, entries) in edits.adds {
            for (name, entry) in entries.sorted(by: { $0.key < $1.key }) { try plans[key]!.add(name, entry) }
        }
        try write(plans, into: &update)
    }
}

import DNSWire

/// Changes to index chunks, gathered so that each page is read once and written once per UPDATE,
/// with a prerequisite that it still holds what was read (section 8.1 of docs/FORMAT.md).
struct IndexEdits {
    struct ChunkKey: Hashable {
        var node: DNSName
        var chunk: Int
        var level: IndexLevel
    }

    var adds: [ChunkKey: [String: NodeMetadata?]] = [:]
    var removes: [ChunkKey: Set<String>] = [:]

    mutating func add(_ key: String, _ entry: NodeMetadata?, chunk: Int, of node: DNSName, level: IndexLevel) {
        adds[ChunkKey(node: node, chunk: chunk, level: level), default: [:]][key] = .some(entry)
    }

    mutating func remove(_ key: String, chunk: Int, of node: DNSName, level: IndexLevel) {
        removes[ChunkKey(node: node, chunk: chunk, level: level), default: []].insert(key)
    }

    var isEmpty: Bool { adds.isEmpty && removes.isEmpty }
}

/// One page of an index chunk as read.
struct LoadedPage: Sendable {
    var name: DNSName
    var rdata: RData?
    var page: IndexPage
}

extension DNSStore {
    /// Reads all pages of one index chunk; page 0 first. A missing chunk is one empty page.
    func loadIndexChunk(_ chunk: Int, of node: DNSName, level: IndexLevel) async throws -> [LoadedPage] {
        let first = try await loadPage(0, chunk: chunk, of: node, level: level)
        let count = first.page.pages
        guard count > 1 else { return [first] }
        let rest = try await concurrently(Array(1..<count)) { page in
            try await self.loadPage(page, chunk: chunk, of: node, level: level)
        }
        return [first] + rest
    }

    private func loadPage(_ page: Int, chunk: Int, of node: DNSName, level: IndexLevel) async throws -> LoadedPage {
        let name = try layout.indexPage(page, chunk: chunk, of: node)
        guard let rdata = try await readRecord(name) else {
            return LoadedPage(name: name, rdata: nil, page: IndexPage(chunk: chunk, page: page))
        }
        var parsed = try IndexPage(text: try text(of: rdata, at: name), level: level, name: name)
        parsed.page = page
        return LoadedPage(name: name, rdata: rdata, page: parsed)
    }

    /// Every entry of a node's index: all chunks and pages, read concurrently.
    func readIndex(of node: DNSName, total: Int, level: IndexLevel) async throws -> [String: NodeMetadata?] {
        let chunks = try await concurrently(Array(0..<total)) { chunk in
            try await self.loadIndexChunk(chunk, of: node, level: level)
        }
        var all: [String: NodeMetadata?] = [:]
        for pages in chunks {
            for page in pages { all.merge(page.page.entries) { a, _ in a } }
        }
        return all
    }

    /// Reads the pages the edits touch and adds to `update` their prerequisites and new contents.
    func apply(_ edits: IndexEdits, to update: inout UpdateBuilder) async throws {
        let keys = Array(Set(edits.adds.keys).union(edits.removes.keys))
        let loaded = try await concurrently(keys) { key in
            try await self.loadIndexChunk(key.chunk, of: key.node, level: key.level)
        }
        for (key, original) in zip(keys, loaded) {
            var pages = original
            var touched = Set<Int>()
            for removed in edits.removes[key] ?? [] {
                if let i = pages.firstIndex(where: { $0.page.entries[removed] != nil }) {
                    pages[i].page.entries[removed] = nil
                    touched.insert(i)
                }
            }
            for (name, entry) in (edits.adds[key] ?? [:]).sorted(by: { $0.key < $1.key }) {
                guard !pages.contains(where: { $0.page.entries[name] != nil }) else { continue }
                let last = pages.count - 1
                pages[last].page.entries[name] = .some(entry)
                if try pages[last].page.text(level: key.level).count <= IndexPage.maxTextOctets || pages[last].page.entries.count == 1 {
                    touched.insert(last)
                    continue
                }
                // The last page is full: open the next one and count it on page 0.
                pages[last].page.entries[name] = nil
                let next = pages.count
                let name0 = try layout.indexPage(next, chunk: key.chunk, of: key.node)
                pages.append(LoadedPage(name: name0, rdata: nil, page: IndexPage(chunk: key.chunk, page: next, entries: [name: entry])))
                pages[0].page.pages = pages.count
                touched.insert(next)
                touched.insert(0)
            }
            for i in touched.sorted() {
                let page = pages[i]
                if let rdata = original.indices.contains(i) ? original[i].rdata : nil {
                    update.require(.rrsetEquals(page.name, .txt, [rdata]))
                } else {
                    update.require(.rrsetDoesNotExist(page.name, .txt))
                }
                if i == 0 && page.page.entries.isEmpty && page.page.pages <= 1 {
                    if original[i].rdata != nil { update.apply(.deleteRRset(page.name, .txt)) }
                } else {
                    let text = try page.page.text(level: key.level)
                    update.replace(page.name, .txt, with: [.txt(TXT(splitting: text))], ttl: configuration.recordTTL)
                }
            }
        }
    }
}

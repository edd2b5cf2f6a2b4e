import DNSStore
import DNSWire

/// Data chunks (docs/FORMAT.md section 7) read by the listing: a store on Route 53 cuts a large
/// document into hundreds of small chunks, and one `ListResourceRecordSets` per chunk would make
/// a read of 1 MiB some 600 requests. A chunk's text never changes under its name (a new
/// generation takes new names, section 9), so the chunks a listing shows can answer later
/// queries: the first query for a chunk lists every name under its record, a page of 300 sets at
/// a time, and keeps the chunks. A chunk kept after another writer deleted it is the text it had,
/// as a reader that read it a moment earlier would hold; the reader checks the whole against the
/// record's length and digest either way (section 8.3).
struct DataChunkCache: Sendable {
    /// Value characters kept at most; past it the cache starts again empty.
    static let maxCharacters = 16 << 20
    /// Pages listed under one record at most: far more than a document's 2,049 chunks take.
    static let maxPages = 20

    private var sets: [DNSName: Route53RecordSet] = [:]
    private var characters = 0

    func set(at name: DNSName) -> Route53RecordSet? { sets[name.lowercased] }

    mutating func keep(_ set: Route53RecordSet, at name: DNSName) {
        let size = Self.characters(of: set)
        if characters + size > Self.maxCharacters {
            sets = [:]
            characters = 0
        }
        forget(name)
        sets[name.lowercased] = set
        characters += size
    }

    mutating func forget(_ name: DNSName) {
        if let old = sets.removeValue(forKey: name.lowercased) { characters -= Self.characters(of: old) }
    }

    private static func characters(of set: Route53RecordSet) -> Int { set.values.reduce(0) { $0 + $1.utf8.count } }

    /// Whether `name` is a data chunk's: its first label `<p>-<g>`, a chunk number and a
    /// generation of 8 lower-case hex digits.
    static func isDataChunk(_ name: DNSName) -> Bool {
        guard let label = name.labels.first, let dash = label.firstIndex(of: UInt8(ascii: "-")) else { return false }
        let number = label[..<dash]
        let generation = label[(dash + 1)...]
        return (1...4).contains(number.count) && number.allSatisfy { (0x30...0x39).contains($0) }
            && generation.count == 8 && generation.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }
}

extension Route53Transport {
    /// The TXT set of a data chunk: from the chunks listed before, else from a listing of every
    /// name under its record (shared by the queries that wait for it), else, if that listing did
    /// not show it, by a listing of the name alone.
    func dataChunkSet(at name: DNSName) async throws -> Route53RecordSet? {
        if let set = dataChunks.withLock({ $0.set(at: name) }) { return set }
        let record = name.parent
        let listing = chunkListings.withLock { listings in
            if let running = listings[record.lowercased] { return running }
            let task = Task { try await self.listDataChunks(under: record) }
            listings[record.lowercased] = task
            return task
        }
        defer { chunkListings.withLock { $0[record.lowercased] = nil } }
        try await listing.value
        if let set = dataChunks.withLock({ $0.set(at: name) }) { return set }
        return try await recordSet(at: name, type: "TXT")
    }

    /// Lists the names under `record` by pages and keeps the data chunks among them.
    private func listDataChunks(under record: DNSName) async throws {
        var from: (name: String, type: String)? = (Route53Text.name(record), "TXT")
        for _ in 0..<DataChunkCache.maxPages {
            guard let start = from else { return }
            let page = try await client.recordSets(zone: hostedZone, from: start.name, type: start.type, maxItems: 300)
            var left = false
            dataChunks.withLock { cache in
                for set in page.recordSets {
                    guard let name = Route53Text.name(set.name), name.isSubdomain(of: record) else {
                        left = true
                        continue
                    }
                    if set.type == "TXT", name.parent == record, DataChunkCache.isDataChunk(name) { cache.keep(set, at: name) }
                }
            }
            if left { return }
            from = page.next
        }
    }
}

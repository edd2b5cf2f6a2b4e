import DNSWire

/// What a store check found, and what it mended.
public struct CheckReport: Sendable, Codable {
    public struct Problem: Sendable, Codable, Hashable {
        public enum Kind: String, Sendable, Codable {
            /// An index lists a document whose record is missing.
            case entryWithoutRecord = "index entry without record"
            /// A record no index lists.
            case recordWithoutEntry = "record without index entry"
            /// A data chunk no record refers to (left by an interrupted write).
            case danglingChunk = "dangling data chunk"
            /// A record whose content fails its length or digest, or a chunk it needs is missing.
            case badDocument = "document fails its digest or misses chunks"
            /// A name under the store that nothing refers to.
            case strayName = "unreferenced name"
        }

        public var kind: Kind
        public var name: String
        public var detail: String
        public var repaired: Bool
    }

    public var databases = 0
    public var collections = 0
    public var documents = 0
    public var problems: [Problem] = []

    public var isClean: Bool { problems.allSatisfy(\.repaired) }
}

extension DNSStore {
    /// Checks the whole store against docs/FORMAT.md by reading every name of the zone (a zone
    /// transfer). With `repair`, adds missing index entries, removes entries without records and
    /// deletes dangling chunks and stray names. Documents that fail their digest are reported only.
    public func check(repair: Bool) async throws -> CheckReport {
        var report = CheckReport()
        let all: [ResourceRecord]
        do {
            all = try await transport.zoneRecords(configuration.zone)
        } catch {
            throw StoreError.from(error, "reading the zone \(configuration.zone) (the key must allow transfers)")
        }
        var txt: [DNSName: RData] = [:]
        for record in all where record.type == .txt && record.name.isSubdomain(of: layout.root) {
            txt[record.name] = record.rdata
        }
        guard txt[layout.root] != nil else { throw StoreError.notFound("no store at \(layout.root)") }
        invalidateCache()
        var accounted: Set<DNSName> = [layout.root]
        var collectionNodes: [DNSName: (database: String, collection: String, total: Int)] = [:]
        var missingEntries: [(String, String, String)] = []  // database, collection, id
        var strayEntries: [(String, String, String)] = []
        let root = try await self.root()
        for chunk in 0..<root.chunks.total {
            for page in try await loadIndexChunk(chunk, of: layout.root, level: .database) where page.rdata != nil { accounted.insert(page.name) }
        }
        for database in try await databases() {
            report.databases += 1
            let db = try await self.database(named: database)
            accounted.insert(db.name)
            for chunk in 0..<db.metadata.chunks.total {
                for page in try await loadIndexChunk(chunk, of: db.name, level: .collection) where page.rdata != nil { accounted.insert(page.name) }
            }
            for collection in try await self.database(database).collections() {
                report.collections += 1
                let node = try await self.collection(named: collection, in: database)
                accounted.insert(node.name)
                collectionNodes[node.name] = (database, collection, node.metadata.chunks.total)
                var ids: [String] = []
                for chunk in 0..<node.metadata.chunks.total {
                    for page in try await loadIndexChunk(chunk, of: node.name, level: .record) {
                        if page.rdata != nil { accounted.insert(page.name) }
                        ids += page.page.entries.keys
                    }
                }
                for id in ids {
                    let (name, _) = try layout.child(id, total: node.metadata.chunks.total, of: node.name)
                    guard let rdata = txt[name] else {
                        report.problems.append(.init(kind: .entryWithoutRecord, name: "\(database)/\(collection)/\(id)", detail: "\(name) is missing", repaired: repair))
                        strayEntries.append((database, collection, id))
                        continue
                    }
                    accounted.insert(name)
                    report.documents += 1
                    try checkRecord(rdata, at: name, txt: txt, accounted: &accounted, report: &report)
                }
            }
        }
        // Names left over: records missing from their index, dangling chunks, strays.
        var toDelete: [DNSName] = []
        for name in txt.keys.sorted() where !accounted.contains(name) {
            let parent = name.parent
            if let owner = collectionNodes[parent.parent], let rdata = txt[name],
                let record = try? RecordText.parse(rdata, name: name),
                (try? layout.child(record.header.id, total: owner.total, of: parent.parent).name) == name
            {
                report.problems.append(.init(kind: .recordWithoutEntry, name: "\(owner.database)/\(owner.collection)/\(record.header.id)", detail: "\(name)", repaired: repair))
                missingEntries.append((owner.database, owner.collection, record.header.id))
                report.documents += 1
                try checkRecord(rdata, at: name, txt: txt, accounted: &accounted, report: &report)
                continue
            }
            if accounted.contains(parent), let label = name.labels.first, label.contains(UInt8(ascii: "-")) {
                report.problems.append(.init(kind: .danglingChunk, name: "\(name)", detail: "no record refers to it", repaired: repair))
            } else {
                report.problems.append(.init(kind: .strayName, name: "\(name)", detail: "nothing in the store refers to it", repaired: repair))
            }
            toDelete.append(name)
        }
        guard repair else { return report }
        for (database, collection, id) in missingEntries {
            let node = try await self.collection(named: collection, in: database)
            let (_, chunk) = try layout.child(id, total: node.metadata.chunks.total, of: node.name)
            try await editIndex { $0.add(id, nil, chunk: chunk, of: node.name, level: .record) }
        }
        for (database, collection, id) in strayEntries {
            let node = try await self.collection(named: collection, in: database)
            let (_, chunk) = try layout.child(id, total: node.metadata.chunks.total, of: node.name)
            try await editIndex { $0.remove(id, chunk: chunk, of: node.name, level: .record) }
        }
        await deleteNames(toDelete.filter { !accounted.contains($0) })
        return report
    }

    private func checkRecord(
        _ rdata: RData, at name: DNSName, txt: [DNSName: RData], accounted: inout Set<DNSName>, report: inout CheckReport
    ) throws {
        guard let record = try? RecordText.parse(rdata, name: name) else {
            report.problems.append(.init(kind: .badDocument, name: "\(name)", detail: "the header does not parse", repaired: false))
            return
        }
        var body = record.body
        if record.header.isChunked {
            body = []
            for chunk in try dataChunkNames(of: record, at: name) {
                accounted.insert(chunk)
                guard let data = txt[chunk], case .txt(let t) = data else {
                    report.problems.append(.init(kind: .badDocument, name: "\(name)", detail: "data chunk \(chunk) is missing", repaired: false))
                    return
                }
                body += t.joined
            }
        }
        if body.count != record.header.n || RecordText.digest(body) != record.header.h {
            report.problems.append(.init(kind: .badDocument, name: "\(name)", detail: "length or digest does not match the header", repaired: false))
        }
    }

    /// One index change, retried while other writers move the page.
    private func editIndex(_ edit: (inout IndexEdits) -> Void) async throws {
        var edits = IndexEdits()
        edit(&edits)
        for attempt in 0..<configuration.maxAttempts {
            if attempt > 0 { try await backoff(attempt) }
            var update = UpdateBuilder(zone: configuration.zone)
            try await apply(edits, to: &update)
            if update.operations.isEmpty { return }
            do {
                try await send(update, "repairing an index")
                return
            } catch StoreError.conflict {
                continue
            }
        }
    }
}

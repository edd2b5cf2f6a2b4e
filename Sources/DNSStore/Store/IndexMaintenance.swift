import DNSWire
import Foundation

/// One change a write makes to a secondary index (section 14.4 of docs/FORMAT.md): a document's
/// stored id added to, or removed from, one chunk of the list of a value.
struct PostingChange: Sendable, Equatable {
    /// The chunk of the value's list.
    var chunk: IndexEdits.ChunkKey
    var storedID: String
    var adding: Bool
    /// For an addition to a unique index: its field and the value, for the refusal's message.
    var unique: UniqueValue?
    /// For an ordered index: the list, and the directory entry that names it (section 14.7).
    var ordered: OrderedList?

    struct UniqueValue: Sendable, Equatable {
        var field: String
        var value: String
    }
}

/// A value's list in an ordered index, and where the index's directory lists it.
struct OrderedList: Sendable, Hashable {
    var list: DNSName
    var listChunks: Int
    var directory: IndexEdits.ChunkKey
    var entry: String
}

/// What a write does to ordered indexes' directories (section 14.7): each directory chunk it
/// changes, read; the entries it adds and removes; and the pages of lists it did not change that
/// it read to learn whether a list is empty, each required to be as read.
struct DirectoryPlan {
    var plans: [IndexEdits.ChunkKey: IndexChunkPlan] = [:]
    var changes: [(chunk: IndexEdits.ChunkKey, entry: String, adding: Bool)] = []
    var required: [LoadedPage] = []

    /// Makes the changes in `plans` (which hold the directory chunks) and requires the pages read.
    func apply(to plans: inout [IndexEdits.ChunkKey: IndexChunkPlan], update: inout UpdateBuilder) throws {
        for change in changes where !change.adding { plans[change.chunk]!.remove(change.entry) }
        for change in changes where change.adding { try plans[change.chunk]!.add(change.entry, .document(lease: nil)) }
        for page in required {
            if let rdata = page.rdata { update.require(.rrsetEquals(page.name, .txt, [rdata])) } else { update.require(.rrsetDoesNotExist(page.name, .txt)) }
        }
    }
}

/// What writes do to a collection's secondary indexes, worked out without I/O.
enum IndexMaintenance {
    /// The changes that writing the JSON text `new` (nil: deleting) over `old` (nil: nothing
    /// there) makes to `indexes` of the collection at `collection`: for each index whose key
    /// differs, the stored id leaves the old key's list and joins the new one's.
    static func changes(
        old: [UInt8]?, new: [UInt8]?, storedID: String, indexes: [String: IndexDefinition], collection: DNSName, layout: StoreLayout,
        sealing: CollectionSecrets?
    ) throws -> [PostingChange] {
        var changes: [PostingChange] = []
        let old = old.map(DocumentKeys.init), new = new.map(DocumentKeys.init)
        for field in indexes.keys.sorted() {
            let definition = indexes[field]!
            let before = old?.key(field)
            let after = new?.key(field)
            guard before != after else { continue }
            let chunk = Naming.chunk(for: storedID, total: definition.chunks.total)
            func ordered(_ key: [UInt8], _ node: DNSName) throws -> OrderedList? {
                guard let directory = definition.ordered, sealing == nil else { return nil }
                let entry = IndexKey.directoryEntry(key)
                let chunk = Naming.chunk(for: entry, total: directory.chunks.total)
                return OrderedList(
                    list: node, listChunks: definition.chunks.total,
                    directory: .init(node: try layout.directory(field: field, of: collection), chunk: chunk, level: .record), entry: entry)
            }
            if let before {
                let node = try layout.posting(field: field, key: before, of: collection, sealing: sealing)
                changes.append(
                    PostingChange(
                        chunk: .init(node: node, chunk: chunk, level: .record), storedID: storedID, adding: false, ordered: try ordered(before, node)))
            }
            if let after {
                let node = try layout.posting(field: field, key: after, of: collection, sealing: sealing)
                let unique = definition.isUnique ? PostingChange.UniqueValue(field: field, value: IndexKey.describe(after)) : nil
                changes.append(
                    PostingChange(
                        chunk: .init(node: node, chunk: chunk, level: .record), storedID: storedID, adding: true, unique: unique,
                        ordered: try ordered(after, node)))
            }
        }
        return changes
    }

    /// Makes `changes` in the planned chunks: every removal first, then every addition, refusing
    /// one to a unique index whose list holds another document. `holder` names a stored id for
    /// the message.
    static func apply(
        _ changes: [PostingChange], to plans: inout [IndexEdits.ChunkKey: IndexChunkPlan], holder: (String) -> String
    ) throws {
        for change in changes where !change.adding {
            // Absent already: an index build may list it at its old value meanwhile; the UPDATE
            // must then fail rather than leave that entry.
            if plans[change.chunk]!.page(holding: change.storedID) == nil { plans[change.chunk]!.requireAsRead() }
            plans[change.chunk]!.remove(change.storedID)
        }
        for change in changes where change.adding {
            if let unique = change.unique {
                let listed = plans[change.chunk]!.pages.flatMap(\.entries.keys)
                if let other = listed.first(where: { $0 != change.storedID }) {
                    throw StoreError.alreadyExists(
                        "the unique index of '\(unique.field)' already lists document '\(holder(other))' with the value \(unique.value)")
                }
            }
            // Listed already: the pages planned over may be older than the primary's (a cached
            // page, ListPageCache); the UPDATE must fail if the entry is not there after all.
            if plans[change.chunk]!.page(holding: change.storedID) != nil { plans[change.chunk]!.requireAsRead() }
            try plans[change.chunk]!.add(change.storedID, .document(lease: nil))
        }
    }

}

extension DocumentStore {
    /// The secondary index changes of the writes in `reading` (section 14.4): each document's
    /// keys before (its record as read, its data chunks read from the primary when chunked) and
    /// after.
    func postingChanges(for reading: WriteReading) async throws -> [PostingChange] {
        var changes: [PostingChange] = []
        for (i, op) in reading.ops.enumerated() {
            let address = reading.addresses[i]
            guard let indexes = address.collection.metadata.indexes, !indexes.isEmpty else { continue }
            let sealing: CollectionSecrets?
            let old: [UInt8]?
            do {
                sealing = try address.codec.sealed()
                old = try await reading.currents[i].asyncMap { try await self.storedJSON(of: $0, at: address, id: op.id) }
            } catch let error as StoreError where error.code == .encryptionKey && op.byStoredID && op.isDelete {
                // A reaper without the key of a private collection deletes the document and leaves
                // its entries, which are stale from then on (section 14.4): readers skip them.
                continue
            }
            changes += try IndexMaintenance.changes(
                old: old, new: op.isDelete ? nil : op.body, storedID: address.storedID, indexes: indexes,
                collection: address.collection.name, layout: layout, sealing: sealing)
        }
        return changes
    }

    /// The holders listed where the writes add to a unique index, other than documents the
    /// writes themselves touch, whose records are gone: a value they hold no longer.
    func staleHolders(in reading: WriteReading) async throws -> [StaleHolder] {
        var stale: [StaleHolder] = []
        let written = Set(reading.addresses.map(\.storedID))
        for change in reading.postings where change.adding && change.unique != nil {
            guard let address = reading.addresses.first(where: { $0.storedID == change.storedID }) else { continue }
            for holder in reading.plans[change.chunk]!.pages.flatMap(\.entries.keys) where !written.contains(holder) {
                let (record, _) = try layout.child(holder, total: address.collection.metadata.chunks.total, of: address.collection.name)
                if try await readRecord(record) == nil { stale.append(StaleHolder(chunk: change.chunk, storedID: holder, record: record)) }
            }
        }
        return stale
    }

    /// The JSON of a record read from the primary: its body, or its data chunks read from the
    /// primary; a conflict when they are gone (it is being replaced: the write reads again).
    /// `id` is the document's id as its write names it.
    func storedJSON(of record: StoredRecord, at address: RecordAddress, id: String) async throws -> [UInt8] {
        try await storedJSON(of: record, at: address.name, codec: address.codec, id: id)
    }

    func storedJSON(of record: StoredRecord, at name: DNSName, codec: CollectionCodec, id: String) async throws -> [UInt8] {
        let header = record.header
        guard let count = header.chunkCount, let generation = header.generation else {
            return try codec.decode(record.body, header: header, id: id, at: name)
        }
        let (body, _, missing) = try await dataChunks(count, generation: generation, of: name, route: .primary)
        guard missing == nil, body.count == header.storedLength, RecordText.digest(body) == header.digest else {
            throw StoreError.conflict("document at \(name) was being replaced while its indexed fields were read")
        }
        return try codec.decode(body, header: header, id: id, at: name)
    }
}

extension DocumentStore {
    /// What `postings`, planned over `plans` (with `stale` holders removed too), do to ordered
    /// indexes' directories (section 14.7): a list that gains its first entry is added to its
    /// directory, one that loses its last is taken off, in the same UPDATE. Whether a list is
    /// empty is known from the chunks the write changes when one of them holds entries before and
    /// after; otherwise page 0 of each of its other chunks is read, and required as read.
    func directoryPlan(
        postings: [PostingChange], plans: [IndexEdits.ChunkKey: IndexChunkPlan], stale: [StaleHolder] = []
    ) async throws -> DirectoryPlan {
        let lists = Set(postings.compactMap(\.ordered))
        guard !lists.isEmpty else { return DirectoryPlan() }
        var after = plans
        for holder in stale { after[holder.chunk]?.remove(holder.storedID) }
        try IndexMaintenance.apply(postings, to: &after) { $0 }
        struct Undecided { var list: OrderedList; var before: Bool; var after: Bool; var others: [Int] }
        var undecided: [Undecided] = []
        let listNodes = Set(lists.map(\.list))
        let chunksOf = Dictionary(grouping: plans.keys.filter { listNodes.contains($0.node) }, by: \.node)
        for list in lists.sorted(by: { ($0.list, $0.entry) < ($1.list, $1.entry) }) {
            let touched = chunksOf[list.list] ?? []
            let before = touched.contains { !plans[$0]!.wasEmpty }
            let now = touched.contains { !after[$0]!.isKnownEmpty }
            if before && now { continue }
            let others = (0..<list.listChunks).filter { chunk in !touched.contains { $0.chunk == chunk } }
            undecided.append(Undecided(list: list, before: before, after: now, others: others))
        }
        guard !undecided.isEmpty else { return DirectoryPlan() }
        let read = try await concurrently(undecided.flatMap { item in item.others.map { (item.list.list, $0) } }) { node, chunk in
            try await self.loadPage(0, chunk: chunk, of: node, level: .record, route: .primary)
        }
        var result = DirectoryPlan(required: read)
        var adding = Set<IndexEdits.ChunkKey>(), removing: [IndexEdits.ChunkKey: Set<String>] = [:]
        var offset = 0
        for item in undecided {
            let others = read[offset..<offset + item.others.count]
            offset += item.others.count
            let elsewhere = others.contains { $0.rdata != nil && !($0.page.entries.isEmpty && $0.page.pages == 1) }
            let (before, now) = (item.before || elsewhere, item.after || elsewhere)
            guard before != now else { continue }
            result.changes.append((item.list.directory, item.list.entry, now))
            if now { adding.insert(item.list.directory) } else { removing[item.list.directory, default: []].insert(item.list.entry) }
        }
        let keys = Set(result.changes.map(\.chunk))
        result.plans = try await loadPlans(keys, adding: adding.subtracting(removing.keys), removing: removing)
        // A directory chunk with no room on its hinted page, or whose entry to remove was not found
        // on the pages that seemed to hold it, is read whole, as any chunk is.
        var again = Set<IndexEdits.ChunkKey>()
        for change in result.changes {
            let plan = result.plans[change.chunk]!
            if change.adding ? !(try result.plans[change.chunk]!.hasRoom(for: [(change.entry, .document(lease: nil))])) : plan.page(holding: change.entry) == nil {
                again.insert(change.chunk)
            }
        }
        if !again.isEmpty { result.plans.merge(try await loadPlans(again)) { $1 } }
        return result
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let self else { return nil }
        return try await transform(self)
    }
}

extension DocumentStore {
    /// Adds documents to the index of `field` of `collection`, a build's step (section 14.5):
    /// each record as the primary holds it, required unchanged in the UPDATE that lists it, so a
    /// document a writer changes meanwhile is listed by that writer, never under a value it left.
    /// Documents listed already are skipped. Returns how many it added.
    func addToIndex(_ field: String, storedIDs: [String], of collection: DocumentCollection) async throws -> Int {
        let path = "\(collection.database)/\(collection.name)"
        for attempt in 0..<configuration.maxAttempts {
            if attempt > 0 {
                try await backoff(attempt)
                forget(collection: collection.name, in: collection.database)
            }
            let node = try await self.collection(named: collection.name, in: collection.database, forWriting: true)
            guard let definition = node.metadata.indexes?[field] else {
                throw StoreError.conflict("the index of '\(field)' on '\(path)' was dropped while it was built")
            }
            let codec = try self.codec(of: node, in: collection.database)
            let read = try await concurrently(storedIDs) { storedID -> (RecordAddress, StoredRecord)? in
                let (recordName, chunk) = try self.layout.child(storedID, total: node.metadata.chunks.total, of: node.name)
                let address = RecordAddress(name: recordName, chunk: chunk, collection: node, storedID: storedID, codec: codec)
                return try await self.readStoredRecord(recordName, id: storedID).map { (address, $0) }
            }
            var changes: [PostingChange] = []
            var records: [String: (RecordAddress, StoredRecord)] = [:]
            for (address, record) in read.compactMap({ $0 }) {
                let json = try await storedJSON(of: record, at: address, id: record.header.id)
                // What writing this document anew would list: its entry in this index alone.
                let listed = try IndexMaintenance.changes(
                    old: nil, new: json, storedID: address.storedID, indexes: [field: definition],
                    collection: node.name, layout: layout, sealing: codec.sealed())
                guard !listed.isEmpty else { continue }
                changes += listed
                records[address.storedID] = (address, record)
            }
            guard !changes.isEmpty else { return 0 }
            var plans = try await loadPlans(Set(changes.map(\.chunk)))
            let missing = changes.filter { plans[$0.chunk]!.page(holding: $0.storedID) == nil }
            guard !missing.isEmpty else { return 0 }
            // Records go into the UPDATE whole, as prerequisites: a group of large ones is split.
            let octets = missing.reduce(0) { $0 + records[$1.storedID]!.1.body.count + 200 }
            if octets > 30_000, missing.count > 1 {
                let half = missing.count / 2
                let first = try await addToIndex(field, storedIDs: missing[..<half].map(\.storedID), of: collection)
                return first + (try await addToIndex(field, storedIDs: missing[half...].map(\.storedID), of: collection))
            }
            let directory: DirectoryPlan
            do {
                directory = try await directoryPlan(postings: missing, plans: plans)
                try IndexMaintenance.apply(missing, to: &plans) { $0 }
            } catch let error as StoreError where error.code == .alreadyExists {
                throw StoreError.alreadyExists(
                    "\(error.detail); the unique index cannot be built on '\(path)' until one of them changes (drop it with 'dnsstore index drop')")
            }
            plans.merge(directory.plans) { $1 }
            var update = UpdateBuilder(zone: configuration.zone)
            try directory.apply(to: &plans, update: &update)
            update.require(.rrsetEquals(node.name, .txt, [node.rdata]))
            for change in missing {
                let (address, record) = records[change.storedID]!
                update.require(.rrsetEquals(address.name, .txt, [record.rdata]))
            }
            try write(plans, into: &update)
            do {
                try await send(update, "building the index of '\(field)' on '\(path)'")
                return missing.count
            } catch let error as StoreError where error.code == .conflict {
                continue
            }
        }
        throw StoreError.conflict("building the index of '\(field)' on '\(path)': still racing with writers after \(configuration.maxAttempts) attempts")
    }

    /// The keys the documents at `addresses` have in the index of `field`, read from the primary.
    func keys(of addresses: [RecordAddress], field: String) async throws -> [[UInt8]] {
        let keys = try await concurrently(addresses) { address -> [UInt8]? in
            guard let record = try await self.readStoredRecord(address.name, id: address.storedID) else { return nil }
            let json = try await self.storedJSON(of: record, at: address, id: record.header.id)
            return DocumentKeys(json).key(field)
        }
        return keys.compactMap { $0 }
    }

    /// Deletes the lists of `keys` of each index in `indexes` under the collection at `node`,
    /// every page of every chunk; best effort, as a purge is.
    func purgeLists(
        of indexes: [String: IndexDefinition], keys: [String: Set<[UInt8]>], under node: DNSName, sealing: CollectionSecrets?
    ) async throws {
        var lists: [(DNSName, Int)] = []
        for (field, definition) in indexes {
            for key in keys[field] ?? [] {
                let list = try layout.posting(field: field, key: key, of: node, sealing: sealing)
                for chunk in 0..<definition.chunks.total { lists.append((list, chunk)) }
            }
            // An ordered index's directory, and the lists it names that no document called for.
            if let ordered = definition.ordered, sealing == nil {
                let directory = try layout.directory(field: field, of: node)
                let entries = try await readIndex(of: directory, total: ordered.chunks.total, level: .record, route: .primary)
                for entry in entries.keys {
                    guard let list = try? layout.posting(field: field, directoryEntry: entry, of: node) else { continue }
                    if let key = IndexKey.key(ofDirectoryEntry: entry), keys[field]?.contains(key) == true { continue }
                    for chunk in 0..<definition.chunks.total { lists.append((list, chunk)) }
                }
                for chunk in 0..<ordered.chunks.total { lists.append((directory, chunk)) }
            }
        }
        let names = try await concurrently(lists) { list, chunk in
            try await self.loadIndexChunk(chunk, of: list, level: .record).filter { $0.rdata != nil }.map(\.name)
        }
        await deleteNames(names.flatMap { $0 })
    }
}

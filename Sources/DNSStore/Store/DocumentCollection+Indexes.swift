import DNSWire

/// What building an index did.
public struct IndexBuildReport: Sendable, Equatable {
    /// The index's field.
    public var field: String
    /// Documents this build added to the index (those already listed, by writers or by an
    /// earlier build that was stopped, are not counted).
    public var added: Int
    /// Documents of the collection looked at.
    public var documents: Int
}

/// How `find` will read: through an index, or by reading every document.
public struct FindPlan: Sendable, Equatable, CustomStringConvertible {
    /// The index used: its field, and the condition's value as the index spells it (for a range,
    /// the conditions it answers); nil for a scan.
    public var index: String?
    public var value: String?
    /// Queries the plan costs before any document is read: the chunks of the value's list
    /// (each further page of a list costs one more), the chunks of an ordered index's directory
    /// of values, or the collection's record index chunks.
    public var listQueries: Int
    /// Whether every document is read (one query each), or only those the index lists.
    public var readsEveryDocument: Bool
    /// For a range or prefix through an ordered index: queries for each value in range (its
    /// list's chunks), read after the directory.
    public var queriesPerValue: Int?

    public var description: String {
        if let index, let value, let queriesPerValue {
            return "ordered index '\(index)' for \(value): \(listQueries) queries for its directory of values, then \(queriesPerValue) for each value in range, then one per document listed"
        }
        if let index, let value {
            return "index '\(index)' for the value \(value): \(listQueries) queries for its list, then one per document it lists"
        }
        return "scan: \(listQueries) queries for the collection's index, then one per document; no readable index covers a condition"
    }
}

/// How a find reads through an index: the list of one value, or the lists of the values an
/// ordered index's directory holds that `conditions` (ranges and prefixes of its field) admit.
enum IndexRead {
    case value(field: String, key: [UInt8], definition: IndexDefinition)
    case range(field: String, conditions: [Filter], definition: IndexDefinition)
}

extension DocumentCollection {
    /// The collection's secondary indexes by field, as the primary holds them.
    public func indexes() async throws -> [String: IndexDefinition] {
        store.forget(collection: name, in: database)
        return try await store.collection(named: name, in: database, forWriting: true).metadata.indexes ?? [:]
    }

    /// Creates the index of `field` (a dotted path) and builds it online (section 14.5 of
    /// docs/FORMAT.md): the index is recorded as building, so every writer keeps it from then on;
    /// every document already there is added with a compare-and-swap against its record; then
    /// it is marked readable. Stopped midway, it is left building and kept by writers; creating
    /// it again finishes it. `unique`: a write that would give two documents the same value is
    /// refused (`alreadyExists`), and so is a build that finds two. `ordered`: the index also keeps
    /// a directory of the values its documents hold (in `directoryChunks` chunks), so that `find`
    /// answers ranges and prefixes of the field from it (section 14.7); not in a private
    /// collection. `progress` is told how many documents the build has looked at, after each
    /// group of them.
    @discardableResult
    public func createIndex(
        _ field: String, unique: Bool = false, chunks: Int? = nil, ordered: Bool = false, directoryChunks: Int? = nil,
        progress: (@Sendable (Int) -> Void)? = nil
    ) async throws -> IndexBuildReport {
        let path = "\(database)/\(name)"
        guard IndexKey.isField(field) else {
            throw StoreError.invalidName("'\(field)' is not a field path: names joined by '.', none empty, 1 to 255 octets")
        }
        // An ordered index's lists have one chunk unless asked otherwise: a range reads every chunk
        // of each value's list, and a list of several chunks makes a write that gives a value its
        // first document read the others (section 14.7).
        let total = unique ? 1 : (chunks ?? (ordered ? 1 : IndexDefinition.defaultChunks))
        if unique, let chunks, chunks != 1 { throw StoreError.invalidDocument("a unique index has one chunk, not \(chunks)") }
        guard (1...IndexDefinition.maxChunks).contains(total) else {
            throw StoreError.invalidDocument("an index has 1 to \(IndexDefinition.maxChunks) chunks, not \(total)")
        }
        let directory = ordered ? (directoryChunks ?? IndexDefinition.defaultDirectoryChunks) : nil
        if !ordered, directoryChunks != nil { throw StoreError.invalidDocument("only an ordered index has a directory of values to give chunks to") }
        if let directory, !(1...IndexDefinition.maxChunks).contains(directory) {
            throw StoreError.invalidDocument("an ordered index's directory has 1 to \(IndexDefinition.maxChunks) chunks, not \(directory)")
        }
        store.forget(collection: name, in: database)
        let node = try await store.collection(named: name, in: database, forWriting: true)
        // A private collection's index needs its key, to seal its names.
        let sealing = try store.codec(of: node, in: database).sealed()
        if ordered, node.metadata.privacy != nil {
            throw StoreError.invalidDocument(
                "collection '\(path)' is private: an ordered index's directory would show its values to every reader of the zone")
        }
        if ordered { _ = try store.layout.indexPage(9_999, chunk: IndexDefinition.maxChunks - 1, of: store.layout.directory(field: field, of: node.name)) }
        // Every name the index may need must fit: the longest key label, the last chunk, a late page.
        _ = try store.layout.indexPage(
            9_999, chunk: total - 1,
            of: try store.layout.posting(field: field, key: Array(repeating: 0x41, count: 37), of: node.name, sealing: sealing))
        var readable = false
        try await changeIndexes("creating the index of '\(field)' on '\(path)'") { indexes in
            if let existing = indexes[field] {
                guard existing.isUnique == unique, existing.chunks.total == total || chunks == nil, existing.isOrdered == ordered,
                    existing.ordered?.chunks.total == directory || directoryChunks == nil
                else {
                    throw StoreError.alreadyExists(
                        "collection '\(path)' has an index of '\(field)' already (\(existing.isUnique ? "unique" : "not unique"), \(existing.isOrdered ? "ordered" : "not ordered"), \(existing.chunks.total) chunks); drop it first to change it")
                }
                readable = existing.state == .readable
                return
            }
            guard indexes.count < IndexDefinition.maxPerCollection else {
                throw StoreError.tooLarge("collection '\(path)' has \(indexes.count) indexes, the most it can have")
            }
            indexes[field] = IndexDefinition(chunks: total, state: .building, unique: unique, directoryChunks: directory)
        }
        if readable { return IndexBuildReport(field: field, added: 0, documents: 0) }
        let report = try await backfill(field, progress: progress)
        try await markReadable(field)
        return report
    }

    /// Drops the index of `field`: first from the collection's metadata (writers stop keeping it,
    /// readers stop using it), then its lists, found from the documents' values.
    public func dropIndex(_ field: String) async throws {
        let path = "\(database)/\(name)"
        var dropped: IndexDefinition?
        try await changeIndexes("dropping the index of '\(field)' on '\(path)'") { indexes in
            dropped = indexes.removeValue(forKey: field)
            guard dropped != nil else { throw StoreError.notFound("collection '\(path)' has no index of '\(field)'", path: path) }
        }
        guard let definition = dropped else { return }
        let node = try await store.collection(named: name, in: database, forWriting: true)
        var keys = Set<[UInt8]>()
        try await eachGroupOnPrimary(of: node) { addresses in
            for key in try await store.keys(of: addresses, field: field) { keys.insert(key) }
        }
        try await store.purgeLists(of: [field: definition], keys: [field: keys], under: node.name, sealing: store.codec(of: node, in: database).sealed())
    }

    /// How `find(filter)` will read: through the first readable index that covers one of its
    /// conditions (a field equal to a string, number, boolean or null, among conditions that
    /// must all hold), or by reading every document.
    public func explain(_ filter: Filter) async throws -> FindPlan {
        let node = try await store.collection(named: name, in: database)
        switch Self.covering(filter, node.metadata.indexes ?? [:]) {
        case .value(let field, let key, let definition):
            return FindPlan(index: field, value: IndexKey.describe(key), listQueries: definition.chunks.total, readsEveryDocument: false)
        case .range(let field, let conditions, let definition):
            return FindPlan(
                index: field, value: conditions.map(\.description).joined(separator: " and "),
                listQueries: definition.ordered!.chunks.total, readsEveryDocument: false, queriesPerValue: definition.chunks.total)
        case nil:
            break
        }
        return FindPlan(index: nil, value: nil, listQueries: node.metadata.chunks.total, readsEveryDocument: true)
    }

    /// The documents that match `filter`, a page at a time: through a readable index when one
    /// covers a condition (`explain`), every document's condition checked as it is read, so an
    /// index answer is exactly what a scan would give at the same state of the zone.
    public func matching(_ filter: Filter) -> AsyncThrowingStream<[Document], any Error> {
        let collection = self
        return producing { continuation in
            let store = collection.store
            let node = try await store.collection(named: collection.name, in: collection.database)
            guard let read = Self.covering(filter, node.metadata.indexes ?? [:]) else {
                for try await documents in collection.scan() {
                    let matched = documents.filter { filter.matches($0) }
                    if !matched.isEmpty { continuation.yield(matched) }
                }
                return
            }
            let codec = try store.codec(of: node, in: collection.database)
            let leases = LeaseLiveness(store, route: .reader(store.configuration.consistency))
            // At `session`, a list must hold what this store object wrote: a lagging read server's
            // may not, so once it has written to the collection the lists come from the primary
            // (the documents still from read servers, each no older than this store object saw).
            let wrote = !store.session.existing(in: collection.database, collection.name).isEmpty
            let route: ReadRoute = store.replicas != nil && store.configuration.consistency == .session && wrote
                ? .primary : .reader(store.configuration.consistency)
            // The lists to read, in the order of their values.
            var lists: [DNSName] = []
            let definition: IndexDefinition
            switch read {
            case .value(let field, let key, let found):
                definition = found
                lists = [try store.layout.posting(field: field, key: key, of: node.name, sealing: codec.sealed())]
            case .range(let field, let conditions, let found):
                definition = found
                let directory = try store.layout.directory(field: field, of: node.name)
                let entries = try await store.readIndex(of: directory, total: found.ordered!.chunks.total, level: .record, route: route)
                // An entry whose key its label hides (a long value) is read and checked like any other.
                let admitted = entries.keys.compactMap { entry -> ([UInt8], String)? in
                    guard let key = IndexKey.key(ofDirectoryEntry: entry) else { return ([0xff], entry) }
                    return conditions.allSatisfy { $0.admits(key: key) } ? (key, entry) : nil
                }
                lists = try admitted.sorted { $0.0.lexicographicallyPrecedes($1.0) }.map {
                    try store.layout.posting(field: field, directoryEntry: $0.1, of: node.name)
                }
            }
            var seen = Set<String>()
            for group in stride(from: 0, to: lists.count, by: max(1, 64 / definition.chunks.total)) {
                let reads = lists[group..<min(lists.count, group + max(1, 64 / definition.chunks.total))].flatMap { list in
                    (0..<definition.chunks.total).map { (list, $0) }
                }
                let chunks = try await store.concurrently(reads) { list, chunk in
                    try await collection.chunkIDs(chunk, of: list, leases: leases, route: route)
                }
                // Within one value, documents in id order; values in the order of their keys.
                var ids: [String] = []
                for start in stride(from: 0, to: chunks.count, by: definition.chunks.total) {
                    let value = try chunks[start..<start + definition.chunks.total].flatMap { $0 }.map(codec.realID)
                    ids += value.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.filter { seen.insert($0).inserted }
                }
                for start in stride(from: 0, to: ids.count, by: 64) {
                    let documents = try await collection.read(Array(ids[start..<min(start + 64, ids.count)]), in: node, codec: codec, leases: leases)
                    let matched = documents.filter { filter.matches($0) }
                    if !matched.isEmpty { continuation.yield(matched) }
                }
            }
        }
    }

    /// The readable index that a condition of `filter` (one that must hold) can be answered
    /// from: an index of a field it equates with a string, number, boolean or null, else an
    /// ordered index of a field it bounds or prefixes (with every such condition on that field).
    static func covering(_ filter: Filter, _ indexes: [String: IndexDefinition]) -> IndexRead? {
        let all = filter.conjuncts
        for condition in all {
            guard case .equals(let field, let value) = condition, let definition = indexes[field], definition.state == .readable,
                let key = IndexKey.key(of: value)
            else { continue }
            return .value(field: field, key: key, definition: definition)
        }
        for condition in all {
            guard let field = condition.orderedField, let definition = indexes[field], definition.state == .readable, definition.isOrdered
            else { continue }
            return .range(field: field, conditions: all.filter { $0.orderedField == field }, definition: definition)
        }
        return nil
    }

    /// Adds every document already stored to the index of `field`, each with a compare-and-swap
    /// against its record, a few dozen per UPDATE.
    private func backfill(_ field: String, progress: (@Sendable (Int) -> Void)?) async throws -> IndexBuildReport {
        var report = IndexBuildReport(field: field, added: 0, documents: 0)
        let node = try await store.collection(named: name, in: database, forWriting: true)
        try await eachGroupOnPrimary(of: node) { addresses in
            report.added += try await self.store.addToIndex(field, storedIDs: addresses.map(\.storedID), of: self)
            report.documents += addresses.count
            progress?(report.documents)
        }
        return report
    }

    private func markReadable(_ field: String) async throws {
        try await changeIndexes("making the index of '\(field)' on '\(database)/\(name)' readable") { indexes in
            guard indexes[field] != nil else {
                throw StoreError.conflict("the index of '\(field)' on '\(database)/\(name)' was dropped while it was built")
            }
            indexes[field]!.state = .readable
        }
    }

    /// Changes the collection's indexes in its metadata as read from the primary, compared and
    /// swapped, reading again while other writers change the metadata first. `change` may throw
    /// to refuse; a change that leaves them as they are writes nothing.
    func changeIndexes(_ context: String, _ change: (inout [String: IndexDefinition]) throws -> Void) async throws {
        for attempt in 0..<store.configuration.maxAttempts {
            if attempt > 0 { try await store.backoff(attempt) }
            store.forget(collection: name, in: database)
            let node = try await store.collection(named: name, in: database, forWriting: true)
            var indexes = node.metadata.indexes ?? [:]
            try change(&indexes)
            var metadata = node.metadata
            metadata.indexes = indexes.isEmpty ? nil : indexes
            guard metadata != node.metadata else { return }
            do {
                return try await store.replaceMetadata(of: node, with: metadata, collection: name, in: database, context)
            } catch let error as StoreError where error.code == .conflict {
                continue
            }
        }
        throw StoreError.conflict("\(context): still racing after \(store.configuration.maxAttempts) attempts")
    }

    /// Every document's address, from the collection's index as the primary holds it, chunk by
    /// chunk, in groups of at most 32.
    func eachGroupOnPrimary(of node: DocumentStore.Node, _ body: ([DocumentStore.RecordAddress]) async throws -> Void) async throws {
        let codec = try store.codec(of: node, in: database)
        let total = node.metadata.chunks.total
        for chunk in 0..<total {
            let pages = try await store.loadIndexChunk(chunk, of: node.name, level: .record)
            let storedIDs = pages.flatMap(\.page.entries.keys).sorted()
            for start in stride(from: 0, to: storedIDs.count, by: 32) {
                try await body(try storedIDs[start..<min(start + 32, storedIDs.count)].map { storedID in
                    let (recordName, chunk) = try store.layout.child(storedID, total: total, of: node.name)
                    return DocumentStore.RecordAddress(name: recordName, chunk: chunk, collection: node, storedID: storedID, codec: codec)
                })
            }
        }
    }
}

extension IndexDefinition {
    /// Chunks of a value's list unless asked otherwise: a find reads them all (in parallel), and
    /// writers that add documents of one value at once contend on one chunk in that many.
    public static let defaultChunks = 4
    /// Chunks of an ordered index's directory of values unless asked otherwise: a range reads
    /// them all; a write that gives a list its first entry or takes its last reads one.
    public static let defaultDirectoryChunks = 8
}

import DNSWire

extension DocumentCollection {
    /// The ids of the collection in index order: chunk by chunk (section 3.1 of docs/FORMAT.md),
    /// and by id (UTF-8 order) within a chunk. What it holds at once is one index chunk's ids, so
    /// memory does not grow with the collection beyond that. An id created or deleted while the
    /// scan runs may or may not be seen; every other id is seen exactly once.
    /// `after`: resume after this id (the last one a previous scan gave).
    public func scanIDs(after: String? = nil) -> AsyncThrowingStream<[String], any Error> {
        let collection = self
        return producing { continuation in
            let store = collection.store
            let node = try await store.collection(named: collection.name, in: collection.database)
            let codec = try store.codec(of: node, in: collection.database)
            let total = node.metadata.chunks.total
            // In stored ids: a private collection's index holds those, in their order.
            let after = try after.map(codec.storedID)
            var first = 0
            if let after { first = try store.layout.child(after, total: total, of: node.name).1 }
            let leases = LeaseLiveness(store, route: .reader(store.configuration.consistency))
            for chunk in first..<total {
                try Task.checkCancellation()
                var ids = try await collection.chunkIDs(chunk, of: node.name, leases: leases)
                if let after, chunk == first {
                    ids = ids.filter { after.utf8.lexicographicallyPrecedes($0.utf8) }
                }
                if !ids.isEmpty { continuation.yield(try ids.map(codec.realID)) }
            }
        }
    }

    /// Every document of the collection in index order, a few dozen at a time (see `scanIDs`).
    public func scan(after: String? = nil, concurrency: Int = 32) -> AsyncThrowingStream<[Document], any Error> {
        let collection = self
        return producing { continuation in
            let store = collection.store
            let node = try await store.collection(named: collection.name, in: collection.database)
            let codec = try store.codec(of: node, in: collection.database)
            let leases = LeaseLiveness(store, route: .reader(store.configuration.consistency))
            for try await ids in collection.scanIDs(after: after) {
                for start in stride(from: 0, to: ids.count, by: 64) {
                    let found = try await collection.read(Array(ids[start..<min(start + 64, ids.count)]), in: node, codec: codec, leases: leases, limit: concurrency)
                    if !found.isEmpty { continuation.yield(found) }
                }
            }
        }
    }

    /// The documents of `ids` (as callers name them), read concurrently, in their order; those
    /// absent, or attached to a lapsed lease, left out.
    func read(
        _ ids: [String], in node: DocumentStore.Node, codec: CollectionCodec, leases: LeaseLiveness, limit: Int? = nil
    ) async throws -> [Document] {
        let documents = try await store.concurrently(ids, limit: limit) { id -> Document? in
            let storedID = try codec.storedID(id)
            let (recordName, _) = try self.store.layout.child(storedID, total: node.metadata.chunks.total, of: node.name)
            return try await self.store.readDocument(at: recordName, key: self.key(id), storedID: storedID, codec: codec, leases: leases)
        }
        return documents.compactMap { $0 }
    }

    /// One index chunk's ids of live documents (not attached to a lapsed lease), its pages read
    /// one after another, sorted.
    func chunkIDs(_ chunk: Int, of node: DNSName, leases: LeaseLiveness, route: ReadRoute? = nil) async throws -> [String] {
        let route = route ?? ReadRoute.reader(store.configuration.consistency)
        let first = try await store.loadPage(0, chunk: chunk, of: node, level: .record, route: route)
        var entries = first.page.entries
        if first.page.pages > 1 {
            for page in 1..<first.page.pages {
                entries.merge(try await store.loadPage(page, chunk: chunk, of: node, level: .record, route: route).page.entries) { a, _ in a }
            }
        }
        var ids: [String] = []
        for (id, entry) in entries where try await leases.isLive(entry.lease) { ids.append(id) }
        return ids.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    }
}

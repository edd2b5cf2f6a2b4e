import DNSWire

/// What a rekey did.
public struct RekeyReport: Sendable, Equatable {
    /// Documents rewritten under the new data secret.
    public var rewritten: Int
    /// The new data secret's id, which every document's `k` now names.
    public var dataSecret: String
}

extension DocumentCollection {
    /// Moves a private collection to `newKey` online (docs/FORMAT.md section 11.4): a new data
    /// secret, readable meanwhile by the store's keys and the new one; every document rewritten
    /// with it (a compare-and-swap each, so concurrent writers lose nothing); then the old data
    /// secret and the store's keys dropped from the collection. Until that last step, readers with
    /// either key read every document; after it, only holders of `newKey`.
    @discardableResult
    public func rekey(to newKey: EncryptionKey, progress: (@Sendable (Int) -> Void)? = nil) async throws -> RekeyReport {
        let path = "\(database)/\(name)"
        guard let keys = store.configuration.encryptionKeys, !keys.all.isEmpty else {
            throw StoreError.encryptionKey("rekeying '\(path)' needs its current key").wanting(.encryptionKeys)
        }
        store.forget(collection: name, in: database)
        let node = try await store.collection(named: name, in: database, forWriting: true)
        guard let privacy = node.metadata.privacy else {
            throw StoreError.invalidName("collection '\(path)' is not private; only private collections have keys to change")
        }
        let (secrets, root) = try store.openSecrets(privacy, database: database, collection: name)
        let place = CollectionSecrets.WrapPlace(root: root, database: database, collection: name)

        // 1. A new data secret, wrapped for the old keys and the new one; new writes use it.
        let data = EncryptionKey.generate()
        let readers = keys.all + [newKey]
        var during = privacy
        during.names = try CollectionSecrets.wrap(secrets.nameSecret, under: readers, place: place.for("names"))
        // The documents not yet rewritten stay readable with the new key too.
        for (id, secret) in secrets.dataSecrets {
            during.data[id, default: [:]].merge(try CollectionSecrets.wrap(secret, under: [newKey], place: place.for(id))) { $1 }
        }
        during.data[data.id] = try CollectionSecrets.wrap(data, under: readers, place: place.for(data.id))
        during.write = data.id
        try await store.replaceMetadata(of: node, with: during, collection: name, in: database)

        // 2. Every document rewritten under it, skipping those a writer already rewrote.
        var rewritten = 0
        for try await ids in scanIDs() {
            for id in ids where try await rewrite(id, under: data.id) {
                rewritten += 1
                progress?(rewritten)
            }
        }

        // 3. Only the new key, and only the new data secret, remain.
        let current = try await store.collection(named: name, in: database, forWriting: true)
        var after = try current.metadata.privacy ?? { throw StoreError.conflict("collection '\(path)' stopped being private during the rekey") }()
        guard after.write == data.id else {
            throw StoreError.conflict("collection '\(path)' was rekeyed by another writer meanwhile (it writes with \(after.write))")
        }
        after.names = try CollectionSecrets.wrap(secrets.nameSecret, under: [newKey], place: place.for("names"))
        after.data = [data.id: try CollectionSecrets.wrap(data, under: [newKey], place: place.for(data.id))]
        try await store.replaceMetadata(of: current, with: after, collection: name, in: database)
        return RekeyReport(rewritten: rewritten, dataSecret: data.id)
    }

    /// Rewrites one document with the same JSON under data secret `secret`, unless it is there
    /// already; retries when a writer changed it meanwhile. Returns whether it rewrote it.
    private func rewrite(_ id: String, under secret: String) async throws -> Bool {
        for attempt in 0..<store.configuration.maxAttempts {
            let address = try await store.address(of: id, in: name, of: database, forWriting: true)
            guard let record = try await store.readStoredRecord(address.name, id: address.storedID) else { return false }
            if record.header.keyID == secret { return false }
            guard let document = try await get(id) else { return false }
            do {
                try await updateJSON(id, document.json, ifVersion: document.version)
                return true
            } catch let error as StoreError where error.code == .conflict {
                try await store.backoff(attempt)
            } catch let error as StoreError where error.code == .notFound {
                return false
            }
        }
        throw StoreError.conflict("document '\(database)/\(name)/\(id)' kept changing during the rekey")
    }
}

extension DocumentStore {
    /// Replaces a collection's private metadata, in its record and its index entry, in one UPDATE
    /// that requires the record to be as read; other writers' next writes then fail their
    /// prerequisite on it and read it again.
    func replaceMetadata(of node: Node, with privacy: PrivateMetadata, collection: String, in database: String) async throws {
        var metadata = node.metadata
        metadata.privacy = privacy
        try await replaceMetadata(of: node, with: metadata, collection: collection, in: database, "changing the keys of collection '\(database)/\(collection)'")
    }

    /// Replaces a collection's metadata, in its record and its index entry, in one UPDATE that
    /// requires the record to be as read (a conflict otherwise).
    func replaceMetadata(of node: Node, with metadata: NodeMetadata, collection: String, in database: String, _ context: String) async throws {
        let text = try MetadataJSON.encode(metadata)
        let parent = try await self.database(named: database, forWriting: true)
        var update = UpdateBuilder(zone: configuration.zone)
        update.require(.rrsetEquals(node.name, .txt, [node.rdata]))
        update.replace(node.name, .txt, with: [.txt(TXT(splitting: text))], ttl: configuration.metadataTTL)
        var edits = IndexEdits()
        edits.remove(collection, chunk: node.chunk, of: parent.name, level: .collection)
        edits.add(collection, .node(metadata), chunk: node.chunk, of: parent.name, level: .collection)
        try await apply(edits, to: &update)
        defer { forget(collection: collection, in: database) }
        try await send(update, context)
    }
}

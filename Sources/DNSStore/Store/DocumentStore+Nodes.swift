import DNSWire

extension DocumentStore {
    /// Creates a database or collection node and its index entry in one UPDATE.
    func createNode(
        _ name: String, path: String, level: IndexLevel, under parent: DNSName, parentTotal: Int, chunks: Int, privacy: PrivateMetadata? = nil
    ) async throws {
        guard (1...4096).contains(chunks) else {
            throw StoreError.invalidName("\(level.rawValue) '\(name)' needs 1 to 4096 chunks, not \(chunks)")
        }
        let (nodeName, chunk) = try layout.child(name, total: parentTotal, of: parent)
        let metadata = NodeMetadata(name: name, chunks: ChunkCount(total: chunks), privacy: privacy)
        let text = try MetadataJSON.encode(metadata)
        for attempt in 0..<configuration.maxAttempts {
            if attempt > 0 { try await backoff(attempt) }
            if try await readRecord(nodeName) != nil {
                throw StoreError.alreadyExists("\(level.rawValue) '\(name)'", path: path)
            }
            var update = UpdateBuilder(zone: configuration.zone)
            update.require(.rrsetDoesNotExist(nodeName, .txt))
            update.add(.txt(nodeName, TXT(splitting: text), ttl: configuration.metadataTTL))
            var edits = IndexEdits()
            edits.add(name, .node(metadata), chunk: chunk, of: parent, level: level)
            try await apply(edits, to: &update)
            do {
                try await send(update, "creating \(level.rawValue) '\(name)'")
                return
            } catch let error as StoreError where error.code == .conflict {
                continue
            }
        }
        throw StoreError.conflict("creating \(level.rawValue) '\(name)': still racing after \(configuration.maxAttempts) attempts", path: path)
    }

    /// Removes a node and its index entry in one UPDATE, so it disappears at once; returns what it was.
    func unlinkNode(_ name: String, path: String, level: IndexLevel, under parent: DNSName, parentTotal: Int) async throws -> NodeMetadata {
        let (nodeName, chunk) = try layout.child(name, total: parentTotal, of: parent)
        for attempt in 0..<configuration.maxAttempts {
            if attempt > 0 { try await backoff(attempt) }
            guard let rdata = try await readRecord(nodeName) else {
                throw StoreError.notFound("\(level.rawValue) '\(name)' does not exist", path: path)
            }
            let metadata = try MetadataJSON.decode(NodeMetadata.self, try text(of: rdata, at: nodeName), name: nodeName)
            var update = UpdateBuilder(zone: configuration.zone)
            update.require(.rrsetEquals(nodeName, .txt, [rdata]))
            update.apply(.deleteName(nodeName))
            var edits = IndexEdits()
            edits.remove(name, chunk: chunk, of: parent, level: level)
            try await apply(edits, to: &update)
            do {
                try await send(update, "dropping \(level.rawValue) '\(name)'")
                return metadata
            } catch let error as StoreError where error.code == .conflict {
                continue
            }
        }
        throw StoreError.conflict("dropping \(level.rawValue) '\(name)': still racing after \(configuration.maxAttempts) attempts", path: path)
    }

    /// Deletes everything under an unlinked collection node: records, data chunks, index pages.
    /// `metadata` is the collection's as it was unlinked: with indexes, their lists go too
    /// (found from the documents' values).
    func purgeCollection(at node: DNSName, metadata: NodeMetadata, database: String) async throws {
        let total = metadata.chunks.total
        let codec = codec(for: metadata, in: database)
        // A private collection's lists are found only with its key; without it they stay (fsck
        // with the key removes them).
        let sealing = Result { try codec.sealed() }
        let indexes = (try? sealing.get()) != nil || metadata.privacy == nil ? metadata.indexes ?? [:] : [:]
        let keys = Locked([String: Set<[UInt8]>]())
        var names: [DNSName] = []
        let chunks = try await concurrently(Array(0..<total)) { chunk in
            try await self.loadIndexChunk(chunk, of: node, level: .record)
        }
        var ids: [String] = []
        for pages in chunks {
            for page in pages {
                if page.rdata != nil { names.append(page.name) }
                ids += page.page.entries.keys
            }
        }
        let recordNames = try await concurrently(ids) { id -> [DNSName] in
            let (name, _) = try self.layout.child(id, total: total, of: node)
            guard let rdata = try await self.readRecord(name) else { return [] }
            guard let record = try? RecordText.parse(rdata, name: name, tolerateNewer: true) else { return [name] }
            if !indexes.isEmpty, let json = try? await self.storedJSON(of: record, at: name, codec: codec, id: id) {
                let document = DocumentKeys(json)
                keys.withLock { keys in
                    for field in indexes.keys { if let key = document.key(field) { keys[field, default: []].insert(key) } }
                }
            }
            return [name] + (try self.dataChunkNames(of: record, at: name))
        }
        names += recordNames.flatMap { $0 }
        await deleteNames(names)
        if !indexes.isEmpty { try await purgeLists(of: indexes, keys: keys.withLock { $0 }, under: node, sealing: try sealing.get()) }
    }

    /// Deletes everything under an unlinked database node.
    func purgeDatabase(at node: DNSName, total: Int, name database: String) async throws {
        let collections = try await readIndex(of: node, total: total, level: .collection)
        for (name, entry) in collections {
            let (collectionNode, _) = try layout.child(name, total: total, of: node)
            await deleteNames([collectionNode])
            let metadata = entry.metadata ?? NodeMetadata(name: name, chunks: ChunkCount(total: configuration.collectionChunks))
            try await purgeCollection(at: collectionNode, metadata: metadata, database: database)
        }
        var pageNames: [DNSName] = []
        for chunk in 0..<total {
            for page in try await loadIndexChunk(chunk, of: node, level: .collection) where page.rdata != nil {
                pageNames.append(page.name)
            }
        }
        await deleteNames(pageNames)
    }
}

import DNSWire
import Foundation
import Logging

extension DocumentStore {
    /// Runs writes as one UPDATE (section 8.1 of docs/FORMAT.md): reads what they depend on, plans
    /// the UPDATE (`WritePlan`, no I/O), writes a large document's data chunks, sends the UPDATE,
    /// and reads again and retries when only an index page moved under it. Returns each
    /// document's new version (for a delete, the version deleted).
    func execute(_ ops: [WriteOp], _ context: String) async throws -> [Int] {
        try await executeReporting(ops, context).map(\.version)
    }

    /// `execute`, saying for each write whether it changed anything (a put skipped as unchanged
    /// did not). `revoking`: a lease deleted in the same UPDATE (its documents are among `ops`).
    func executeReporting(_ ops: [WriteOp], _ context: String, revoking: String? = nil) async throws -> [(version: Int, changed: Bool)] {
        let databases = Set(ops.map(\.database)), collections = Set(ops.map(\.collection))
        return try await traced(
            "dnsstore.write", operation: ops.count == 1 ? ops[0].operationName : "batch",
            database: databases.count == 1 ? databases.first : nil, collection: collections.count == 1 ? collections.first : nil,
            documents: ops.count
        ) {
            try await executeUntraced(ops, context, revoking: revoking)
        }
    }

    private func executeUntraced(_ ops: [WriteOp], _ context: String, revoking: String?) async throws -> [(version: Int, changed: Bool)] {
        let ops = try validate(ops)
        if configuration.createIfMissing {
            // Writes that create (not deletes, not the reaper's) make their database and collection.
            var seen = Set<CollectionKey>()
            for op in ops where !op.isDelete && !op.byStoredID
                && seen.insert(CollectionKey(database: op.database, collection: op.collection)).inserted
            {
                _ = try await collectionForWriting(op.database, op.collection, documents: [])
            }
        }
        var addresses = try await concurrently(ops) { try await self.address(for: $0) }
        for attempt in 0..<configuration.maxAttempts {
            if attempt > 0 {
                try await backoff(attempt)
                // The collection may have been dropped and created again since it was cached.
                var moved = false
                for op in ops { moved = try await refreshCollection(op.collection, in: op.database) || moved }
                if moved { addresses = try await concurrently(ops) { try await self.address(for: $0) } }
            }
            // What this client knew of each document before reading it (see checkNotRolledBack).
            let known = ops.map { session.knowledge(of: $0.key) }
            let allCurrents = try await concurrently(addresses) { address in
                try await self.readStoredRecord(address.name, id: address.storedID)
            }
            // Every lease the writes touch: those they attach to, those their documents leave.
            var leaseIDs = Set(ops.compactMap(\.lease) + allCurrents.compactMap { $0?.header.lease })
            if let revoking { leaseIDs.insert(revoking) }
            let leases = try await readLeases(leaseIDs)
            let now = configuration.clock()
            for (i, op) in ops.enumerated() {
                let current = allCurrents[i]
                if let current {
                    if !op.byStoredID {
                        try checkNotRolledBack(op.key, known: known[i], version: current.header.version, at: addresses[i].name, fromPrimary: true)
                    }
                    try checkNotDowngraded(current, at: addresses[i], op.path)
                }
                // A document whose lease lapsed is gone, for conditions as for readers.
                let live = current.flatMap { record in record.header.lease.map { leases[$0]!.isLive(at: now) } ?? true } ?? false
                try check(op, current: live || op.physical ? current : nil)
                if let lease = op.lease, !op.isDelete, !leases[lease]!.isLive(at: now) {
                    guard let record = leases[lease]!.record else {
                        throw StoreError.notFound("lease \(lease) does not exist: it expired or was revoked", path: op.path)
                    }
                    throw StoreError.notFound("lease \(lease) lapsed \(Double(now - record.deadline) / 1000) s ago", path: op.path)
                }
            }
            // A write whose condition fails against what is there now reported it above, without
            // retrying; puts asked to skip documents that already hold their JSON drop out here.
            let kept = try ops.indices.filter { try !Self.isUnchanged(ops[$0], current: allCurrents[$0], at: addresses[$0]) }
            guard !kept.isEmpty || revoking != nil else { return allCurrents.map { ($0!.header.version, false) } }
            var reading = WriteReading(
                ops: kept.map { ops[$0] }, addresses: kept.map { addresses[$0] }, currents: kept.map { allCurrents[$0] },
                leases: leases, revoking: revoking, now: now)
            var written: [DNSName] = []
            do {
                reading.postings = try await postingChanges(for: reading)
                reading.plans = try await loadIndexChunks(for: reading)
                reading.staleHolders = try await staleHolders(in: reading)
                reading.directory = try await directoryPlan(postings: reading.postings, plans: reading.plans, stale: reading.staleHolders)
                reading.plans.merge(reading.directory.plans) { $1 }
                for (i, op) in reading.ops.enumerated() where reading.currents[i] == nil && !op.isDelete {
                    try checkNoSealedIDs(in: reading.plans[reading.addresses[i].indexChunk]!, of: reading.addresses[i], op.path)
                }
                let plan = try WritePlan(
                    reading, zone: configuration.zone, recordTTL: configuration.recordTTL, layout: layout,
                    limits: configuration.backendLimits,
                    highestSeen: { key in ops.firstIndex { $0.key == key }.flatMap { known[$0]?.version } })
                written = plan.dataChunks.map(\.name)
                try await writeDataChunks(plan.dataChunks)
                let listPageNames = Set(try reading.postings.map { try layout.indexPage(0, chunk: $0.chunk.chunk, of: $0.chunk.node) })
                do {
                    try await send(plan.update, context)
                } catch {
                    // Lists planned from cached pages are read afresh by the next attempt.
                    listPages.forget(listPageNames)
                    throw error
                }
                if !listPageNames.isEmpty { listPages.noteSent(plan.update, pageNames: listPageNames) }
                // The replaced generations are no longer referenced: a reader still on one finds
                // a chunk gone and starts again (section 8.2); what is not deleted, fsck finds.
                await deleteNames(plan.replacedDataChunks)
                for (op, version) in zip(reading.ops, plan.versions) where !op.byStoredID {
                    if op.isDelete { session.deleted(op.key, version: version) } else { session.saw(op.key, version: version) }
                }
                var results = allCurrents.map { (version: $0?.header.version ?? 0, changed: false) }
                for (i, version) in zip(kept, plan.versions) { results[i] = (version, true) }
                return results
            } catch let error as StoreError where error.code == .conflict {
                // Lost a race. The next attempt reads again: a compare-and-swap whose document
                // changed reports the conflict then; a write that raced only on an index page retries.
                configuration.logger.debug("lost a race; reading again", metadata: ["write": "\(context)", "attempt": "\(attempt + 1)"])
                await deleteNames(written)
            } catch {
                await deleteNames(written)
                throw error
            }
        }
        throw StoreError.conflict("\(context): still racing with other writers after \(configuration.maxAttempts) attempts")
    }

    /// Where a write's document lives: by its id, or by the stored id it names.
    func address(for op: WriteOp) async throws -> RecordAddress {
        guard op.byStoredID else { return try await address(of: op.id, in: op.collection, of: op.database, forWriting: true) }
        let node = try await collection(named: op.collection, in: op.database, forWriting: true)
        let (name, chunk) = try layout.child(op.id, total: node.metadata.chunks.total, of: node.name)
        return RecordAddress(
            name: name, chunk: chunk, collection: node, storedID: op.id, codec: node.codec ?? codec(for: node.metadata, in: op.database))
    }

    /// The lease records of `ids`, read from the primary.
    func readLeases(_ ids: Set<String>) async throws -> [String: LeaseReading] {
        let read = try await concurrently(Array(ids)) { id -> LeaseReading in
            let (name, chunk) = try self.layout.lease(id)
            let found = try await self.readLease(id, route: .primary)
            return LeaseReading(id: id, name: name, chunk: chunk, rdata: found?.rdata, record: found?.record)
        }
        return Dictionary(uniqueKeysWithValues: read.map { ($0.id, $0) })
    }

    /// Reads the index chunks a write changes, each as little as it needs: a chunk that only gains
    /// entries from its hint, one that only loses them where they are, any other whole; then, where
    /// the hinted page has no room or an id to remove was not found, the rest of the chunk.
    private func loadIndexChunks(for reading: WriteReading) async throws -> [IndexEdits.ChunkKey: IndexChunkPlan] {
        var keys = Set<IndexEdits.ChunkKey>()
        var created: [IndexEdits.ChunkKey: [(String, IndexEntry)]] = [:]
        var adding = Set<IndexEdits.ChunkKey>()
        var removing: [IndexEdits.ChunkKey: Set<String>] = [:]
        var whole = Set<IndexEdits.ChunkKey>()
        for (i, op) in reading.ops.enumerated() {
            let key = reading.addresses[i].indexChunk
            let current = reading.currents[i]
            if current == nil && !op.isDelete {
                keys.insert(key)
                created[key, default: []].append((reading.addresses[i].storedID, .document(lease: op.lease)))
            } else if op.isDelete {
                keys.insert(key)
                removing[key, default: []].insert(reading.addresses[i].storedID)
            } else if current?.header.lease != op.lease {
                keys.insert(key)
                whole.insert(key)
            }
        }
        // Secondary indexes (section 14.4): a unique index's list is read whole, to see who holds it.
        for change in reading.postings {
            keys.insert(change.chunk)
            if change.adding {
                created[change.chunk, default: []].append((change.storedID, .document(lease: nil)))
                if change.unique != nil { whole.insert(change.chunk) }
            } else {
                removing[change.chunk, default: []].insert(change.storedID)
            }
        }
        if let revoking = reading.revoking, let lease = reading.leases[revoking], lease.record != nil {
            let key = WritePlan.leaseIndexKey(lease.chunk, layout)
            keys.insert(key)
            removing[key, default: []].insert(revoking)
        }
        for key in created.keys where removing[key] == nil && !whole.contains(key) { adding.insert(key) }
        for key in removing.keys where created[key] != nil || whole.contains(key) { removing[key] = nil }
        // Lists planned from this store object's cached pages, unique ones aside: a refusal must
        // rest on the list as the primary holds it.
        let unique = Set(reading.postings.filter { $0.unique != nil }.map(\.chunk))
        let cached = Set(reading.postings.map(\.chunk)).subtracting(unique)
        var plans = try await loadPlans(keys, adding: adding, removing: removing, cached: cached)
        var again = Set<IndexEdits.ChunkKey>()
        for (key, entries) in created where !(try plans[key]!.hasRoom(for: entries)) { again.insert(key) }
        for (key, ids) in removing where ids.contains(where: { plans[key]!.page(holding: $0) == nil }) { again.insert(key) }
        if !again.isEmpty { plans.merge(try await loadPlans(again)) { $1 } }
        return plans
    }

    /// A plain collection holding an encrypted record had its `"private"` stripped from the zone
    /// (section 11): writing there would put a private document in the clear.
    private func checkNotDowngraded(_ current: StoredRecord, at address: RecordAddress, _ path: String) throws {
        guard !address.codec.isPrivate, current.header.keyID != nil else { return }
        throw StoreError.corrupted(
            "'\(path)' holds an encrypted record, but its collection's metadata is not private: it was altered; refusing to write it in the clear",
            path: path)
    }

    /// A client holding encryption keys does not create a document in the clear next to ids that
    /// are sealed (section 11.3): their collection was private and its metadata was stripped.
    private func checkNoSealedIDs(in plan: IndexChunkPlan, of address: RecordAddress, _ path: String) throws {
        guard !address.codec.isPrivate, configuration.encryptionKeys.map({ !$0.all.isEmpty }) ?? false else { return }
        for page in plan.original where page.loaded {
            if page.page.entries.keys.contains(where: CollectionSecrets.looksSealed) {
                throw StoreError.corrupted(
                    "collection '\(address.codec.path)' lists sealed ids, but its metadata is not private: it was altered; refusing to write '\(path)' in the clear",
                    path: path)
            }
        }
    }

    /// Whether a put asked to skip an unchanged document finds the same JSON there already,
    /// attached to the same lease.
    private static func isUnchanged(_ op: WriteOp, current: StoredRecord?, at address: RecordAddress) throws -> Bool {
        guard op.skipIfUnchanged, case .put = op.mode, let current, current.header.lease == op.lease else { return false }
        guard current.header.encoding != nil else {
            return current.header.storedLength == op.body.count && current.header.digest == RecordText.digest(op.body)
        }
        // Encoded: compare the document itself (a chunked one is written again).
        guard !current.header.isChunked else { return false }
        return try address.codec.decode(current.body, header: current.header, id: op.id, at: address.name) == op.body
    }

    /// Checks every write before anything is sent; returns them with their documents normalized.
    private func validate(_ ops: [WriteOp]) throws -> [WriteOp] {
        var seen = Set<[String]>()
        var checked: [WriteOp] = []
        for var op in ops {
            guard seen.insert([op.database, op.collection, op.id]).inserted else {
                throw StoreError.invalidDocument("the batch writes '\(op.collection)/\(op.id)' twice")
            }
            if let lease = op.lease, !Lease.isValidID(lease) {
                throw StoreError.invalidDocument("'\(lease)' is not a lease id (16 lower-case hex digits)", path: op.path)
            }
            defer { checked.append(op) }
            if case .delete = op.mode { continue }
            if !op.checked { op.body = try DocumentJSON.normalize(op.body) }
            guard op.body.count <= RecordText.maxDocument else {
                throw StoreError.tooLarge("document '\(op.id)' is \(op.body.count) octets; the limit is \(RecordText.maxDocument)")
            }
            guard ops.count == 1 || op.body.count <= RecordText.inlineLimit else {
                throw StoreError.tooLarge(
                    "document '\(op.id)' is \(op.body.count) octets; documents in a batch are limited to \(RecordText.inlineLimit)")
            }
        }
        return checked
    }

    /// Throws the error a write's condition earns against the current record (nil: none, or one
    /// whose lease lapsed).
    private func check(_ op: WriteOp, current: StoredRecord?) throws {
        let path = op.path
        switch op.mode {
        case .put: break
        case .insert:
            if current != nil { throw StoreError.alreadyExists("document '\(path)'", path: path) }
        case .update(let expected):
            guard let current else { throw StoreError.notFound("document '\(path)'", path: path) }
            guard current.header.version == expected else {
                throw StoreError.conflict(
                    "document '\(path)' is at version \(current.header.version), not \(expected)", path: path,
                    expectedVersion: expected, actualVersion: current.header.version)
            }
        case .delete(let expected):
            guard let current else { throw StoreError.notFound("document '\(path)'", path: path) }
            if let expected, current.header.version != expected {
                throw StoreError.conflict(
                    "document '\(path)' is at version \(current.header.version), not \(expected)", path: path,
                    expectedVersion: expected, actualVersion: current.header.version)
            }
        }
    }

    func dataChunkNames(of record: StoredRecord, at name: DNSName) throws -> [DNSName] {
        try WritePlan.dataChunkNames(of: record, at: name, layout)
    }

    /// Writes a large document's pieces under fresh names (section 8.2), one per UPDATE, or as
    /// many as the backend's limits allow in one; on a failure, removes those written.
    private func writeDataChunks(_ chunks: [(name: DNSName, text: [UInt8])]) async throws {
        guard !chunks.isEmpty else { return }
        let perUpdate = configuration.backendLimits?.dataChunksPerUpdate ?? 1
        let groups = stride(from: 0, to: chunks.count, by: perUpdate).map { chunks[$0..<min($0 + perUpdate, chunks.count)] }
        do {
            _ = try await concurrently(groups, limit: 4) { group in
                var update = UpdateBuilder(zone: self.configuration.zone)
                for (name, piece) in group {
                    update.replace(name, .txt, with: [.txt(TXT(splitting: piece))], ttl: self.configuration.recordTTL)
                }
                try await self.send(update, "writing data chunk \(group.first!.name)")
            }
        } catch {
            await deleteNames(chunks.map(\.name))
            throw error
        }
    }

    /// Deletes names, many per UPDATE (as many data chunks as the backend's limits allow);
    /// best effort (what is left, fsck finds).
    func deleteNames(_ names: [DNSName]) async {
        let perUpdate = configuration.backendLimits?.dataChunksPerUpdate ?? 200
        for start in stride(from: 0, to: names.count, by: perUpdate) {
            var update = UpdateBuilder(zone: configuration.zone)
            for name in names[start..<min(start + perUpdate, names.count)] { update.apply(.deleteName(name)) }
            try? await send(update, "cleaning up")
        }
    }
}

import DNSWire
import Foundation

/// One document write, alone or in a batch.
struct WriteOp: Sendable {
    enum Mode: Sendable {
        /// Create or replace.
        case put
        /// Create; fails if present.
        case insert
        /// Replace only at this version (compare-and-swap).
        case update(expected: Int)
        /// Delete, optionally only at this version.
        case delete(expected: Int?)
    }

    var database: String
    var collection: String
    var id: String
    var mode: Mode
    var body: [UInt8] = []
    /// A put that leaves a document already holding the same JSON as it is (an import run again).
    var skipIfUnchanged = false
    /// The body is known to be normalized JSON within the size limit already.
    var checked = false

    var key: Session.DocumentKey { Session.DocumentKey(database: database, collection: collection, id: id) }
    var path: String { "\(database)/\(collection)/\(id)" }

    var isDelete: Bool {
        if case .delete = mode { return true }
        return false
    }
}

extension DocumentStore {
    /// Runs writes as one UPDATE (section 8.1 of docs/FORMAT.md), reading the current records first
    /// and retrying when only an index page moved under it. Returns each document's new version
    /// (for a delete, the version deleted).
    func execute(_ ops: [WriteOp], _ context: String) async throws -> [Int] {
        try await executeReporting(ops, context).map(\.version)
    }

    /// `execute`, saying for each write whether it changed anything (a put skipped as unchanged did not).
    func executeReporting(_ ops: [WriteOp], _ context: String) async throws -> [(version: Int, changed: Bool)] {
        let ops = try validate(ops)
        var addresses = try await concurrently(ops) { op in
            try await self.address(of: op.id, in: op.collection, of: op.database, forWriting: true)
        }
        for attempt in 0..<configuration.maxAttempts {
            if attempt > 0 {
                try await backoff(attempt)
                // The collection may have been dropped and created again since it was cached.
                var moved = false
                for op in ops { moved = try await refreshCollection(op.collection, in: op.database) || moved }
                if moved {
                    addresses = try await concurrently(ops) { op in
                        try await self.address(of: op.id, in: op.collection, of: op.database, forWriting: true)
                    }
                }
            }
            let allCurrents = try await concurrently(addresses) { address in
                try await self.readStoredRecord(address.name, id: address.storedID)
            }
            // A write whose condition fails against what is there now reports it, without retrying;
            // one that finds its document below a version this client saw refuses to build on it.
            for (i, (op, current)) in zip(ops, allCurrents).enumerated() {
                if let current {
                    try checkNotRolledBack(op.key, version: current.header.version, at: addresses[i].name, fromPrimary: true)
                    try checkNotDowngraded(current, at: addresses[i], op.path)
                }
                try check(op, current: current)
            }
            let kept = try ops.indices.filter { try !Self.isUnchanged(ops[$0], current: allCurrents[$0], at: addresses[$0]) }
            guard !kept.isEmpty else { return allCurrents.map { ($0!.header.version, false) } }
            let ops = kept.map { ops[$0] }
            let addresses = kept.map { addresses[$0] }
            let currents = kept.map { allCurrents[$0] }
            // Creates and deletes change their index chunk (and creates take their version from it).
            var chunkKeys = Set<IndexEdits.ChunkKey>()
            for (i, op) in ops.enumerated() where changesIndex(op, current: currents[i]) {
                chunkKeys.insert(addresses[i].indexChunk)
            }
            // New ids, placed together so that a batch changes as few index pages as it can.
            var created: [IndexEdits.ChunkKey: [(String, IndexEntry)]] = [:]
            for (i, op) in ops.enumerated() where currents[i] == nil && !op.isDelete {
                created[addresses[i].indexChunk, default: []].append((addresses[i].storedID, .unleased))
            }
            // A chunk that only gains entries is read from its hint; one that loses any, whole.
            var onlyAdding = Set(created.keys)
            for (i, op) in ops.enumerated() where op.isDelete { onlyAdding.remove(addresses[i].indexChunk) }
            // A chunk that only loses entries is parsed where they are.
            var onlyRemoving: [IndexEdits.ChunkKey: Set<String>] = [:]
            for (i, op) in ops.enumerated() where op.isDelete && created[addresses[i].indexChunk] == nil {
                onlyRemoving[addresses[i].indexChunk, default: []].insert(addresses[i].storedID)
            }
            var update = UpdateBuilder(zone: configuration.zone)
            // Each collection written to must still be the one its names were computed from.
            for node in Set(addresses.map(\.collection.name)) {
                guard let collection = addresses.first(where: { $0.collection.name == node })?.collection else { continue }
                update.require(.rrsetEquals(collection.name, .txt, [collection.rdata]))
            }
            var versions: [Int] = []
            var written: [DNSName] = []
            do {
                var plans = try await loadPlans(chunkKeys, adding: onlyAdding, removing: onlyRemoving)
                // Where the hinted page has no room, the pages after it are read after all; so
                // are chunks where an id to remove was not found on the pages read.
                var whole = Set<IndexEdits.ChunkKey>()
                for (key, entries) in created where !(try plans[key]!.hasRoom(for: entries)) { whole.insert(key) }
                for (key, ids) in onlyRemoving where ids.contains(where: { plans[key]!.page(holding: $0) == nil }) { whole.insert(key) }
                if !whole.isEmpty { plans.merge(try await loadPlans(whole)) { $1 } }
                for (i, op) in ops.enumerated() where currents[i] == nil && !op.isDelete {
                    try checkNoSealedIDs(in: plans[addresses[i].indexChunk]!, of: addresses[i], op.path)
                }
                for (i, op) in ops.enumerated() {
                    let version = try await plan(
                        op, at: addresses[i], current: currents[i], into: &update, plans: &plans, written: &written)
                    versions.append(version)
                }
                for (key, entries) in created { try plans[key]!.add(entries) }
                try write(plans, into: &update)
                try await send(update, context)
                for (op, version) in zip(ops, versions) {
                    if op.isDelete { session.deleted(op.key, version: version) } else { session.saw(op.key, version: version) }
                }
                var results = allCurrents.map { (version: $0?.header.version ?? 0, changed: false) }
                for (i, version) in zip(kept, versions) { results[i] = (version, true) }
                return results
            } catch let error as StoreError where error.code == .conflict {
                // Lost a race. The next attempt reads again: a compare-and-swap whose document
                // changed reports the conflict then; a write that raced only on an index page retries.
                await deleteNames(written)
            } catch {
                await deleteNames(written)
                throw error
            }
        }
        throw StoreError.conflict("\(context): still racing with other writers after \(configuration.maxAttempts) attempts")
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

    /// Whether a put asked to skip an unchanged document finds the same JSON there already.
    private static func isUnchanged(_ op: WriteOp, current: StoredRecord?, at address: RecordAddress) throws -> Bool {
        guard op.skipIfUnchanged, case .put = op.mode, let current else { return false }
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

    /// Throws the error a write's condition earns against the current record.
    private func check(_ op: WriteOp, current: StoredRecord?) throws {
        let path = "\(op.database)/\(op.collection)/\(op.id)"
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

    /// Whether a write creates or deletes its document, and so changes the index.
    private func changesIndex(_ op: WriteOp, current: StoredRecord?) -> Bool {
        op.isDelete || current == nil
    }

    /// Adds one write's prerequisites and changes; writes a chunked document's data chunks first.
    /// A new document's version is one above its index chunk's floor, so that the versions of an
    /// id never repeat across a delete and a create (section 7 of docs/FORMAT.md).
    private func plan(
        _ op: WriteOp, at address: RecordAddress, current: StoredRecord?, into update: inout UpdateBuilder,
        plans: inout [IndexEdits.ChunkKey: IndexChunkPlan], written: inout [DNSName]
    ) async throws -> Int {
        if let current {
            update.require(.rrsetEquals(address.name, .txt, [current.rdata]))
        } else {
            update.require(.rrsetDoesNotExist(address.name, .txt))
        }
        let oldChunks = try current.map { try dataChunkNames(of: $0, at: address.name) } ?? []
        for name in oldChunks { update.apply(.deleteName(name)) }
        if case .delete = op.mode {
            update.apply(.deleteName(address.name))
            plans[address.indexChunk]!.remove(address.storedID)
            plans[address.indexChunk]!.raiseFloor(to: current!.header.version)
            return current!.header.version
        }
        let version: Int
        if let current {
            version = current.header.version + 1
        } else {
            version = plans[address.indexChunk]!.readFloor() + 1
            // Versions of an id never repeat (section 7.1): a floor below what this client saw of
            // the id was rolled back, and writing above it would give a version out again.
            if let seen = session.highestVersion(of: op.key), version <= seen {
                throw StoreError.corrupted(
                    "the index chunk of '\(op.path)' has floor \(version - 1), below version \(seen) that this client saw: the store was rolled back",
                    path: op.path)
            }
        }
        var (header, body) = try address.codec.encode(op.body, id: op.id, storedID: address.storedID, version: version)
        if body.count > RecordText.inlineLimit {
            let generation = String(format: "%08x", UInt32.random(in: .min ... .max))
            let names = try await writeDataChunks(body, generation: generation, of: address.name)
            written += names
            header.chunkCount = names.count
            header.generation = generation
            body = []
        }
        update.replace(address.name, .txt, with: [try RecordText.rdata(header: header, body: body)], ttl: configuration.recordTTL)
        return version
    }

    func dataChunkNames(of record: StoredRecord, at name: DNSName) throws -> [DNSName] {
        guard let count = record.header.chunkCount, let generation = record.header.generation else { return [] }
        return try (0..<count).map { try layout.dataChunk($0, generation: generation, of: name) }
    }

    /// Writes a large document's pieces under fresh names, one UPDATE each (section 8.2).
    private func writeDataChunks(_ body: [UInt8], generation: String, of record: DNSName) async throws -> [DNSName] {
        let pieces = stride(from: 0, to: body.count, by: RecordText.dataChunkSize).map {
            Array(body[$0..<min($0 + RecordText.dataChunkSize, body.count)])
        }
        let names = try pieces.indices.map { try layout.dataChunk($0, generation: generation, of: record) }
        do {
            _ = try await concurrently(Array(zip(names, pieces)), limit: 4) { name, piece in
                var update = UpdateBuilder(zone: self.configuration.zone)
                update.replace(name, .txt, with: [.txt(TXT(splitting: piece))], ttl: self.configuration.recordTTL)
                try await self.send(update, "writing data chunk \(name)")
            }
        } catch {
            await deleteNames(names)
            throw error
        }
        return names
    }

    /// Deletes names, many per UPDATE; best effort (what is left, fsck finds).
    func deleteNames(_ names: [DNSName]) async {
        for start in stride(from: 0, to: names.count, by: 200) {
            var update = UpdateBuilder(zone: configuration.zone)
            for name in names[start..<min(start + 200, names.count)] { update.apply(.deleteName(name)) }
            try? await send(update, "cleaning up")
        }
    }
}

import DNSWire
import Foundation

/// A lease a write touches (docs/FORMAT.md section 13), as read from the primary.
struct LeaseReading: Sendable {
    var id: String
    var name: DNSName
    /// Its chunk of the lease index.
    var chunk: Int
    /// The record as read, for the prerequisite; nil when there is none.
    var rdata: RData?
    var record: LeaseRecord?

    func isLive(at now: Int64) -> Bool { record?.isLive(at: now) ?? false }
}

/// What one attempt at a write read from the primary: everything its plan depends on.
struct WriteReading {
    var ops: [WriteOp]
    var addresses: [DocumentStore.RecordAddress]
    var currents: [StoredRecord?]
    /// The leases the writes attach documents to or take them from, and the one revoked.
    var leases: [String: LeaseReading] = [:]
    /// The index chunks the writes change, read.
    var plans: [IndexEdits.ChunkKey: IndexChunkPlan] = [:]
    /// A lease the write deletes with its documents (a revoke, or a reaper's expiry).
    var revoking: String?
    /// The clock the leases were judged by, in milliseconds.
    var now: Int64 = 0
    /// What the writes change in the collections' secondary indexes (section 14.4), whose chunks
    /// are among `plans`.
    var postings: [PostingChange] = []
    /// Entries of unique indexes' lists whose documents are gone (left by a reaper without a
    /// private collection's key): removed in the UPDATE, with the document required absent.
    var staleHolders: [StaleHolder] = []
    /// What the writes change in ordered indexes' directories, whose chunks are among `plans`.
    var directory = DirectoryPlan()
}

/// A stored id a list holds whose record does not exist.
struct StaleHolder: Sendable, Equatable {
    var chunk: IndexEdits.ChunkKey
    var storedID: String
    var record: DNSName
}

/// A write worked out from what it read, with no I/O (section 8 of docs/FORMAT.md): the one UPDATE
/// whose prerequisites make it a compare-and-swap against what was read, the data chunks to
/// write before it (section 8.2), and each document's new version (for a delete, the version
/// deleted).
struct WritePlan {
    var update: UpdateBuilder
    var dataChunks: [(name: DNSName, text: [UInt8])] = []
    /// Data chunks of replaced or deleted documents to delete once the UPDATE applied (with
    /// backend limits; otherwise the UPDATE deletes them itself).
    var replacedDataChunks: [DNSName] = []
    var versions: [Int] = []

    /// `highestSeen` is what this client saw of each document: a version the plan would give
    /// again is a rollback (section 7.1), refused. `generation` makes a chunked document's
    /// generation (random, in use).
    init(
        _ reading: WriteReading, zone: DNSName, recordTTL: UInt32, layout: StoreLayout, limits: BackendLimits? = nil,
        highestSeen: (Session.DocumentKey) -> Int?, generation: () -> String = { String(format: "%08x", UInt32.random(in: .min ... .max)) }
    ) throws {
        var plans = reading.plans
        update = UpdateBuilder(zone: zone)
        // Each collection written to must still be the one its names were computed from.
        var required = Set<DNSName>()
        for address in reading.addresses where required.insert(address.collection.name).inserted {
            update.require(.rrsetEquals(address.collection.name, .txt, [address.collection.rdata]))
        }
        // New ids, placed together so that a batch changes as few index pages as it can.
        var created: [IndexEdits.ChunkKey: [(String, IndexEntry)]] = [:]
        var createdOrder: [IndexEdits.ChunkKey] = []
        for (i, op) in reading.ops.enumerated() {
            let address = reading.addresses[i]
            let current = reading.currents[i]
            let key = address.indexChunk
            if let current {
                update.require(.rrsetEquals(address.name, .txt, [current.rdata]))
                let replaced = try Self.dataChunkNames(of: current, at: address.name, layout)
                if limits == nil {
                    for name in replaced { update.apply(.deleteName(name)) }
                } else {
                    replacedDataChunks += replaced
                }
            } else {
                update.require(.rrsetDoesNotExist(address.name, .txt))
            }
            if case .delete = op.mode {
                guard let current else { throw StoreError.notFound("document '\(op.path)'", path: op.path) }
                update.apply(.deleteName(address.name))
                plans[key]!.remove(address.storedID)
                plans[key]!.raiseFloor(to: current.header.version)
                versions.append(current.header.version)
                continue
            }
            let version: Int
            if let current {
                version = current.header.version + 1
            } else {
                version = plans[key]!.readFloor() + 1
                // Versions of an id never repeat (section 7.1): a floor below what this client saw
                // of the id was rolled back, and writing above it would give a version out again.
                if let seen = highestSeen(op.key), version <= seen {
                    throw StoreError.corrupted(
                        "the index chunk of '\(op.path)' has floor \(version - 1), below version \(seen) that this client saw: the store was rolled back",
                        path: op.path)
                }
            }
            var (header, body) = try address.codec.encode(op.body, id: op.id, storedID: address.storedID, version: version)
            if limits != nil, header.encoding == DocumentEncoding.zlib, try !Self.fitsInline(header, body, limits) {
                // A backend that escapes octets outside printable text may hold a document
                // uncompressed in one record where its zlib stream would take data chunks.
                let plain = try address.codec.encode(op.body, id: op.id, storedID: address.storedID, version: version, compress: false)
                if try Self.fitsInline(plain.header, plain.stored, limits) { (header, body) = plain }
            }
            header.lease = op.lease
            if try !Self.fitsInline(header, body, limits) {
                let chunkGeneration = generation()
                let size = try Self.dataChunkSize(for: body, limits, path: op.path)
                let pieces = stride(from: 0, to: body.count, by: size).map { body[$0..<min($0 + size, body.count)] }
                for (p, piece) in pieces.enumerated() {
                    dataChunks.append((try layout.dataChunk(p, generation: chunkGeneration, of: address.name), Array(piece)))
                }
                header.chunkCount = pieces.count
                header.generation = chunkGeneration
                header.chunkSize = size == RecordText.dataChunkSize ? nil : size
                body = []
            }
            update.replace(address.name, .txt, with: [try RecordText.rdata(header: header, body: body)], ttl: recordTTL)
            let entry = IndexEntry.document(lease: op.lease)
            if current == nil {
                if created[key] == nil { createdOrder.append(key) }
                created[key, default: []].append((address.storedID, entry))
            } else if current?.header.lease != op.lease {
                // The entry says the lease too (section 13): it is written again with the new one.
                plans[key]!.remove(address.storedID)
                try plans[key]!.add(address.storedID, entry)
            }
            versions.append(version)
        }
        for key in createdOrder { try plans[key]!.add(created[key]!) }
        for stale in reading.staleHolders {
            update.require(.rrsetDoesNotExist(stale.record, .txt))
            plans[stale.chunk]!.remove(stale.storedID)
        }
        try IndexMaintenance.apply(reading.postings, to: &plans) { storedID in
            let i = reading.addresses.firstIndex { $0.storedID == storedID }
            return i.map { reading.ops[$0].id } ?? storedID
        }
        try reading.directory.apply(to: &plans, update: &update)
        try planLeases(reading, layout: layout, plans: &plans)
        for key in plans.keys.sorted(by: { ($0.node, $0.chunk) < ($1.node, $1.chunk) }) {
            var plan = plans[key]!
            try plan.settle()
            try plan.write(into: &update, ttl: recordTTL)
        }
    }

    /// The lease records the writes change (section 13): a document attached is listed in its
    /// lease's record, one detached, moved or deleted is taken off, each record compared and
    /// swapped; a lease revoked goes with its index entry.
    private mutating func planLeases(
        _ reading: WriteReading, layout: StoreLayout, plans: inout [IndexEdits.ChunkKey: IndexChunkPlan]
    ) throws {
        for id in reading.leases.keys.sorted() {
            let lease = reading.leases[id]!
            guard let record = lease.record, let rdata = lease.rdata else { continue }
            if id == reading.revoking {
                update.require(.rrsetEquals(lease.name, .txt, [rdata]))
                update.apply(.deleteName(lease.name))
                plans[Self.leaseIndexKey(lease.chunk, layout)]!.remove(id)
                continue
            }
            // A lapsed lease keeps its list: documents leaving it need nothing, and attaching
            // to it was refused before planning.
            guard record.isLive(at: reading.now) else { continue }
            var docs = record.docs
            for (i, op) in reading.ops.enumerated() {
                let entry = [op.database, op.collection, reading.addresses[i].storedID]
                if reading.currents[i]?.header.lease == id, op.isDelete || op.lease != id { docs.removeAll { $0 == entry } }
                if op.lease == id, !op.isDelete, !docs.contains(entry) { docs.append(entry) }
            }
            guard docs != record.docs else { continue }
            var changed = record
            changed.docs = docs
            let text = try MetadataJSON.encode(changed)
            guard text.count <= LeaseRecord.maxTextOctets else {
                throw StoreError.tooLarge(
                    "lease \(id) would list \(docs.count) documents in \(text.count) octets; a lease record holds at most \(LeaseRecord.maxTextOctets)")
            }
            update.require(.rrsetEquals(lease.name, .txt, [rdata]))
            update.replace(lease.name, .txt, with: [.txt(TXT(splitting: text))], ttl: LeaseRecord.recordTTL(record.ttl))
        }
    }

    static func leaseIndexKey(_ chunk: Int, _ layout: StoreLayout) -> IndexEdits.ChunkKey {
        IndexEdits.ChunkKey(node: layout.leaseIndex, chunk: chunk, level: .lease)
    }

    /// Whether a document's stored octets go in its record (section 7): at most 16,000, in a
    /// record the backend holds.
    static func fitsInline(_ header: RecordHeader, _ body: [UInt8], _ limits: BackendLimits?) throws -> Bool {
        guard body.count <= RecordText.inlineLimit else { return false }
        guard let limits else { return true }
        guard case .txt(let txt) = try RecordText.rdata(header: header, body: body) else { return false }
        return limits.recordFits(txt)
    }

    /// The data chunk size for `body` (section 7): 60,000 octets, or with backend limits the
    /// largest size from 60,000 down by tenths to 512 at which every chunk is a record the
    /// backend holds.
    static func dataChunkSize(for body: [UInt8], _ limits: BackendLimits?, path: String) throws -> Int {
        guard let limits else { return RecordText.dataChunkSize }
        var size = RecordText.dataChunkSize
        while true {
            let fits = stride(from: 0, to: body.count, by: size).allSatisfy {
                limits.recordFits(TXT(splitting: Array(body[$0..<min($0 + size, body.count)])))
            }
            if fits { return size }
            guard size > RecordText.minDataChunkSize else {
                throw StoreError.tooLarge(
                    "document '\(path)' does not fit this backend's records even in data chunks of \(RecordText.minDataChunkSize) octets", path: path)
            }
            size = max(RecordText.minDataChunkSize, size * 9 / 10)
        }
    }

    static func dataChunkNames(of record: StoredRecord, at name: DNSName, _ layout: StoreLayout) throws -> [DNSName] {
        guard let count = record.header.chunkCount, let generation = record.header.generation else { return [] }
        return try (0..<count).map { try layout.dataChunk($0, generation: generation, of: name) }
    }
}

extension LeaseRecord {
    /// The DNS TTL of a lease record: no longer than the lease, nor than records' 30 seconds, so
    /// that a resolver never keeps a lease alive past its end.
    static func recordTTL(_ ttl: Int) -> UInt32 { UInt32(max(1, min(ttl, 30))) }
}

import DNSWire

/// What a bulk write has done so far.
public struct BulkWriteProgress: Sendable, Equatable {
    /// Documents created or replaced.
    public var written = 0
    /// Documents that already held the same JSON, left as they were.
    public var unchanged = 0
    /// The JSON octets of the documents handled (written or unchanged).
    public var octets = 0

    /// Documents handled, written or unchanged.
    public var documents: Int { written + unchanged }

    /// Nothing done yet.
    public init() {}
}

/// A bulk write cut short: what it had done, and why it stopped.
public struct BulkWriteError: Error, CustomStringConvertible {
    /// What was in place when the write stopped.
    public var progress: BulkWriteProgress
    /// Why it stopped, usually a ``StoreError``.
    public var underlying: any Error

    /// What stopped the write and how far it got.
    public var description: String {
        "\(underlying) (\(progress.documents) documents were in place before it stopped; the same write run again finishes it)"
    }
}

extension DocumentCollection {
    /// Creates or replaces many documents with few UPDATEs: documents that share an index chunk
    /// go together, as many as one message carries, so each UPDATE is atomic (all its documents
    /// and their index entries, or none) and rewrites one index page. A document that already
    /// holds the same JSON is left as it is, so running the same write again after it was cut
    /// short finishes it and changes nothing else. `progress` is called after each UPDATE.
    /// Documents larger than 16,000 octets are written one by one.
    @discardableResult
    public func putMany(
        _ documents: [(id: String, json: [UInt8])], concurrency: Int = 4,
        progress: (@Sendable (BulkWriteProgress) -> Void)? = nil
    ) async throws -> BulkWriteProgress {
        let tally = BulkTally(progress)
        do {
            // One write per id: the last one wins, as it would one after the other.
            var last: [String: Int] = [:]
            for (i, document) in documents.enumerated() { last[document.id] = i }
            var groups: [IndexEdits.ChunkKey: [WriteOp]] = [:]
            var order: [IndexEdits.ChunkKey] = []
            var large: [WriteOp] = []
            // Every document is checked before the first is written.
            var ops: [WriteOp] = []
            for (i, document) in documents.enumerated() where last[document.id] == i {
                try Naming.validate(document.id)
                var op = WriteOp(database: database, collection: name, id: document.id, mode: .put, body: try DocumentJSON.normalize(document.json))
                guard op.body.count <= RecordText.maxDocument else {
                    throw StoreError.tooLarge("document '\(document.id)' is \(op.body.count) octets; the limit is \(RecordText.maxDocument)")
                }
                op.skipIfUnchanged = true
                op.checked = true
                ops.append(op)
            }
            var sealed = false
            for op in ops {
                let address = try await store.address(of: op.id, in: name, of: database, forWriting: true)
                sealed = address.codec.isPrivate
                if op.body.count > RecordText.inlineLimit {
                    large.append(op)
                    continue
                }
                if groups[address.indexChunk] == nil { order.append(address.indexChunk) }
                groups[address.indexChunk, default: []].append(op)
            }
            let store = self.store
            let work = order.map { groups[$0]! }
            _ = try await store.concurrently(work, limit: max(1, concurrency)) { [sealed] ops in
                try await Self.writeGroup(ops, sealed: sealed, store: store, tally: tally)
            }
            for op in large { try await Self.write([op], store: store, tally: tally) }
        } catch {
            throw BulkWriteError(progress: tally.current, underlying: error)
        }
        return tally.current
    }

    /// One index chunk's documents, in UPDATEs of the size a message carries.
    /// `sealed`: a private collection's, whose ids are stored longer and documents encrypted.
    private static func writeGroup(_ ops: [WriteOp], sealed: Bool, store: DocumentStore, tally: BulkTally) async throws {
        var batch: [WriteOp] = []
        var octets = 0
        for op in ops {
            let idOctets = sealed ? (op.id.utf8.count + 28) * 4 / 3 + 2 : op.id.utf8.count
            let cost = op.body.count + (sealed ? 28 : 0) + 2 * (idOctets + store.layout.root.wireLength + 40) + 120
            if !batch.isEmpty, octets + cost > batchOctets || batch.count >= batchDocuments {
                try await write(batch, store: store, tally: tally)
                batch = []
                octets = 0
            }
            batch.append(op)
            octets += cost
        }
        if !batch.isEmpty { try await write(batch, store: store, tally: tally) }
    }

    /// Record octets aimed at per UPDATE: with the index page it rewrites (up to 16,000 octets,
    /// and as much again for its prerequisite), the message stays under 65,535.
    static let batchOctets = 24_000
    static let batchDocuments = 400

    /// One UPDATE, or, when its message would be too large after all, two halves.
    private static func write(_ ops: [WriteOp], store: DocumentStore, tally: BulkTally) async throws {
        do {
            let results = try await store.executeReporting(ops, "writing \(ops.count) documents")
            tally.add(results.map(\.changed), octets: ops.reduce(0) { $0 + $1.body.count })
        } catch let error as StoreError where error.code == .tooLarge && ops.count > 1 {
            let half = ops.count / 2
            try await write(Array(ops[..<half]), store: store, tally: tally)
            try await write(Array(ops[half...]), store: store, tally: tally)
        }
    }
}

/// The running count of a bulk write, shared by its concurrent groups.
final class BulkTally: Sendable {
    private let state = Locked(BulkWriteProgress())
    private let report: (@Sendable (BulkWriteProgress) -> Void)?

    init(_ report: (@Sendable (BulkWriteProgress) -> Void)?) { self.report = report }

    var current: BulkWriteProgress { state.withLock { $0 } }

    func add(_ changed: [Bool], octets: Int) {
        let now = state.withLock { progress -> BulkWriteProgress in
            for c in changed { if c { progress.written += 1 } else { progress.unchanged += 1 } }
            progress.octets += octets
            return progress
        }
        report?(now)
    }
}

import DNSWire
import Foundation

extension DocumentStore {
    /// The lease record of `id` (section 13), read where `route` says; nil when there is none.
    func readLease(_ id: String, route: ReadRoute) async throws -> (rdata: RData, record: LeaseRecord)? {
        let (name, _) = try layout.lease(id)
        guard let rdata = try await readRecord(name, route: route) else { return nil }
        let record = try MetadataJSON.decode(LeaseRecord.self, try text(of: rdata, at: name), name: name)
        guard record.id == id else { throw StoreError.corrupted("\(name) holds lease \(record.id), not \(id)") }
        return (rdata, record)
    }

    /// Grants a lease of `ttl` seconds. Documents written with it (`lease:` on every write) live
    /// only while it is renewed (`keepAlive`, `renew`); `revoke` deletes them at once.
    public func grant(ttl: Int) async throws -> Lease {
        guard (1...Lease.maxTTL).contains(ttl) else {
            throw StoreError.invalidDocument("a lease lives 1 to \(Lease.maxTTL) seconds, not \(ttl)")
        }
        try await initialize()
        for attempt in 0..<configuration.maxAttempts {
            if attempt > 0 { try await backoff(attempt) }
            let id = (0..<8).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
            let (name, chunk) = try layout.lease(id)
            let record = LeaseRecord(id: id, ttl: ttl, deadline: configuration.clock() + Int64(ttl) * 1000, docs: [])
            var update = UpdateBuilder(zone: configuration.zone)
            update.require(.rrsetDoesNotExist(name, .txt))
            update.add(.txt(name, TXT(splitting: try MetadataJSON.encode(record)), ttl: LeaseRecord.recordTTL(ttl)))
            var edits = IndexEdits()
            edits.add(id, .unleased, chunk: chunk, of: layout.leaseIndex, level: .lease)
            try await apply(edits, to: &update)
            do {
                try await send(update, "granting a lease")
                return Lease(id: id, ttl: ttl)
            } catch let error as StoreError where error.code == .conflict {
                continue
            }
        }
        throw StoreError.conflict("granting a lease: still racing with other writers after \(configuration.maxAttempts) attempts")
    }

    /// Renews a lease once: it lives `ttl` seconds from now. A lease that lapsed (by this client's
    /// clock) or was revoked is not renewed: its documents are already gone for every reader,
    /// and renewing it would bring them back; that throws `.notFound`.
    @discardableResult
    public func renew(_ lease: String) async throws -> LeaseStatus {
        guard Lease.isValidID(lease) else { throw StoreError.invalidDocument("'\(lease)' is not a lease id (16 lower-case hex digits)") }
        let (name, _) = try layout.lease(lease)
        for attempt in 0..<configuration.maxAttempts {
            if attempt > 0 { try await backoff(attempt) }
            guard let (rdata, record) = try await readLease(lease, route: .primary) else {
                throw StoreError.notFound("lease \(lease) does not exist: it expired or was revoked")
            }
            let now = configuration.clock()
            guard record.isLive(at: now) else {
                throw StoreError.notFound("lease \(lease) lapsed \(Double(now - record.deadline) / 1000) s ago; its documents are gone")
            }
            var renewed = record
            renewed.deadline = now + Int64(record.ttl) * 1000
            var update = UpdateBuilder(zone: configuration.zone)
            update.require(.rrsetEquals(name, .txt, [rdata]))
            update.replace(name, .txt, with: [.txt(TXT(splitting: try MetadataJSON.encode(renewed)))], ttl: LeaseRecord.recordTTL(record.ttl))
            // A server that keeps leases itself (RFC 9664; ours does, others ignore it) deletes the
            // record a minute after the lease should have been reaped, should no reaper run.
            update.options = [.updateLease(UInt32(record.ttl + 60))]
            do {
                try await send(update, "renewing lease \(lease)")
                return try await status(of: renewed, at: now)
            } catch let error as StoreError where error.code == .conflict {
                continue  // a document was attached or detached meanwhile: read it again
            }
        }
        throw StoreError.conflict("renewing lease \(lease): still racing with other writers after \(configuration.maxAttempts) attempts")
    }

    /// A task that renews `lease` every third of its time to live until cancelled. It ends with
    /// an error when the lease is lost: revoked, reaped, or not renewed in time (a renewal that
    /// has not succeeded by the deadline less `leaseClockSkew`, as a holder must assume another
    /// may have it by then). `renewed` hears of each renewal.
    public func keepAlive(_ lease: Lease, renewed: (@Sendable (LeaseStatus) -> Void)? = nil) -> Task<Void, any Error> {
        let interval = Duration.milliseconds(max(100, lease.ttl * 1000 / 3))
        let skew = configuration.leaseClockSkew
        return Task {
            var lastRenewal = ContinuousClock.now
            while !Task.isCancelled {
                do {
                    let status = try await renew(lease.id)
                    lastRenewal = .now
                    renewed?(status)
                    try await Task.sleep(for: interval)
                } catch let error as StoreError where error.code == .notFound {
                    throw error
                } catch is CancellationError {
                    return
                } catch {
                    // A server that did not answer, or a conflict: try again soon, while there is time.
                    guard ContinuousClock.now - lastRenewal < .seconds(lease.ttl) - skew else {
                        throw StoreError.notFound("lease \(lease.id) was not renewed in time (\(error)); it is lost")
                    }
                    try await Task.sleep(for: min(interval, .milliseconds(200)))
                }
            }
        }
    }

    /// Deletes a lease and every document attached to it: in one UPDATE when they fit one
    /// (section 13), otherwise the lease with as many as fit first (from then on its documents
    /// are gone for readers) and the rest after. Returns the documents deleted.
    @discardableResult
    public func revoke(_ lease: String) async throws -> Int {
        guard Lease.isValidID(lease) else { throw StoreError.invalidDocument("'\(lease)' is not a lease id (16 lower-case hex digits)") }
        guard let deleted = try await reap(lease, onlyIf: nil) else {
            throw StoreError.notFound("lease \(lease) does not exist: it expired or was revoked")
        }
        return deleted
    }

    /// What a lease is now: its time left by this client's clock, and its documents.
    public func leaseStatus(_ lease: String) async throws -> LeaseStatus {
        guard Lease.isValidID(lease) else { throw StoreError.invalidDocument("'\(lease)' is not a lease id (16 lower-case hex digits)") }
        guard let (_, record) = try await readLease(lease, route: .primary) else {
            throw StoreError.notFound("lease \(lease) does not exist: it expired or was revoked")
        }
        return try await status(of: record, at: configuration.clock())
    }

    private func status(of record: LeaseRecord, at now: Int64) async throws -> LeaseStatus {
        var documents: [String] = []
        for doc in record.docs {
            let id: String
            if let node = try? await collection(named: doc[1], in: doc[0]), let codec = try? self.codec(of: node, in: doc[0]),
                let real = try? codec.realID(doc[2])
            {
                id = real
            } else {
                id = doc[2]
            }
            documents.append("\(doc[0])/\(doc[1])/\(id)")
        }
        return LeaseStatus(
            lease: record.id, ttl: record.ttl, remaining: max(0, Double(record.deadline - now) / 1000), documents: documents.sorted())
    }

    /// Deletes a lease and the documents still attached to it (each by its stored id, compared
    /// and swapped, so that a document written meanwhile is not lost and a renewal that lands
    /// first wins). `onlyIf`: the record the reaper read, which must still be there and lapsed by
    /// `leaseClockSkew`; nil: revoke whatever is there. Returns the documents deleted, or nil when
    /// there was no lease to delete (or it was renewed).
    ///
    /// When the documents fit one UPDATE with the lease, they all go in it. Otherwise a live lease
    /// is first made lapsed (its deadline set to 0, so every reader sees its documents gone at
    /// once), its documents are deleted some at a time, and the lease goes last with the final
    /// ones: a reaper stopped anywhere in between leaves a lapsed lease that the next one finishes,
    /// never documents that no lease lists.
    func reap(_ lease: String, onlyIf expected: RData?) async throws -> Int? {
        let chunk = try layout.lease(lease).chunk
        for attempt in 0..<configuration.maxAttempts {
            if attempt > 0 { try await backoff(attempt) }
            guard var (rdata, record) = try await readLease(lease, route: .primary) else {
                // Deleted by another, or by the server itself (RFC 9664): its index entry may remain.
                try await removeLeaseEntry(lease, chunk: chunk)
                return nil
            }
            if let expected {
                guard rdata == expected, configuration.clock() > record.deadline + configuration.leaseClockSkewMilliseconds else { return nil }
            }
            let attached = try await attachedDocuments(record)
            // The last batch goes with the lease; those before it first.
            let lastStart = attached.isEmpty ? 0 : (attached.count - 1) / Self.reapBatch * Self.reapBatch
            var deleted = 0
            do {
                if lastStart > 0 {
                    if record.isLive(at: configuration.clock()) {
                        (rdata, record) = try await markLapsed(rdata, record)
                    }
                    for start in stride(from: 0, to: lastStart, by: Self.reapBatch) {
                        deleted += try await deleteAttached(Array(attached[start..<(start + Self.reapBatch)]), lease: lease)
                    }
                }
                var last = Array(attached[lastStart...])
                while true {
                    do {
                        _ = try await executeReporting(last, "revoking lease \(lease)", revoking: lease)
                        deleted += last.count
                        break
                    } catch let error as StoreError where error.code == .tooLarge && last.count > 1 {
                        deleted += try await deleteAttached(Array(last.prefix(last.count / 2)), lease: lease)
                        last = Array(last.suffix(last.count - last.count / 2))
                    }
                }
            } catch let error as StoreError where error.code == .conflict || error.code == .notFound {
                if expected != nil, deleted == 0 { return nil }  // renewed, or a document moved: the next sweep looks again
                continue
            }
            return deleted
        }
        throw StoreError.conflict("revoking lease \(lease): still racing with other writers after \(configuration.maxAttempts) attempts")
    }

    /// The documents a lease record lists that say they are its own, as deletes by stored id.
    private func attachedDocuments(_ record: LeaseRecord) async throws -> [WriteOp] {
        try await concurrently(record.docs) { doc -> WriteOp? in
            var op = WriteOp(database: doc[0], collection: doc[1], id: doc[2], mode: .delete(expected: nil))
            op.byStoredID = true
            op.physical = true
            let address: RecordAddress
            do {
                address = try await self.address(for: op)
            } catch let error as StoreError where error.code == .notFound {
                return nil  // its collection is gone, and it with it
            }
            guard let current = try await self.readStoredRecord(address.name, id: address.storedID), current.header.lease == record.id else {
                return nil
            }
            op.mode = .delete(expected: current.header.version)
            return op
        }.compactMap { $0 }
    }

    /// Sets a live lease's deadline to 0, compared and swapped: its documents are gone for every
    /// reader from then on, and nothing can renew it.
    private func markLapsed(_ rdata: RData, _ record: LeaseRecord) async throws -> (RData, LeaseRecord) {
        var lapsed = record
        lapsed.deadline = 0
        let name = try layout.lease(record.id).name
        let text = RData.txt(TXT(splitting: try MetadataJSON.encode(lapsed)))
        var update = UpdateBuilder(zone: configuration.zone)
        update.require(.rrsetEquals(name, .txt, [rdata]))
        update.replace(name, .txt, with: [text], ttl: LeaseRecord.recordTTL(record.ttl))
        try await send(update, "revoking lease \(record.id)")
        return (text, lapsed)
    }

    /// Documents deleted with their lease in its UPDATE; more go in UPDATEs of their own after it.
    static let reapBatch = 25

    /// Deletes documents of a lease already gone, a compare-and-swap each; returns how many.
    private func deleteAttached(_ ops: [WriteOp], lease: String) async throws -> Int {
        do {
            _ = try await executeReporting(ops, "deleting the documents of lease \(lease)")
            return ops.count
        } catch let error as StoreError where (error.code == .tooLarge || error.code == .conflict || error.code == .notFound) && ops.count > 1 {
            let half = ops.count / 2
            return try await deleteAttached(Array(ops[..<half]), lease: lease) + deleteAttached(Array(ops[half...]), lease: lease)
        } catch let error as StoreError where error.code == .conflict || error.code == .notFound {
            return 0  // written again meanwhile: no longer this lease's
        }
    }

    /// Takes a lease's entry out of the lease index, when it is there.
    private func removeLeaseEntry(_ lease: String, chunk: Int) async throws {
        for attempt in 0..<configuration.maxAttempts {
            if attempt > 0 { try await backoff(attempt) }
            let key = WritePlan.leaseIndexKey(chunk, layout)
            var plans = try await loadPlans([key])
            guard plans[key]!.page(holding: lease) != nil else { return }
            plans[key]!.remove(lease)
            var update = UpdateBuilder(zone: configuration.zone)
            update.require(.rrsetDoesNotExist(try layout.lease(lease).name, .txt))
            try write(plans, into: &update)
            do {
                try await send(update, "removing lease \(lease) from the lease index")
                return
            } catch let error as StoreError where error.code == .conflict {
                continue
            }
        }
    }

    /// Every lease id in the lease index.
    func leaseIDs() async throws -> [String] {
        try await readIndex(of: layout.leaseIndex, total: LeaseRecord.indexChunks, level: .lease, route: .primary).keys.sorted()
    }
}

/// Which leases are live, each read once per operation (a listing, a scan): a document attached
/// to a lease is live only while its lease record exists and its deadline has not passed
/// (section 13).
final class LeaseLiveness: Sendable {
    private let store: DocumentStore
    private let route: ReadRoute
    private let known = Locked([String: Int64?]())

    init(_ store: DocumentStore, route: ReadRoute) {
        self.store = store
        self.route = route
    }

    func isLive(_ lease: String?) async throws -> Bool {
        guard let lease else { return true }
        let deadline: Int64?
        if let cached = known.withLock({ $0[lease] }) {
            deadline = cached
        } else {
            deadline = try await store.readLease(lease, route: route)?.record.deadline
            known.withLock { $0[lease] = .some(deadline) }
        }
        guard let deadline else { return false }
        return store.configuration.clock() <= deadline
    }
}

import DNSWire

/// Deletes leases that lapsed, with their documents (docs/FORMAT.md section 13), on any server:
/// each lease is deleted in an UPDATE whose prerequisites repeat its record as read, so a renewal
/// that lands first makes the deletion fail and nothing renewed is ever deleted; several reapers
/// at once are safe for the same reason. A lease is reaped only once its deadline has passed by
/// `leaseClockSkew` on the reaper's clock.
///
/// It reads the lease index (16 chunks) every `interval`, and a lease's record once when it
/// first sees it and again only when the deadline it knows has passed: a lease renewed in time
/// costs the reaper one query per renewal, however many leases there are.
public struct LeaseReaper: Sendable {
    /// The store whose leases it reaps.
    public let store: DocumentStore
    /// How often the lease index is read for new leases, and due leases looked at.
    public var interval: Duration
    /// Called after each lease reaped, with how many documents went with it.
    public var reaped: (@Sendable (_ lease: String, _ documents: Int) -> Void)?

    /// A reaper of `store`'s leases, looking every `interval`.
    public init(store: DocumentStore, interval: Duration = .milliseconds(500), reaped: (@Sendable (String, Int) -> Void)? = nil) {
        self.store = store
        self.interval = interval
        self.reaped = reaped
    }

    /// Reaps until cancelled. A server that fails is tried again at the next look.
    public func run() async throws {
        var known: [String: (rdata: RData, deadline: Int64)] = [:]
        while !Task.isCancelled {
            do {
                try await sweep(&known)
            } catch let error as StoreError where error.code != .corrupted {
                // Unreachable or racing: the next look tries again.
                _ = error
            }
            try await Task.sleep(for: interval)
        }
    }

    /// One look at every lease: those that lapsed by the clock skew are reaped. Returns the
    /// leases reaped and the documents of each.
    @discardableResult
    public func sweepOnce() async throws -> [(lease: String, documents: Int)] {
        var known: [String: (rdata: RData, deadline: Int64)] = [:]
        return try await sweep(&known)
    }

    @discardableResult
    private func sweep(_ known: inout [String: (rdata: RData, deadline: Int64)]) async throws -> [(lease: String, documents: Int)] {
        let skew = store.configuration.leaseClockSkewMilliseconds
        let ids = Set(try await store.leaseIDs())
        known = known.filter { ids.contains($0.key) }
        let now = store.configuration.clock()
        // New leases, and those whose known deadline passed (perhaps renewed since): read again.
        let due = ids.filter { id in known[id].map { now > $0.deadline + skew } ?? true }
        let read = try await store.concurrently(Array(due)) { id in (id, try await store.readLease(id, route: .primary)) }
        var done: [(lease: String, documents: Int)] = []
        for (id, found) in read {
            guard let (rdata, record) = found else {
                // The record is gone (revoked, reaped, or expired by the server): its entry goes too.
                _ = try await store.reap(id, onlyIf: nil)
                known[id] = nil
                continue
            }
            known[id] = (rdata, record.deadline)
            guard store.configuration.clock() > record.deadline + skew else { continue }
            if let documents = try await store.reap(id, onlyIf: rdata) {
                known[id] = nil
                done.append((id, documents))
                reaped?(id, documents)
            }
        }
        return done
    }
}

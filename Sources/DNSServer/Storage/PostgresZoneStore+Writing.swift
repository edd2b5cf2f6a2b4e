#if PostgreSQL
import DNSWire
import Foundation
import NIOCore
import PostgresNIO

extension PostgresZoneStore {
    /// A zone's octets and its journal's, after a write.
    struct Sizes {
        var zone: Int
        var journal: Int
    }

    /// `store` as a statement of its own, outside a transaction: one that got no answer may have
    /// been applied, so it throws `AuthorityError.outcomeUnknown`, never an error that reads as
    /// "not stored".
    func storeUnanswerable(_ steps: [JournalStep], leases: [DNSName: UInt64?], zone: Data, origin: DNSName, ifVersion version: String, _ session: Session) throws -> Sizes? {
        do {
            return try store(steps, leases: leases, zone: zone, origin: origin, ifVersion: version, session)
        } catch let error as PSQLError where error.serverInfo != nil && !session.connection.isClosed {
            throw error  // the database answered: it did not apply it
        } catch let error as PSQLError {
            throw AuthorityError.outcomeUnknown("a write got no answer: \(PostgresZoneStore.message(error))")
        } catch let error as StatementTimeout {
            throw AuthorityError.outcomeUnknown("a write got no answer: \(error)")
        }
    }

    /// Writes the steps' changes and the leases, journals each step as its own, in one statement
    /// (one round trip, where a statement per change took a dozen): data-modifying CTEs over
    /// arrays of rows, all conditional on the zone row's update, which with `ifVersion` happens
    /// only when the row still has that version (nil: the caller holds the zone lock). They all
    /// see one snapshot, so the records' changes are folded first to each key's last action: a
    /// record added by one step and deleted by a later one of the same group is deleted, as
    /// applying them in order would leave it. The step numbers continue from the journal's newest,
    /// read inside the statement: with the version unchanged (or the lock held) no step was added
    /// since. Returns the sizes after, or nil when the version had changed (nothing written).
    func store(_ steps: [JournalStep], leases: [DNSName: UInt64?], zone: Data, origin: DNSName, ifVersion version: String?, _ session: Session) throws -> Sizes? {
        var delta = 0
        var journalDelta = 0
        let now = Int(Date().timeIntervalSince1970)
        struct Key: Hashable {
            var owner: Data
            var type: Int
            var rdataKey: Data
        }
        var last: [Key: ZoneChange] = [:]
        var journalRows = (step: [Int](), seq: [Int](), action: [Int](), name: [ByteBuffer](), type: [Int](), ttl: [Int](), rdata: [ByteBuffer]())
        var stepRows = (step: [Int](), from: [Int](), to: [Int](), octets: [Int]())
        for (index, planned) in steps.enumerated() {
            var stepOctets = 0
            for (seq, change) in planned.changes.enumerated() {
                let r = change.record
                let size = RecordKeys.recordOctets(r.name, r.rdata)
                delta += change.action == .add ? size : -size
                stepOctets += size
                last[Key(owner: Data(OwnerKey.key(r.name)), type: Int(r.type.rawValue), rdataKey: RecordKeys.rdataKey(r.rdata))] = change
                journalRows.step.append(index + 1)
                journalRows.seq.append(seq)
                journalRows.action.append(change.action.rawValue)
                journalRows.name.append(ByteBuffer(bytes: r.name.wire))
                journalRows.type.append(Int(r.type.rawValue))
                journalRows.ttl.append(Int(r.ttl))
                journalRows.rdata.append(ByteBuffer(bytes: r.rdata.uncompressedWire))
            }
            stepRows.step.append(index + 1)
            stepRows.from.append(Int(planned.from))
            stepRows.to.append(Int(planned.to))
            stepRows.octets.append(stepOctets)
            journalDelta += stepOctets
        }
        var deleted = (owner: [ByteBuffer](), type: [Int](), key: [ByteBuffer]())
        // A name's wire form is never empty: empty stands for NULL (postgres-nio sends no NULL in arrays).
        var added = (owner: [ByteBuffer](), type: [Int](), key: [ByteBuffer](), name: [ByteBuffer](), ttl: [Int](), rdata: [ByteBuffer]())
        for (key, change) in last {
            if change.action == .delete {
                deleted.owner.append(ByteBuffer(data: key.owner))
                deleted.type.append(key.type)
                deleted.key.append(ByteBuffer(data: key.rdataKey))
            } else {
                added.owner.append(ByteBuffer(data: key.owner))
                added.type.append(key.type)
                added.key.append(ByteBuffer(data: key.rdataKey))
                added.name.append(ByteBuffer(data: RecordKeys.storedName(change.record.name) ?? Data()))
                added.ttl.append(Int(change.record.ttl))
                added.rdata.append(ByteBuffer(bytes: change.record.rdata.uncompressedWire))
            }
        }
        var leased = (owner: [ByteBuffer](), expires: [Int]())
        var unleased: [ByteBuffer] = []
        for (name, expires) in leases {
            let owner = ByteBuffer(bytes: OwnerKey.key(name))
            if let expires {
                leased.owner.append(owner)
                leased.expires.append(Int(clamping: expires))
            } else {
                unleased.append(owner)
            }
        }
        // The zone row is written by every write (its xmin is the version); `z` guards the rest.
        let rows = try session.rows(
            """
            WITH z AS (
                UPDATE dnsstore_zone SET octets = octets + \(delta), journal_octets = journal_octets + \(journalDelta)
                WHERE zone = \(zone) AND (\(version == nil) OR xmin::text = \(version ?? "")) RETURNING octets, journal_octets),
            base AS (SELECT COALESCE(MAX(step), 0) AS step FROM dnsstore_journal_step WHERE zone = \(zone)),
            deleted AS (
                DELETE FROM dnsstore_record r USING z, unnest(\(deleted.owner)::bytea[], \(deleted.type)::bigint[], \(deleted.key)::bytea[]) AS d(owner, type, rdata_key)
                WHERE r.zone = \(zone) AND r.owner = d.owner AND r.type = d.type AND r.rdata_key = d.rdata_key),
            added AS (
                INSERT INTO dnsstore_record (zone, owner, type, rdata_key, name, ttl, rdata)
                SELECT \(zone), a.owner, a.type, a.rdata_key, NULLIF(a.name, ''::bytea), a.ttl, a.rdata
                FROM z, unnest(\(added.owner)::bytea[], \(added.type)::bigint[], \(added.key)::bytea[], \(added.name)::bytea[], \(added.ttl)::bigint[], \(added.rdata)::bytea[])
                AS a(owner, type, rdata_key, name, ttl, rdata)
                ON CONFLICT (zone, owner, type, rdata_key) DO UPDATE SET name = EXCLUDED.name, ttl = EXCLUDED.ttl, rdata = EXCLUDED.rdata),
            journaled AS (
                INSERT INTO dnsstore_journal (zone, step, seq, action, name, type, ttl, rdata)
                SELECT \(zone), base.step + j.step, j.seq, j.action, j.name, j.type, j.ttl, j.rdata FROM z, base,
                unnest(\(journalRows.step)::bigint[], \(journalRows.seq)::bigint[], \(journalRows.action)::bigint[], \(journalRows.name)::bytea[], \(journalRows.type)::bigint[], \(journalRows.ttl)::bigint[], \(journalRows.rdata)::bytea[])
                AS j(step, seq, action, name, type, ttl, rdata)),
            stepped AS (
                INSERT INTO dnsstore_journal_step (zone, step, from_serial, to_serial, at, octets)
                SELECT \(zone), base.step + s.step, s.from_serial, s.to_serial, \(now), s.octets FROM z, base,
                unnest(\(stepRows.step)::bigint[], \(stepRows.from)::bigint[], \(stepRows.to)::bigint[], \(stepRows.octets)::bigint[])
                AS s(step, from_serial, to_serial, octets)),
            leased AS (
                INSERT INTO dnsstore_lease (zone, owner, expires)
                SELECT \(zone), l.owner, l.expires FROM z, unnest(\(leased.owner)::bytea[], \(leased.expires)::bigint[]) AS l(owner, expires)
                ON CONFLICT (zone, owner) DO UPDATE SET expires = EXCLUDED.expires),
            unleased AS (
                DELETE FROM dnsstore_lease l USING z, unnest(\(unleased)::bytea[]) AS u(owner)
                WHERE l.zone = \(zone) AND l.owner = u.owner)
            SELECT octets, journal_octets FROM z
            """)
        guard let row = rows.first else {
            if version == nil { throw StorageError.damaged("zone \(origin) is missing from \(displayURL)") }
            return nil
        }
        let (octets, journal) = try row.decode((Int, Int).self)
        return Sizes(zone: octets, journal: journal)
    }

    /// After a write: drops the oldest steps while the journal is over its size (down to seven
    /// eighths of it, see `SQLiteZoneStore.prune`) or they are over its age, in a transaction of
    /// its own under the zone lock; the age is looked at once a minute per zone by each front end,
    /// not with every commit. The newest step always stays. The write is done whatever becomes of
    /// the prune: one that fails (or is lost to a crash) is logged and done by a later write.
    func pruneIfDue(zone: Data, origin: DNSName, sizes: Sizes, _ session: Session) {
        do {
            try prune(zone: zone, origin: origin, sizes: sizes, session)
        } catch {
            logger.warning("the journal could not be pruned; a later write will", metadata: ["zone": "\(origin)", "error": "\(error)"])
        }
    }

    private func prune(zone: Data, origin: DNSName, sizes: Sizes, _ session: Session) throws {
        let now = Int(Date().timeIntervalSince1970)
        let budget = limits.budget(zoneOctets: sizes.zone)
        let checkAge = ageChecks.withLock { due in
            guard due[zone, default: 0] <= now else { return false }
            due[zone] = now + 60
            return true
        }
        guard sizes.journal > budget || checkAge else {
            ServerMetrics.sizes(of: origin, zoneOctets: sizes.zone, journalOctets: sizes.journal, journalBudget: budget)
            return
        }
        let journal = try session.transaction("BEGIN ISOLATION LEVEL READ COMMITTED") { () -> Int in
            guard let row = try session.rows("SELECT journal_octets FROM dnsstore_zone WHERE zone = \(zone) FOR UPDATE").first
            else { throw StorageError.damaged("zone \(origin) is missing from \(displayURL)") }
            let before = try row.decode(Int.self)
            var journal = before
            let target = journal > budget ? budget - budget / 8 : budget
            let oldestAllowed = now - limits.maxAge
            while true {
                let steps = try session.rows(
                    "SELECT step, at, octets FROM dnsstore_journal_step WHERE zone = \(zone) ORDER BY step LIMIT 2")
                guard steps.count == 2 else { break }
                let (oldest, at, size) = try steps[0].decode((Int, Int, Int).self)
                guard journal > target || at < oldestAllowed else { break }
                try session.run("DELETE FROM dnsstore_journal WHERE zone = \(zone) AND step = \(oldest)")
                try session.run("DELETE FROM dnsstore_journal_step WHERE zone = \(zone) AND step = \(oldest)")
                journal -= size
            }
            if journal != before {
                try session.run("UPDATE dnsstore_zone SET journal_octets = \(journal) WHERE zone = \(zone)")
            }
            return journal
        }
        ServerMetrics.sizes(of: origin, zoneOctets: sizes.zone, journalOctets: journal, journalBudget: budget)
    }
}
#endif

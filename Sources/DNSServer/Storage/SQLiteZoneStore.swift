import Crypto
import DNSWire
import Foundation
import GRDB

/// Zones in one SQLite file (WAL): records keyed by zone (a number), owner (in canonical order,
/// see `OwnerKey`, the zone's own labels left out), type and a digest of the RDATA, so that a
/// name is one index lookup and a zone is never loaded whole; and a journal of steps by serial,
/// bounded by size and age, which IXFR and caches read. Several processes may share the file: SQLite's write lock puts their UPDATEs in
/// one order, each taken with the lock held from its first read (BEGIN IMMEDIATE).
final class SQLiteZoneStore: ZoneStore, @unchecked Sendable {
    let path: String
    let pool: DatabasePool
    let changes: ChangeCounter
    let limits: JournalLimits

    /// The layout of the tables this build writes: the last of `migrator`'s migrations, each
    /// described there, also kept in SQLite's `user_version`. 2: zones answered by name (owner keys
    /// in canonical order) with a bounded journal of steps. 1: records keyed by RDATA digest under
    /// names in wire form. 0: files from before versions, keyed by RDATA.
    static let schemaVersion = 6

    /// Zones by origin; a zone keeps its number for the life of the file.
    private let zoneKeys = Locked<[DNSName: ZoneKey]>([:])
    /// When each zone's journal is next checked for steps past `limits.maxAge`: at most once a
    /// minute, not on every commit (the check read the oldest steps each time).
    private let ageChecks = Locked<[Int64: Int64]>([:])
    /// How rows keep their RDATA.
    let compression = RowCompression()

    init(path: String, syncEveryCommit: Bool, limits: JournalLimits = JournalLimits()) throws {
        self.path = path
        self.limits = limits
        var config = Configuration()
        config.busyMode = .timeout(10)
        let synchronous = syncEveryCommit ? "FULL" : "NORMAL"
        config.prepareDatabase { db in
            // The write-ahead log is cut back to 1 MiB after each checkpoint, not left at its peak.
            try db.execute(sql: "PRAGMA synchronous = \(synchronous); PRAGMA journal_size_limit = 1048576")
        }
        pool = try DatabasePool(path: path, configuration: config)
        let migrated = try Self.migrate(pool, path: path, compression: compression)
        // Tables rebuilt by a migration leave their old pages free; the file gives them back.
        if migrated { try pool.vacuum() }
        changes = ChangeCounter(path: path + "-changes")
    }

    /// The zone's key; a zone not (yet) in the file gets number -1, which holds no rows.
    func zoneKey(_ origin: DNSName, _ db: GRDB.Database) throws -> ZoneKey {
        if let zone = zoneKeys.withLock({ $0[origin] }) { return zone }
        guard let zone = try ZoneKey.find(origin, db) else { return ZoneKey(id: -1, origin: origin, originKey: OwnerKey.key(origin)) }
        zoneKeys.withLock { $0[origin] = zone }
        return zone
    }

    // MARK: ZoneStore

    /// Closes the file's connections. A close that fails (a read still running) leaves them to
    /// close when the store is released.
    func close() { try? pool.close() }

    func createZoneIfMissing(_ origin: DNSName, records: [ResourceRecord]) throws -> Bool {
        let created = try pool.writeWithoutTransaction { db -> Bool in
            var created = false
            try db.inTransaction(.immediate) {
                guard try ZoneKey.find(origin, db) == nil else { return .rollback }
                let octets = records.reduce(0) { $0 + RecordKeys.recordOctets($1.name, $1.rdata) }
                try db.execute(sql: "INSERT INTO zone (origin, octets) VALUES (?, ?)", arguments: [Data(OwnerKey.key(origin)), octets])
                let zone = try ZoneKey.find(origin, db)!
                for record in records { try Self.insert(record, stored: compression.pack(record.rdata.uncompressedWire), zone: zone, db) }
                created = true
                return .commit
            }
            return created
        }
        return created
    }

    func read<T>(_ origin: DNSName, _ body: (any ZoneReading) throws -> T) throws -> T {
        try pool.read { db in try body(Reader(db: db, zone: try zoneKey(origin, db), compression: compression)) }
    }

    func write<T>(_ origin: DNSName, _ plan: (any ZoneReading) throws -> ZoneWrite<T>) throws -> T {
        return try pool.writeWithoutTransaction { db -> T in
            var result: T?
            try db.immediateTransaction {
                let zone = try zoneKey(origin, db)
                let planned = try plan(Reader(db: db, zone: zone, compression: compression))
                result = planned.result
                try storeLeases(planned.leases, zone: zone, db)
                guard !planned.steps.isEmpty else { return !planned.leases.isEmpty }
                // The zone's sizes and its steps' numbers, known before any row is written, in
                // one statement.
                var delta = 0
                let stepOctets = planned.steps.map { step in
                    step.changes.reduce(0) { total, change in
                        let size = RecordKeys.recordOctets(change.record.name, change.record.rdata)
                        delta += change.action == .add ? size : -size
                        return total + size
                    }
                }
                let sizes = try SQLiteStatement(
                    """
                    UPDATE zone SET octets = octets + ?, journal_octets = journal_octets + ?, last_step = last_step + ?
                    WHERE id = ? RETURNING octets, journal_octets, last_step
                    """, db)
                try sizes.bind(1, delta)
                try sizes.bind(2, stepOctets.reduce(0, +))
                try sizes.bind(3, planned.steps.count)
                try sizes.bind(4, zone.id)
                guard try sizes.step() else { throw StorageError.damaged("zone \(zone.origin) has no row of sizes") }
                let after = (zone: sizes.int(0), journal: sizes.int(1), step: sizes.int(2))
                try sizes.run()
                var step = after.step - planned.steps.count
                for (planned, octets) in zip(planned.steps, stepOctets) {
                    step += 1
                    try store(planned, as: step, octets: octets, zone: zone, db)
                }
                let journal = try prune(zone: zone.id, octets: after.zone, journalOctets: after.journal, db)
                ServerMetrics.sizes(of: zone.origin, zoneOctets: after.zone, journalOctets: journal, journalBudget: limits.budget(zoneOctets: after.zone))
                try compression.afterWrite(rows: planned.steps.reduce(0) { $0 + $1.changes.count }, db)
                return true
            }
            return result!
        }
    }

    private func storeLeases(_ leases: [DNSName: UInt64?], zone: ZoneKey, _ db: GRDB.Database) throws {
        for (name, expires) in leases {
            if let expires {
                let upsert = try SQLiteStatement("INSERT OR REPLACE INTO lease VALUES (?, ?, ?)", db)
                try upsert.bind(1, zone.id)
                try upsert.bind(2, zone.owner(name))
                try upsert.bind(3, Int64(clamping: expires))
                try upsert.run()
            } else {
                let delete = try SQLiteStatement("DELETE FROM lease WHERE zone = ? AND owner = ?", db)
                try delete.bind(1, zone.id)
                try delete.bind(2, zone.owner(name))
                try delete.run()
            }
        }
    }

    func expiredLeases(_ origin: DNSName, at now: UInt64, limit: Int) throws -> [DNSName] {
        try pool.read { db in
            let zone = try zoneKey(origin, db)
            return try Data.fetchAll(
                db, sql: "SELECT owner FROM lease WHERE zone = ? AND expires <= ? ORDER BY expires LIMIT ?",
                arguments: [zone.id, Int64(clamping: now), limit]
            ).map { try zone.name(Array($0)) }
        }
    }

    func leasedNames(_ origin: DNSName) throws -> Int {
        try pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM lease WHERE zone = ?", arguments: [try zoneKey(origin, db).id]) ?? 0
        }
    }

    /// Writes one step's changes and journals them as step number `step` of `octets`.
    private func store(_ planned: JournalStep, as step: Int, octets: Int, zone: ZoneKey, _ db: GRDB.Database) throws {
        // The SOA's deletion waits for its replacement, which takes over its row.
        var replacedSOA: ResourceRecord?
        for change in planned.changes {
            let r = change.record
            switch change.action {
            case .delete where r.type == .soa && replacedSOA == nil:
                replacedSOA = r
            case .delete:
                try Self.delete(r, zone: zone, db)
            case .add:
                let stored = compression.pack(r.rdata.uncompressedWire)
                if r.type == .soa, let old = replacedSOA {
                    try Self.replace(old, with: r, stored: stored, zone: zone, db)
                    replacedSOA = nil
                } else {
                    try Self.insert(r, stored: stored, zone: zone, db)
                }
            }
        }
        if let replacedSOA { try Self.delete(replacedSOA, zone: zone, db) }
        let changes = compression.pack(JournalStepCoding.encode(planned.changes))
        let journal = try SQLiteStatement("INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?, ?, ?)", db)
        try journal.bind(1, zone.id)
        try journal.bind(2, step)
        try journal.bind(3, Int64(planned.from))
        try journal.bind(4, Int64(planned.to))
        try journal.bind(5, Int64(Date().timeIntervalSince1970))
        try journal.bind(6, octets)
        try journal.bind(7, changes.octets)
        try journal.bind(8, changes.dictionary)
        try journal.run()
    }

    /// Drops the oldest steps while they are over the journal's age, and once the journal is
    /// over its size, down to seven eighths of it: pruning a batch of steps now and then writes
    /// the journal's first pages far less often than pruning one step with every commit.
    /// Returns the journal's octets after pruning.
    private func prune(zone: Int64, octets: Int, journalOctets journalAfterWrite: Int, _ db: GRDB.Database) throws -> Int {
        var journalOctets = journalAfterWrite
        let budget = limits.budget(zoneOctets: octets)
        let target = journalOctets > budget ? budget - budget / 8 : budget
        let now = Int64(Date().timeIntervalSince1970)
        let checkAge = ageChecks.withLock { due in
            guard due[zone, default: 0] <= now else { return false }
            due[zone] = now + 60
            return true
        }
        guard journalOctets > target || checkAge else { return journalOctets }
        let oldestAllowed = now - Int64(limits.maxAge)
        let oldest = try db.cachedStatement(sql: "SELECT step, at, octets FROM journal WHERE zone = ? ORDER BY step LIMIT 2")
        while true {
            // The oldest step, if it is not also the newest (that one always stays).
            let steps = try Row.fetchAll(oldest, arguments: [zone])
            guard steps.count == 2 else { break }
            let first: (step: Int, at: Int64, octets: Int) = (steps[0][0], steps[0][1], steps[0][2])
            guard journalOctets > target || first.at < oldestAllowed else { break }
            try db.cachedStatement(sql: "DELETE FROM journal WHERE zone = ? AND step = ?").execute(arguments: [zone, first.step])
            journalOctets -= first.octets
        }
        if journalOctets != journalAfterWrite {
            try db.cachedStatement(sql: "UPDATE zone SET journal_octets = ? WHERE id = ?").execute(arguments: [journalOctets, zone])
        }
        return journalOctets
    }

}

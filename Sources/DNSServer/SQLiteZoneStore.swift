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
    private let pool: DatabasePool
    let changes: ChangeCounter
    let limits: JournalLimits

    /// The layout of the tables, kept in SQLite's `user_version`. 6: names' leases (RFC 9664), a
    /// table of their own. 5: a journal step is one row, its
    /// changes packed together (`JournalStepCoding`), and each zone keeps its newest step's number,
    /// so that a commit runs half the statements it did. 4: RDATA packed with trained
    /// dictionaries (`RowCompression`; rows from before stay as they are). 3: zones numbered, owner keys
    /// relative to their zone and RDATA digests of 8 octets (a fifth less disk than 2). 2: zones
    /// answered by name (owner keys in canonical order) with a bounded journal of steps. 1:
    /// records keyed by RDATA digest under names in wire form. 0: files from before versions,
    /// keyed by RDATA.
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
        let compression = self.compression
        let migrated = try pool.writeWithoutTransaction { db -> Bool in
            var migrated = false
            try db.inTransaction(.immediate) {
                migrated = try Self.migrate(db, path: path, compression: compression)
                try compression.takeNewest(db)
                return .commit
            }
            return migrated
        }
        // Tables rebuilt by a migration leave their old pages free; the file gives them back.
        if migrated { try pool.vacuum() }
        changes = ChangeCounter(path: path + "-changes")
    }

    // MARK: Schema

    /// Brings the tables to `schemaVersion`; returns whether it rebuilt tables that held data.
    private static func migrate(_ db: GRDB.Database, path: String, compression: RowCompression) throws -> Bool {
        var version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        guard version <= schemaVersion else {
            throw AuthorityError.storage(
                "\(path) has schema version \(version), written by a newer dnsstore; this one reads versions up to \(schemaVersion)")
        }
        guard version < schemaVersion else { return false }
        if version == 3 {
            // Rows gain the number of the dictionary they are packed with; those there stay unpacked.
            try db.execute(
                sql: """
                    ALTER TABLE record ADD COLUMN dict INTEGER; ALTER TABLE journal ADD COLUMN dict INTEGER;
                    \(dictionaryTable)
                    """)
            version = 4
        }
        if version == 4 {
            try journalAsSteps(db, compression: compression)
            version = 5
        }
        if version == 5 {
            try db.execute(sql: leaseTable + "PRAGMA user_version = \(schemaVersion)")
            return false
        }
        if version == 2 {
            // Re-keyed in place: the zone's labels cut from each owner key, digests cut to 8
            // octets (their first 8); the journal starts afresh.
            try db.execute(
                sql: """
                    \(zoneTable("zone3"))
                    INSERT INTO zone3 (origin, octets) SELECT zone, octets FROM zone;
                    \(recordTable("record3"))
                    INSERT INTO record3 SELECT z.id, substr(r.owner, length(r.zone) + 1), r.type, substr(r.rdata_key, 1, 8), r.name, r.ttl, r.rdata, NULL
                        FROM record r JOIN zone3 z ON z.origin = r.zone;
                    DROP TABLE record; DROP TABLE zone; DROP TABLE journal; DROP TABLE journal_step;
                    ALTER TABLE record3 RENAME TO record; ALTER TABLE zone3 RENAME TO zone;
                    \(journalTables)
                    \(dictionaryTable)
                    \(leaseTable)
                    PRAGMA user_version = \(schemaVersion);
                    """)
            return true
        }
        let old = try db.tableExists("record") ? try Row.fetchAll(db, sql: "SELECT origin, owner, type, ttl, rdata FROM record") : []
        try db.execute(
            sql: """
                DROP TABLE IF EXISTS record; DROP TABLE IF EXISTS journal; DROP INDEX IF EXISTS journal_by_zone;
                \(zoneTable("zone"))
                \(recordTable("record"))
                \(journalTables)
                \(dictionaryTable)
                \(leaseTable)
                """)
        // Earlier files: every record re-keyed; their journal is not kept (IXFR from before the
        // upgrade is answered with the whole zone).
        var octets: [DNSName: Int] = [:]
        for row in old {
            let origin = try DNSName(wire: Array(row["origin"] as Data))
            let name = try DNSName(wire: Array(row["owner"] as Data))
            let type = RRType(UInt16(row["type"] as Int))
            let rdata = try RData.decode(type: type, wire: Array(row["rdata"] as Data))
            if octets[origin] == nil {
                try db.execute(sql: "INSERT INTO zone (origin) VALUES (?)", arguments: [Data(OwnerKey.key(origin))])
            }
            let zone = try ZoneKey.find(origin, db)!
            try insert(
                ResourceRecord(name: name, type: type, ttl: UInt32(row["ttl"] as Int64), rdata: rdata),
                stored: (Data(rdata.uncompressedWire), nil), zone: zone, db)
            octets[origin, default: 0] += recordOctets(name, rdata)
        }
        for (origin, total) in octets {
            try db.execute(sql: "UPDATE zone SET octets = ? WHERE origin = ?", arguments: [total, Data(OwnerKey.key(origin))])
        }
        try db.execute(sql: "PRAGMA user_version = \(schemaVersion)")
        return !old.isEmpty
    }

    /// Version 4's journal (a row per change, a row per step) as version 5's, a row per step; the
    /// changes are copied as they were, unpacked.
    private static func journalAsSteps(_ db: GRDB.Database, compression: RowCompression) throws {
        try db.execute(sql: journalTable("journal5"))
        let steps = try Row.fetchAll(db, sql: "SELECT zone, step, from_serial, to_serial, at, octets FROM journal_step ORDER BY zone, step")
        let changes = try db.cachedStatement(
            sql: "SELECT action, name, type, ttl, rdata, dict FROM journal WHERE zone = ? AND step = ? ORDER BY seq")
        let insert = try db.cachedStatement(sql: "INSERT INTO journal5 VALUES (?, ?, ?, ?, ?, ?, ?, NULL)")
        for step in steps {
            var octets: [UInt8] = []
            for row in try Row.fetchAll(changes, arguments: [step[0], step[1]]) {
                JournalStepCoding.append(
                    action: row[0], name: Array(row[1] as Data), type: UInt16(truncatingIfNeeded: row[2] as Int),
                    ttl: UInt32(truncatingIfNeeded: row[3] as Int64), rdata: try compression.unpack(row[4], dictionary: row[5], db),
                    to: &octets)
            }
            try insert.execute(arguments: [step[0], step[1], step[2], step[3], step[4], step[5], Data(octets)])
        }
        try db.execute(
            sql: """
                DROP TABLE journal; DROP TABLE journal_step; ALTER TABLE journal5 RENAME TO journal;
                ALTER TABLE zone ADD COLUMN last_step INTEGER NOT NULL DEFAULT 0;
                UPDATE zone SET last_step = COALESCE((SELECT MAX(step) FROM journal WHERE journal.zone = zone.id), 0);
                """)
    }

    private static func zoneTable(_ name: String) -> String {
        """
        CREATE TABLE \(name) (
            id INTEGER PRIMARY KEY, origin BLOB NOT NULL UNIQUE,
            octets INTEGER NOT NULL DEFAULT 0, journal_octets INTEGER NOT NULL DEFAULT 0,
            last_step INTEGER NOT NULL DEFAULT 0);
        """
    }

    private static func recordTable(_ name: String) -> String {
        """
        CREATE TABLE \(name) (
            zone INTEGER NOT NULL, owner BLOB NOT NULL, type INTEGER NOT NULL, rdata_key BLOB NOT NULL,
            name BLOB, ttl INTEGER NOT NULL, rdata BLOB NOT NULL, dict INTEGER,
            PRIMARY KEY (zone, owner, type, rdata_key)) WITHOUT ROWID;
        """
    }

    /// A step of a zone's journal: the serials it goes between, when it was written, its records'
    /// octets (see `recordOctets`) and its changes (`JournalStepCoding`), packed like a record's RDATA.
    private static func journalTable(_ name: String) -> String {
        """
        CREATE TABLE \(name) (
            zone INTEGER NOT NULL, step INTEGER NOT NULL, from_serial INTEGER NOT NULL, to_serial INTEGER NOT NULL,
            at INTEGER NOT NULL, octets INTEGER NOT NULL, changes BLOB NOT NULL, dict INTEGER,
            PRIMARY KEY (zone, step)) WITHOUT ROWID;
        """
    }

    private static let journalTables = journalTable("journal")

    /// Names' leases (RFC 9664): when each ends, found by end for the server's expiry.
    private static let leaseTable = """
        CREATE TABLE lease (zone INTEGER NOT NULL, owner BLOB NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (zone, owner)) WITHOUT ROWID;
        CREATE INDEX lease_by_end ON lease (zone, expires);
        """

    /// Dictionaries that rows' RDATA are packed with (`RowCompression`), by number.
    private static let dictionaryTable = "CREATE TABLE dictionary (id INTEGER PRIMARY KEY, octets BLOB NOT NULL);"

    /// A zone as the tables know it: its number, and its key, which its names' keys start with.
    struct ZoneKey {
        let id: Int64
        let origin: DNSName
        let originKey: [UInt8]

        /// The stored key of `name`, a name of this zone: its own labels below the zone's.
        func owner(_ name: DNSName) -> Data { Data(OwnerKey.key(name).dropFirst(originKey.count)) }

        /// The name a stored owner key stands for (lower case).
        func name(_ owner: [UInt8]) throws -> DNSName { try OwnerKey.name(originKey + owner) }

        static func find(_ origin: DNSName, _ db: GRDB.Database) throws -> ZoneKey? {
            let key = OwnerKey.key(origin)
            guard let id = try Int64.fetchOne(db.cachedStatement(sql: "SELECT id FROM zone WHERE origin = ?"), arguments: [Data(key)])
            else { return nil }
            return ZoneKey(id: id, origin: origin, originKey: key)
        }
    }

    /// The zone's key; a zone not (yet) in the file gets number -1, which holds no rows.
    private func zoneKey(_ origin: DNSName, _ db: GRDB.Database) throws -> ZoneKey {
        if let zone = zoneKeys.withLock({ $0[origin] }) { return zone }
        guard let zone = try ZoneKey.find(origin, db) else { return ZoneKey(id: -1, origin: origin, originKey: OwnerKey.key(origin)) }
        zoneKeys.withLock { $0[origin] = zone }
        return zone
    }

    // MARK: Rows

    /// RDATA keys of 16 octets (PostgreSQL storage); this file keeps their first 8.
    static func rdataKey(_ rdata: RData) -> Data { Data(SHA256.hash(data: rdata.canonicalWire).prefix(16)) }

    /// The 8-octet RDATA key of a record in this file: RDATA are told apart within one RRset.
    static func shortRDataKey(_ rdata: RData) -> Data { Data(SHA256.hash(data: rdata.canonicalWire).prefix(8)) }

    static func recordOctets(_ name: DNSName, _ rdata: RData) -> Int { name.wireLength + 10 + rdata.uncompressedWire.count }

    /// The name's wire form when its case differs from the key's; nil when the key says it all.
    static func storedName(_ name: DNSName) -> Data? {
        name.wire == name.lowercased.wire ? nil : Data(name.wire)
    }

    /// Keeps `record` with its RDATA as `stored` (see `RowCompression.pack`).
    static func insert(_ record: ResourceRecord, stored: (octets: Data, dictionary: Int64?), zone: ZoneKey, _ db: GRDB.Database) throws {
        let insert = try SQLiteStatement("INSERT OR REPLACE INTO record VALUES (?, ?, ?, ?, ?, ?, ?, ?)", db)
        try insert.bind(1, zone.id)
        try insert.bind(2, zone.owner(record.name))
        try insert.bind(3, Int(record.type.rawValue))
        try insert.bind(4, shortRDataKey(record.rdata))
        try insert.bind(5, storedName(record.name))
        try insert.bind(6, Int64(record.ttl))
        try insert.bind(7, stored.octets)
        try insert.bind(8, stored.dictionary)
        try insert.run()
    }

    /// Removes `record` (when there).
    static func delete(_ record: ResourceRecord, zone: ZoneKey, _ db: GRDB.Database) throws {
        let delete = try SQLiteStatement("DELETE FROM record WHERE zone = ? AND owner = ? AND type = ? AND rdata_key = ?", db)
        try delete.bind(1, zone.id)
        try delete.bind(2, zone.owner(record.name))
        try delete.bind(3, Int(record.type.rawValue))
        try delete.bind(4, shortRDataKey(record.rdata))
        try delete.run()
    }

    /// Turns the row of `old` into that of `new`, a record of the same name and type, with its
    /// RDATA as `stored`: the SOA, whose serial every commit raises, in one statement, not two.
    static func replace(
        _ old: ResourceRecord, with new: ResourceRecord, stored: (octets: Data, dictionary: Int64?), zone: ZoneKey, _ db: GRDB.Database
    ) throws {
        let update = try SQLiteStatement(
            "UPDATE record SET rdata_key = ?, name = ?, ttl = ?, rdata = ?, dict = ? WHERE zone = ? AND owner = ? AND type = ? AND rdata_key = ?",
            db)
        try update.bind(1, shortRDataKey(new.rdata))
        try update.bind(2, storedName(new.name))
        try update.bind(3, Int64(new.ttl))
        try update.bind(4, stored.octets)
        try update.bind(5, stored.dictionary)
        try update.bind(6, zone.id)
        try update.bind(7, zone.owner(old.name))
        try update.bind(8, Int(old.type.rawValue))
        try update.bind(9, shortRDataKey(old.rdata))
        try update.run()
        if db.changesCount == 0 { try insert(new, stored: stored, zone: zone, db) }
    }

    /// A record from a row whose first columns are `owner, type, ttl, name, rdata, dict`, read
    /// by position (by name, every read of a column lower-cased its name); a row that does not
    /// decode is reported with where it is.
    static func record(_ row: Row, zone: ZoneKey, compression: RowCompression, _ db: GRDB.Database) throws -> ResourceRecord {
        try record(
            owner: Array(row[0] as Data), type: row[1], ttl: row[2], name: (row[3] as Data?).map(Array.init), rdata: row[4],
            dictionary: row[5], zone: zone, compression: compression, db)
    }

    /// The same from the current row of a statement whose first columns are those.
    static func record(
        _ statement: borrowing SQLiteStatement, zone: ZoneKey, compression: RowCompression, _ db: GRDB.Database
    ) throws -> ResourceRecord {
        try record(
            owner: statement.bytes(0), type: statement.int(1), ttl: statement.int64(2),
            name: statement.isNull(3) ? nil : statement.bytes(3), rdata: statement.data(4), dictionary: statement.optionalInt64(5),
            zone: zone, compression: compression, db)
    }

    private static func record(
        owner key: [UInt8], type: Int, ttl: Int64, name wire: [UInt8]?, rdata octets: Data, dictionary: Int64?,
        zone: ZoneKey, compression: RowCompression, _ db: GRDB.Database
    ) throws -> ResourceRecord {
        let origin = zone.origin
        let name: DNSName
        let type = RRType(UInt16(truncatingIfNeeded: type))
        do {
            if let wire {
                name = try DNSName(wire: wire)
            } else {
                name = try zone.name(key)
            }
        } catch {
            throw StorageError.damaged("zone \(origin): a \(type) record's name does not decode (\(error))")
        }
        do {
            let rdata = try RData.decode(type: type, wire: try compression.unpack(octets, dictionary: dictionary, db))
            return ResourceRecord(name: name, type: type, ttl: UInt32(truncatingIfNeeded: ttl), rdata: rdata)
        } catch {
            throw StorageError.damaged("zone \(origin): \(name) \(type) does not decode (\(error))")
        }
    }

    // MARK: ZoneStore

    func createZoneIfMissing(_ origin: DNSName, records: [ResourceRecord]) throws -> Bool {
        let created = try pool.writeWithoutTransaction { db -> Bool in
            var created = false
            try db.inTransaction(.immediate) {
                guard try ZoneKey.find(origin, db) == nil else { return .rollback }
                let octets = records.reduce(0) { $0 + Self.recordOctets($1.name, $1.rdata) }
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
                        let size = Self.recordOctets(change.record.name, change.record.rdata)
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
                try prune(zone: zone.id, octets: after.zone, journalOctets: after.journal, db)
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
    private func prune(zone: Int64, octets: Int, journalOctets journalAfterWrite: Int, _ db: GRDB.Database) throws {
        var journalOctets = journalAfterWrite
        let budget = limits.budget(zoneOctets: octets)
        let target = journalOctets > budget ? budget - budget / 8 : budget
        let now = Int64(Date().timeIntervalSince1970)
        let checkAge = ageChecks.withLock { due in
            guard due[zone, default: 0] <= now else { return false }
            due[zone] = now + 60
            return true
        }
        guard journalOctets > target || checkAge else { return }
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
    }

    func journal(_ origin: DNSName, after serial: UInt32) throws -> (any JournalSnapshot)? {
        let snapshot = try pool.makeSnapshot()
        return try snapshot.read { db -> (any JournalSnapshot)? in
            let key = try zoneKey(origin, db)
            guard let first = try Int.fetchOne(
                db, sql: "SELECT MAX(step) FROM journal WHERE zone = ? AND from_serial = ?", arguments: [key.id, Int64(serial)])
            else { return nil }
            // The chain is checked on the serials alone; the changes are read a page at a time.
            let links = try Row.fetchCursor(
                db, sql: "SELECT from_serial, to_serial FROM journal WHERE zone = ? AND step >= ? ORDER BY step", arguments: [key.id, first])
            var chain: [(from: UInt32, to: UInt32)] = []
            while let row = try links.next() {
                chain.append((UInt32(truncatingIfNeeded: row[0] as Int64), UInt32(truncatingIfNeeded: row[1] as Int64)))
            }
            guard let current = try Reader(db: db, zone: key, compression: compression).soa(),
                ZoneDiff.chains(chain, from: serial, to: current.soa.serial)
            else { return nil }
            return Journal(snapshot: snapshot, zone: key, soa: current.record, start: first, compression: compression)
        }
    }

    /// A zone's journal in a snapshot of the file (a WAL read transaction kept open).
    struct Journal: JournalSnapshot, @unchecked Sendable {
        let snapshot: DatabaseSnapshot
        let zone: ZoneKey
        let soa: ResourceRecord
        let start: Int
        let compression: RowCompression

        func diffs(from: Int, octets: Int) throws -> (diffs: [ZoneDiff], next: Int?) {
            try snapshot.read { db in
                let rows = try Row.fetchCursor(
                    db, sql: "SELECT step, from_serial, to_serial, octets, changes, dict FROM journal WHERE zone = ? AND step >= ? ORDER BY step",
                    arguments: [zone.id, from])
                var diffs: [ZoneDiff] = []
                var size = 0
                while let row = try rows.next() {
                    let stepOctets: Int = row[3]
                    guard diffs.isEmpty || size + stepOctets <= octets else { return (diffs, row[0] as Int) }
                    // A step's changes take fewer octets than its records do (see `JournalStepCoding`).
                    let changes = try compression.unpack(row[4], dictionary: row[5], limit: stepOctets, db)
                    let step = JournalStep(
                        from: UInt32(truncatingIfNeeded: row[1] as Int64), to: UInt32(truncatingIfNeeded: row[2] as Int64),
                        changes: try JournalStepCoding.decode(changes))
                    diffs.append(try ZoneDiff(step, zone: zone.origin))
                    size += stepOctets
                }
                return (diffs, nil)
            }
        }
    }

    func snapshot(_ origin: DNSName) throws -> any ZoneSnapshot {
        let snapshot = try pool.makeSnapshot()
        let (zone, soa) = try snapshot.read { db in
            let zone = try zoneKey(origin, db)
            return (zone, try Reader(db: db, zone: zone, compression: compression).soa()?.record)
        }
        return Snapshot(snapshot: snapshot, zone: zone, soa: soa, compression: compression)
    }

    func check(thorough: Bool) throws -> [String] {
        do {
            return try pool.read { db -> [String] in
                let rows = try String.fetchAll(db, sql: thorough ? "PRAGMA integrity_check(20)" : "PRAGMA quick_check(20)")
                return rows == ["ok"] ? [] : rows.map { "\(path): \($0)" }
            }
        } catch let error as DatabaseError {
            return ["\(path): \(error.message ?? "\(error)")"]
        }
    }

    /// Reads the zone's records from both ends, so that a damaged stretch in the middle loses only
    /// the rows in it.
    func salvage(_ origin: DNSName) throws -> (records: [ResourceRecord], damaged: [String]) {
        var records: [DNSName: [ResourceRecord]] = [:]
        var seen = Set<[UInt8]>()
        var damaged: [String] = []
        for order in ["ASC", "DESC"] {
            do {
                try pool.read { db in
                    let zone = try zoneKey(origin, db)
                    let cursor = try Row.fetchCursor(
                        db, sql: "SELECT owner, type, ttl, name, rdata, dict, rdata_key FROM record WHERE zone = ? ORDER BY owner \(order), type \(order), rdata_key \(order)",
                        arguments: [zone.id])
                    while let row = try cursor.next() {
                        let identity = Array(row["owner"] as Data) + [UInt8(truncatingIfNeeded: row["type"] as Int)] + Array(row["rdata_key"] as Data)
                        guard seen.insert(identity).inserted else {
                            if order == "DESC" { return }  // met the rows read from the other end
                            continue
                        }
                        do {
                            let record = try Self.record(row, zone: zone, compression: compression, db)
                            records[record.name, default: []].append(record)
                        } catch {
                            damaged.append("\(error)")
                        }
                    }
                }
            } catch {
                damaged.append("zone \(origin): reading the records \(order == "ASC" ? "in order" : "from the end") stopped: \(error)")
            }
        }
        let ordered = records.keys.sorted().flatMap { records[$0]! }
        return (ordered, damaged)
    }

    // MARK: Reading

    /// One zone read by name from a connection in a transaction; each name is read once.
    final class Reader: ZoneReading {
        let db: GRDB.Database
        let zone: ZoneKey
        let compression: RowCompression
        private var nodes: [DNSName: [RRType: RRSet]] = [:]

        init(db: GRDB.Database, zone: ZoneKey, compression: RowCompression) {
            self.db = db
            self.zone = zone
            self.compression = compression
        }

        var origin: DNSName { zone.origin }

        func node(_ name: DNSName) throws -> [RRType: RRSet] {
            if let node = nodes[name] { return node }
            let select = try SQLiteStatement("SELECT owner, type, ttl, name, rdata, dict FROM record WHERE zone = ? AND owner = ?", db)
            try select.bind(1, zone.id)
            try select.bind(2, zone.owner(name))
            var records: [ResourceRecord] = []
            while try select.step() {
                records.append(try SQLiteZoneStore.record(select, zone: zone, compression: compression, db))
            }
            let node = RRSet.node(of: records)
            nodes[name] = node
            return node
        }

        func leaseExpiry(_ name: DNSName) throws -> UInt64? {
            let select = try SQLiteStatement("SELECT expires FROM lease WHERE zone = ? AND owner = ?", db)
            try select.bind(1, zone.id)
            try select.bind(2, zone.owner(name))
            return try select.step() ? UInt64(clamping: select.int64(0)) : nil
        }

        func hasDescendants(_ name: DNSName) throws -> Bool {
            let (after, before) = OwnerKey.descendants(of: Array(zone.owner(name)))
            let select = try SQLiteStatement("SELECT 1 FROM record WHERE zone = ? AND owner > ? AND owner < ? LIMIT 1", db)
            try select.bind(1, zone.id)
            try select.bind(2, after)
            try select.bind(3, before)
            return try select.step()
        }
    }

    /// A frozen view for a transfer; pages follow (owner, type, rdata key) order.
    struct Snapshot: ZoneSnapshot, @unchecked Sendable {
        let snapshot: DatabaseSnapshot
        let zone: ZoneKey
        let soa: ResourceRecord?
        let compression: RowCompression

        func records(after: [UInt8]?, limit: Int) throws -> (records: [ResourceRecord], next: [UInt8]?) {
            let origin = zone.origin
            return try snapshot.read { db in
                let rows: [Row]
                if let after, let position = Position(after) {
                    rows = try Row.fetchAll(
                        db,
                        sql: """
                            SELECT owner, type, ttl, name, rdata, dict, rdata_key FROM record
                            WHERE zone = ? AND (owner, type, rdata_key) > (?, ?, ?) ORDER BY owner, type, rdata_key LIMIT ?
                            """,
                        arguments: [zone.id, Data(position.owner), position.type, Data(position.key), limit])
                } else {
                    rows = try Row.fetchAll(
                        db, sql: "SELECT owner, type, ttl, name, rdata, dict, rdata_key FROM record WHERE zone = ? ORDER BY owner, type, rdata_key LIMIT ?",
                        arguments: [zone.id, limit])
                }
                var records: [ResourceRecord] = []
                for row in rows {
                    let record = try SQLiteZoneStore.record(row, zone: zone, compression: compression, db)
                    if record.type == .soa && record.name == origin { continue }
                    records.append(record)
                }
                guard rows.count == limit, let last = rows.last else { return (records, nil) }
                let next = Position(owner: Array(last["owner"] as Data), type: last["type"] as Int, key: Array(last["rdata_key"] as Data))
                return (records, next.encoded)
            }
        }

        /// Where a page ended: owner key, type and RDATA key, as opaque octets.
        struct Position {
            var owner: [UInt8]
            var type: Int
            var key: [UInt8]

            init(owner: [UInt8], type: Int, key: [UInt8]) {
                self.owner = owner
                self.type = type
                self.key = key
            }

            init?(_ encoded: [UInt8]) {
                guard encoded.count >= 4 else { return nil }
                let length = Int(encoded[0]) << 8 | Int(encoded[1])
                guard encoded.count >= 4 + length else { return nil }
                owner = Array(encoded[2..<(2 + length)])
                type = Int(encoded[2 + length]) << 8 | Int(encoded[3 + length])
                key = Array(encoded[(4 + length)...])
            }

            var encoded: [UInt8] {
                [UInt8(owner.count >> 8), UInt8(owner.count & 0xFF)] + owner + [UInt8(type >> 8), UInt8(type & 0xFF)] + key
            }
        }
    }
}

import DNSWire
import Foundation
import GRDB

extension SQLiteZoneStore {
    // MARK: Schema

    /// The layouts in order, each a migration from the one before; the number each ends at is
    /// also kept in SQLite's `user_version`, which earlier files carry instead of GRDB's table of
    /// applied migrations. `rebuilt` learns whether a migration rebuilt tables that held data.
    static func migrator(compression: RowCompression, rebuilt: Locked<Bool>) -> DatabaseMigrator {
        var migrator = DatabaseMigrator()
        // 3: zones numbered, owner keys relative to their zone, RDATA digests of 8 octets. Files
        // of versions 0 to 2 (and new ones) start here; their journal is not kept (IXFR from before
        // the upgrade is answered with the whole zone).
        migrator.registerMigration(migrationName(3)) { db in
            let version = try userVersion(db)
            let hadRecords = try db.tableExists("record") && (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM record") ?? 0) > 0
            if version == 2 {
                try rekeyVersion2(db)
            } else if try db.tableExists("record") {
                try rekeyVersion1(db)
            } else {
                try db.execute(sql: zoneTable("zone") + recordTable("record") + version3Journal)
            }
            if hadRecords { rebuilt.withLock { $0 = true } }
            try setUserVersion(3, db)
        }
        // 4: rows gain the number of the dictionary their RDATA are packed with (`RowCompression`);
        // rows from before stay unpacked.
        migrator.registerMigration(migrationName(4)) { db in
            try db.execute(
                sql: "ALTER TABLE record ADD COLUMN dict INTEGER; ALTER TABLE journal ADD COLUMN dict INTEGER;" + dictionaryTable)
            try setUserVersion(4, db)
        }
        // 5: a journal step is one row, its changes packed together (`JournalStepCoding`), and
        // each zone keeps its newest step's number: a commit runs half the statements.
        migrator.registerMigration(migrationName(5)) { db in
            try journalAsSteps(db, compression: compression)
            try setUserVersion(5, db)
        }
        // 6: names' leases (RFC 9664), a table of their own.
        migrator.registerMigration(migrationName(6)) { db in
            try db.execute(sql: leaseTable)
            try setUserVersion(6, db)
        }
        return migrator
    }

    static func migrationName(_ version: Int) -> String { "v\(version)" }

    /// Brings the file to `schemaVersion` with `migrator`, after refusing a file a newer dnsstore
    /// wrote. A file that names its version only in `user_version` (3 or later) is first marked
    /// as having had the migrations up to it. Two processes opening a new file at once both try
    /// the first migration; the one that loses finds it applied when it looks again.
    static func migrate(_ pool: DatabasePool, path: String, compression: RowCompression) throws -> Bool {
        let rebuilt = Locked(false)
        let migrator = migrator(compression: compression, rebuilt: rebuilt)
        try pool.write { db in
            let version = try userVersion(db)
            if version > schemaVersion {
                throw AuthorityError.storage(
                    "\(path) has schema version \(version), written by a newer dnsstore; this one reads versions up to \(schemaVersion)")
            }
            if try db.tableExists("grdb_migrations") {
                let unknown = try migrator.appliedIdentifiers(db).subtracting(migrator.migrations).sorted()
                if !unknown.isEmpty {
                    throw AuthorityError.storage(
                        "\(path) has migrations \(unknown.joined(separator: ", ")), applied by a newer dnsstore; this one reads versions up to \(schemaVersion)")
                }
            }
            if version >= 3, try !db.tableExists("grdb_migrations") {
                try db.execute(sql: "CREATE TABLE grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
                for applied in 3...version {
                    try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [migrationName(applied)])
                }
            }
        }
        var attempt = 0
        while true {
            do {
                try migrator.migrate(pool)
                break
            } catch let error as DatabaseError where attempt < 4 {
                // Another process migrated first: what it applied is skipped on the next look.
                _ = error
                attempt += 1
            }
        }
        try pool.write { db in _ = try compression.takeNewest(db) }
        return rebuilt.withLock { $0 }
    }

    static func userVersion(_ db: GRDB.Database) throws -> Int { try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0 }

    static func setUserVersion(_ version: Int, _ db: GRDB.Database) throws { try db.execute(sql: "PRAGMA user_version = \(version)") }

    /// Version 2's tables re-keyed in place as version 3's: the zone's labels cut from each
    /// owner key, digests cut to 8 octets (their first 8); the journal starts afresh.
    static func rekeyVersion2(_ db: GRDB.Database) throws {
        try db.execute(
            sql: """
                \(zoneTable("zone3"))
                INSERT INTO zone3 (origin, octets) SELECT zone, octets FROM zone;
                \(recordTable("record3"))
                INSERT INTO record3 SELECT z.id, substr(r.owner, length(r.zone) + 1), r.type, substr(r.rdata_key, 1, 8), r.name, r.ttl, r.rdata
                    FROM record r JOIN zone3 z ON z.origin = r.zone;
                DROP TABLE record; DROP TABLE zone; DROP TABLE journal; DROP TABLE journal_step;
                ALTER TABLE record3 RENAME TO record; ALTER TABLE zone3 RENAME TO zone;
                \(version3Journal)
                """)
    }

    /// Versions 0 and 1 (records under names in wire form, keyed by RDATA or its digest) rebuilt
    /// as version 3, every record re-keyed.
    static func rekeyVersion1(_ db: GRDB.Database) throws {
        let old = try Row.fetchAll(db, sql: "SELECT origin, owner, type, ttl, rdata FROM record")
        try db.execute(
            sql: """
                DROP TABLE IF EXISTS record; DROP TABLE IF EXISTS journal; DROP INDEX IF EXISTS journal_by_zone;
                \(zoneTable("zone"))
                \(recordTable("record"))
                \(version3Journal)
                """)
        var octets: [DNSName: Int] = [:]
        let insert = try db.makeStatement(sql: "INSERT OR REPLACE INTO record VALUES (?, ?, ?, ?, ?, ?, ?)")
        for row in old {
            let origin = try DNSName(wire: Array(row["origin"] as Data))
            let name = try DNSName(wire: Array(row["owner"] as Data))
            let type = RRType(UInt16(row["type"] as Int))
            let rdata = try RData.decode(type: type, wire: Array(row["rdata"] as Data))
            if octets[origin] == nil {
                try db.execute(sql: "INSERT INTO zone (origin) VALUES (?)", arguments: [Data(OwnerKey.key(origin))])
            }
            let zone = try ZoneKey.find(origin, db)!
            try insert.execute(arguments: [
                zone.id, zone.owner(name), Int(type.rawValue), RecordKeys.shortRDataKey(rdata), RecordKeys.storedName(name),
                Int64(row["ttl"] as Int64), Data(rdata.uncompressedWire),
            ])
            octets[origin, default: 0] += RecordKeys.recordOctets(name, rdata)
        }
        for (origin, total) in octets {
            try db.execute(sql: "UPDATE zone SET octets = ? WHERE origin = ?", arguments: [total, Data(OwnerKey.key(origin))])
        }
    }

    /// Version 4's journal (a row per change, a row per step) as version 5's, a row per step; the
    /// changes are copied as they were, unpacked.
    static func journalAsSteps(_ db: GRDB.Database, compression: RowCompression) throws {
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

    /// Version 3's zones (version 5 adds `last_step`, the number of the zone's newest journal step).
    static func zoneTable(_ name: String) -> String {
        """
        CREATE TABLE \(name) (
            id INTEGER PRIMARY KEY, origin BLOB NOT NULL UNIQUE,
            octets INTEGER NOT NULL DEFAULT 0, journal_octets INTEGER NOT NULL DEFAULT 0);
        """
    }

    /// Version 3's records (version 4 adds `dict`, the dictionary the RDATA is packed with).
    static func recordTable(_ name: String) -> String {
        """
        CREATE TABLE \(name) (
            zone INTEGER NOT NULL, owner BLOB NOT NULL, type INTEGER NOT NULL, rdata_key BLOB NOT NULL,
            name BLOB, ttl INTEGER NOT NULL, rdata BLOB NOT NULL,
            PRIMARY KEY (zone, owner, type, rdata_key)) WITHOUT ROWID;
        """
    }

    /// Version 3's journal: a row per step and a row per change (version 5 packs them in one).
    static let version3Journal = """
        CREATE TABLE journal_step (
            zone INTEGER NOT NULL, step INTEGER NOT NULL, from_serial INTEGER NOT NULL, to_serial INTEGER NOT NULL,
            at INTEGER NOT NULL, octets INTEGER NOT NULL, PRIMARY KEY (zone, step)) WITHOUT ROWID;
        CREATE TABLE journal (
            zone INTEGER NOT NULL, step INTEGER NOT NULL, seq INTEGER NOT NULL, action INTEGER NOT NULL,
            name BLOB NOT NULL, type INTEGER NOT NULL, ttl INTEGER NOT NULL, rdata BLOB NOT NULL,
            PRIMARY KEY (zone, step, seq)) WITHOUT ROWID;
        """

    /// Version 5's journal, a step a row: the serials it goes between, when it was written, its records'
    /// octets (see `recordOctets`) and its changes (`JournalStepCoding`), packed like a record's RDATA.
    static func journalTable(_ name: String) -> String {
        """
        CREATE TABLE \(name) (
            zone INTEGER NOT NULL, step INTEGER NOT NULL, from_serial INTEGER NOT NULL, to_serial INTEGER NOT NULL,
            at INTEGER NOT NULL, octets INTEGER NOT NULL, changes BLOB NOT NULL, dict INTEGER,
            PRIMARY KEY (zone, step)) WITHOUT ROWID;
        """
    }

    /// Names' leases (RFC 9664): when each ends, found by end for the server's expiry.
    static let leaseTable = """
        CREATE TABLE lease (zone INTEGER NOT NULL, owner BLOB NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (zone, owner)) WITHOUT ROWID;
        CREATE INDEX lease_by_end ON lease (zone, expires);
        """

    /// Dictionaries that rows' RDATA are packed with (`RowCompression`), by number.
    static let dictionaryTable = "CREATE TABLE dictionary (id INTEGER PRIMARY KEY, octets BLOB NOT NULL);"
}

import DNSWire
import Foundation
import GRDB

extension SQLiteZoneStore {
    // MARK: Schema

    /// Brings the tables to `schemaVersion`; returns whether it rebuilt tables that held data.
    static func migrate(_ db: GRDB.Database, path: String, compression: RowCompression) throws -> Bool {
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
            octets[origin, default: 0] += RecordKeys.recordOctets(name, rdata)
        }
        for (origin, total) in octets {
            try db.execute(sql: "UPDATE zone SET octets = ? WHERE origin = ?", arguments: [total, Data(OwnerKey.key(origin))])
        }
        try db.execute(sql: "PRAGMA user_version = \(schemaVersion)")
        return !old.isEmpty
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

    static func zoneTable(_ name: String) -> String {
        """
        CREATE TABLE \(name) (
            id INTEGER PRIMARY KEY, origin BLOB NOT NULL UNIQUE,
            octets INTEGER NOT NULL DEFAULT 0, journal_octets INTEGER NOT NULL DEFAULT 0,
            last_step INTEGER NOT NULL DEFAULT 0);
        """
    }

    static func recordTable(_ name: String) -> String {
        """
        CREATE TABLE \(name) (
            zone INTEGER NOT NULL, owner BLOB NOT NULL, type INTEGER NOT NULL, rdata_key BLOB NOT NULL,
            name BLOB, ttl INTEGER NOT NULL, rdata BLOB NOT NULL, dict INTEGER,
            PRIMARY KEY (zone, owner, type, rdata_key)) WITHOUT ROWID;
        """
    }

    /// A step of a zone's journal: the serials it goes between, when it was written, its records'
    /// octets (see `recordOctets`) and its changes (`JournalStepCoding`), packed like a record's RDATA.
    static func journalTable(_ name: String) -> String {
        """
        CREATE TABLE \(name) (
            zone INTEGER NOT NULL, step INTEGER NOT NULL, from_serial INTEGER NOT NULL, to_serial INTEGER NOT NULL,
            at INTEGER NOT NULL, octets INTEGER NOT NULL, changes BLOB NOT NULL, dict INTEGER,
            PRIMARY KEY (zone, step)) WITHOUT ROWID;
        """
    }

    static let journalTables = journalTable("journal")

    /// Names' leases (RFC 9664): when each ends, found by end for the server's expiry.
    static let leaseTable = """
        CREATE TABLE lease (zone INTEGER NOT NULL, owner BLOB NOT NULL, expires INTEGER NOT NULL, PRIMARY KEY (zone, owner)) WITHOUT ROWID;
        CREATE INDEX lease_by_end ON lease (zone, expires);
        """

    /// Dictionaries that rows' RDATA are packed with (`RowCompression`), by number.
    static let dictionaryTable = "CREATE TABLE dictionary (id INTEGER PRIMARY KEY, octets BLOB NOT NULL);"
}

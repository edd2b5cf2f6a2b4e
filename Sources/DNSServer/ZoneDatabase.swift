import Crypto
import DNSWire
import Foundation
import GRDB

/// Zones on disk in SQLite (WAL, synchronous commits): the records of every zone and a journal of
/// changes by serial, which IXFR serves. Several processes may share one file: SQLite serializes
/// their writes, and `dataVersion` tells a process when another one has committed.
final class ZoneDatabase: Sendable {
    private let queue: DatabaseQueue

    static let journalKeep = 10_000

    /// `syncEveryCommit` fsyncs each commit (survives power loss); otherwise a commit is in the
    /// operating system's hands when acknowledged (survives a crash or kill -9 of the process).
    init(path: String, syncEveryCommit: Bool) throws {
        var config = Configuration()
        config.journalMode = .wal
        config.busyMode = .timeout(10)
        let synchronous = syncEveryCommit ? "FULL" : "NORMAL"
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
        }
        queue = try DatabaseQueue(path: path, configuration: config)
        try queue.write { db in try Self.migrate(db, path: path) }
    }

    /// The layout of the tables this version writes, kept in SQLite's `user_version`. Version 1
    /// keys a record by a digest of its RDATA; files from before versions existed (0) keyed it by
    /// the RDATA itself.
    static let schemaVersion = 1

    /// Brings a file up to `schemaVersion`, in the caller's transaction; refuses a newer file
    /// rather than misread it.
    private static func migrate(_ db: GRDB.Database, path: String) throws {
        let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        guard version <= schemaVersion else {
            throw AuthorityError.storage(
                "\(path) has schema version \(version), written by a newer dnsstore; this one reads versions up to \(schemaVersion)")
        }
        guard try db.tableExists("record") else {
            try db.execute(
                sql: """
                    CREATE TABLE record (
                        origin BLOB NOT NULL, owner_key BLOB NOT NULL, owner BLOB NOT NULL,
                        type INTEGER NOT NULL, ttl INTEGER NOT NULL, rdata_key BLOB NOT NULL, rdata BLOB NOT NULL,
                        PRIMARY KEY (origin, owner_key, type, rdata_key)) WITHOUT ROWID;
                    CREATE TABLE journal (
                        seq INTEGER PRIMARY KEY AUTOINCREMENT, origin BLOB NOT NULL, serial INTEGER NOT NULL,
                        action INTEGER NOT NULL, owner BLOB NOT NULL, type INTEGER NOT NULL, ttl INTEGER NOT NULL,
                        rdata BLOB NOT NULL);
                    CREATE INDEX journal_by_zone ON journal (origin, seq);
                    PRAGMA user_version = \(schemaVersion);
                    """)
            return
        }
        if version < 1 {
            // Re-key every record by the digest of its canonical RDATA; two rows of one record
            // (an old key and a new one) become one.
            let rows = try Row.fetchAll(db, sql: "SELECT origin, owner_key, owner, type, ttl, rdata FROM record")
            try db.execute(sql: "DELETE FROM record")
            for row in rows {
                let type = RRType(UInt16(row["type"] as Int))
                let rdata = try RData.decode(type: type, wire: Array(row["rdata"] as Data))
                try db.execute(
                    sql: "INSERT OR REPLACE INTO record VALUES (?, ?, ?, ?, ?, ?, ?)",
                    arguments: [row["origin"] as Data, row["owner_key"] as Data, row["owner"] as Data, row["type"] as Int,
                                row["ttl"] as Int64, rdataKey(rdata), row["rdata"] as Data])
            }
        }
        try db.execute(sql: "PRAGMA user_version = \(schemaVersion)")
    }

    /// A number that changes whenever another connection (another process) commits.
    func dataVersion() throws -> Int {
        try queue.inDatabase { db in try Int.fetchOne(db.cachedStatement(sql: "PRAGMA data_version")) ?? 0 }
    }

    func loadZone(_ origin: DNSName) throws -> Zone? {
        try queue.read { db in try Self.load(origin, db) }
    }

    private static func load(_ origin: DNSName, _ db: GRDB.Database) throws -> Zone? {
        let rows = try Row.fetchAll(
            db, sql: "SELECT owner, type, ttl, rdata FROM record WHERE origin = ?", arguments: [key(origin)])
        guard !rows.isEmpty else { return nil }
        var zone = Zone(origin: origin)
        for row in rows { zone.add(try record(row)) }
        return zone
    }

    static func record(_ row: Row) throws -> ResourceRecord {
        let owner = try DNSName(wire: Array(row["owner"] as Data))
        let type = RRType(UInt16(row["type"] as Int))
        let rdata = try RData.decode(type: type, wire: Array(row["rdata"] as Data))
        return ResourceRecord(name: owner, type: type, ttl: UInt32(row["ttl"] as Int64), rdata: rdata)
    }

    static func key(_ name: DNSName) -> Data { Data(name.lowercased.wire) }

    /// A record's identity within its RRset: 16 octets of SHA-256 of its canonical RDATA. Keying by
    /// the RDATA itself would put kilobyte keys in the B-tree and make every write slower as the
    /// zone grows.
    static func rdataKey(_ rdata: RData) -> Data { Data(SHA256.hash(data: rdata.canonicalWire).prefix(16)) }

    /// Applies changes in one transaction, after checking that the stored serial is still `expectedSerial`
    /// (another process may have written in between); returns false, changing nothing, if it is not.
    func commit(_ origin: DNSName, changes: [ZoneChange], serial: UInt32, expectedSerial: UInt32?) throws -> Bool {
        // IMMEDIATE takes the write lock before reading the serial, so no other process can
        // commit between the check and the write.
        try queue.writeWithoutTransaction { db in
          var committed = false
          try db.inTransaction(.immediate) {
            if let expectedSerial {
                guard try Self.storedSerial(origin, db) == expectedSerial else { return .rollback }
            }
            for change in changes {
                let r = change.record
                switch change.action {
                case .delete:
                    try db.cachedStatement(sql: "DELETE FROM record WHERE origin = ? AND owner_key = ? AND type = ? AND rdata_key = ?")
                        .execute(arguments: [Self.key(origin), Self.key(r.name), Int(r.type.rawValue), Self.rdataKey(r.rdata)])
                case .add:
                    try db.cachedStatement(sql: "INSERT OR REPLACE INTO record VALUES (?, ?, ?, ?, ?, ?, ?)")
                        .execute(arguments: [
                            Self.key(origin), Self.key(r.name), Data(r.name.wire), Int(r.type.rawValue), Int64(r.ttl),
                            Self.rdataKey(r.rdata), Data(r.rdata.uncompressedWire),
                        ])
                }
                try db.cachedStatement(sql: "INSERT INTO journal (origin, serial, action, owner, type, ttl, rdata) VALUES (?, ?, ?, ?, ?, ?, ?)")
                    .execute(arguments: [
                        Self.key(origin), Int64(serial), change.action.rawValue, Data(r.name.wire), Int(r.type.rawValue),
                        Int64(r.ttl), Data(r.rdata.uncompressedWire),
                    ])
            }
            // Trim the journal now and then, not on every commit.
            if serial % 256 == 0 {
                try db.cachedStatement(
                    sql: "DELETE FROM journal WHERE origin = ? AND seq <= (SELECT MAX(seq) FROM journal WHERE origin = ?) - ?"
                ).execute(arguments: [Self.key(origin), Self.key(origin), Self.journalKeep])
            }
            committed = true
            return .commit
          }
          return committed
        }
    }

    private static func storedSerial(_ origin: DNSName, _ db: GRDB.Database) throws -> UInt32? {
        let row = try Row.fetchOne(
            db.cachedStatement(sql: "SELECT owner, type, ttl, rdata FROM record WHERE origin = ? AND owner_key = ? AND type = ?"),
            arguments: [key(origin), key(origin), Int(RRType.soa.rawValue)])
        guard let row, case .soa(let soa) = try record(row).rdata else { return nil }
        return soa.serial
    }

    /// The changes after `serial`, step by step, or nil when the journal does not reach back that far.
    func diffs(_ origin: DNSName, after serial: UInt32, current: UInt32) throws -> [ZoneDiff]? {
        try queue.read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT serial, action, owner, type, ttl, rdata FROM journal WHERE origin = ? ORDER BY seq",
                arguments: [Self.key(origin)])
            var steps: [(serial: UInt32, changes: [ZoneChange])] = []
            for row in rows {
                let s = UInt32(row["serial"] as Int64)
                let change = ZoneChange(
                    action: ZoneChange.Action(rawValue: row["action"] as Int) ?? .add, record: try Self.record(row))
                if steps.last?.serial == s {
                    steps[steps.count - 1].changes.append(change)
                } else {
                    steps.append((s, [change]))
                }
            }
            // Steps from the one that starts at `serial` on.
            guard let start = steps.firstIndex(where: { step in
                step.changes.contains { $0.action == .delete && $0.record.type == .soa && Self.serial(of: $0.record) == serial }
            }) else { return nil }
            // Up to `current`: the journal may already hold steps committed after the caller looked.
            var diffs: [ZoneDiff] = []
            for step in steps[start...] {
                guard let from = step.changes.first(where: { $0.action == .delete && $0.record.type == .soa })?.record,
                    let to = step.changes.first(where: { $0.action == .add && $0.record.type == .soa })?.record
                else { return nil }
                diffs.append(ZoneDiff(
                    fromSOA: from, toSOA: to,
                    deleted: step.changes.filter { $0.action == .delete && $0.record.type != .soa }.map(\.record),
                    added: step.changes.filter { $0.action == .add && $0.record.type != .soa }.map(\.record)))
                if Self.serial(of: to) == current { return diffs }
            }
            return nil
        }
    }

    static func serial(of record: ResourceRecord?) -> UInt32? {
        if case .soa(let soa)? = record?.rdata { return soa.serial }
        return nil
    }
}

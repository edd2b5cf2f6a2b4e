import DNSWire
import Foundation
import GRDB

extension SQLiteZoneStore {
    /// The journal after `serial`. Changes of up to `eagerJournalOctets` (a secondary told of the
    /// last few changes: nearly every IXFR) are read at once on a pooled connection, whose
    /// statements are prepared already; a longer journal is read a page at a time from a snapshot
    /// of its own (a connection opened for it), so a transfer holds one page in memory.
    func journal(_ origin: DNSName, after serial: UInt32) throws -> (any JournalSnapshot)? {
        enum Found {
            case none
            case loaded(JournalInMemory)
            case long
        }
        let found = try pool.read { db -> Found in
            guard let start = try journalStart(db, origin, after: serial) else { return .none }
            guard start.octets <= Self.eagerJournalOctets else { return .long }
            let (diffs, _) = try Journal.diffs(db, zone: start.zone, from: start.first, octets: .max, compression: compression)
            return .loaded(JournalInMemory(soa: start.soa, all: diffs))
        }
        switch found {
        case .none: return nil
        case .loaded(let journal): return journal
        case .long: break
        }
        let snapshot = try pool.makeSnapshot()
        return try snapshot.read { db -> (any JournalSnapshot)? in
            guard let start = try journalStart(db, origin, after: serial) else { return nil }
            return Journal(snapshot: snapshot, zone: start.zone, soa: start.soa, start: start.first, compression: compression)
        }
    }

    /// Stored changes an IXFR reads at once rather than from a snapshot.
    static let eagerJournalOctets = 256 << 10

    /// Where the zone's journal after `serial` starts, the zone's SOA it leads to, and the stored
    /// octets of its changes; nil when no step starts at `serial` or the steps from there do not
    /// chain to the current serial (the chain is checked on the serials alone).
    private func journalStart(
        _ db: GRDB.Database, _ origin: DNSName, after serial: UInt32
    ) throws -> (zone: ZoneKey, first: Int, soa: ResourceRecord, octets: Int)? {
        let zone = try zoneKey(origin, db)
        guard let first = try Int.fetchOne(
            db.cachedStatement(sql: "SELECT MAX(step) FROM journal WHERE zone = ? AND from_serial = ?"), arguments: [zone.id, Int64(serial)])
        else { return nil }
        let links = try Row.fetchCursor(
            db.cachedStatement(sql: "SELECT from_serial, to_serial, octets FROM journal WHERE zone = ? AND step >= ? ORDER BY step"),
            arguments: [zone.id, first])
        var chain: [(from: UInt32, to: UInt32)] = []
        var octets = 0
        while let row = try links.next() {
            chain.append((UInt32(truncatingIfNeeded: row[0] as Int64), UInt32(truncatingIfNeeded: row[1] as Int64)))
            octets += row[2] as Int
        }
        guard let current = try Reader(db: db, zone: zone, compression: compression).soa(),
            ZoneDiff.chains(chain, from: serial, to: current.soa.serial)
        else { return nil }
        return (zone, first, current.record, octets)
    }

    /// A zone's journal in a snapshot of the file (a WAL read transaction kept open).
    struct Journal: JournalSnapshot, @unchecked Sendable {
        let snapshot: DatabaseSnapshot
        let zone: ZoneKey
        let soa: ResourceRecord
        let start: Int
        let compression: RowCompression

        func diffs(from: Int, octets: Int) throws -> (diffs: [ZoneDiff], next: Int?) {
            try snapshot.read { db in try Self.diffs(db, zone: zone, from: from, octets: octets, compression: compression) }
        }

        /// The steps from position `from` on, as many as fit in `octets` of stored changes (at
        /// least one), and where the next page starts.
        static func diffs(
            _ db: GRDB.Database, zone: ZoneKey, from: Int, octets: Int, compression: RowCompression
        ) throws -> (diffs: [ZoneDiff], next: Int?) {
            let rows = try Row.fetchCursor(
                db.cachedStatement(sql: "SELECT step, from_serial, to_serial, octets, changes, dict FROM journal WHERE zone = ? AND step >= ? ORDER BY step"),
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

    func snapshot(_ origin: DNSName) throws -> any ZoneSnapshot {
        let snapshot = try pool.makeSnapshot()
        let (zone, soa) = try snapshot.read { db in
            let zone = try zoneKey(origin, db)
            return (zone, try Reader(db: db, zone: zone, compression: compression).soa()?.record)
        }
        return Snapshot(snapshot: snapshot, zone: zone, soa: soa, compression: compression)
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
                if let after, let position = PagePosition(after) {
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
                let next = PagePosition(owner: Array(last["owner"] as Data), type: last["type"] as Int, key: Array(last["rdata_key"] as Data))
                return (records, next.encoded)
            }
        }
    }
}

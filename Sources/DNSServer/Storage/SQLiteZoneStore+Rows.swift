import DNSWire
import Foundation
import GRDB

extension SQLiteZoneStore {
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

    // MARK: Rows

    /// Keeps `record` with its RDATA as `stored` (see `RowCompression.pack`).
    static func insert(_ record: ResourceRecord, stored: (octets: Data, dictionary: Int64?), zone: ZoneKey, _ db: GRDB.Database) throws {
        let insert = try SQLiteStatement("INSERT OR REPLACE INTO record VALUES (?, ?, ?, ?, ?, ?, ?, ?)", db)
        try insert.bind(1, zone.id)
        try insert.bind(2, zone.owner(record.name))
        try insert.bind(3, Int(record.type.rawValue))
        try insert.bind(4, RecordKeys.shortRDataKey(record.rdata))
        try insert.bind(5, RecordKeys.storedName(record.name))
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
        try delete.bind(4, RecordKeys.shortRDataKey(record.rdata))
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
        try update.bind(1, RecordKeys.shortRDataKey(new.rdata))
        try update.bind(2, RecordKeys.storedName(new.name))
        try update.bind(3, Int64(new.ttl))
        try update.bind(4, stored.octets)
        try update.bind(5, stored.dictionary)
        try update.bind(6, zone.id)
        try update.bind(7, zone.owner(old.name))
        try update.bind(8, Int(old.type.rawValue))
        try update.bind(9, RecordKeys.shortRDataKey(old.rdata))
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
}

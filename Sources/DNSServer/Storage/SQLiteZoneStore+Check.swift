import DNSWire
import Foundation
import GRDB

extension SQLiteZoneStore {
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
}

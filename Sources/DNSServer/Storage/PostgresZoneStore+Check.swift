#if PostgreSQL
import DNSWire
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

extension PostgresZoneStore {
    func check(thorough: Bool) throws -> [String] {
        do {
            return try withConnection { session in
                var problems: [String] = []
                if try session.rows("SELECT version FROM dnsstore_schema").isEmpty {
                    problems.append("\(displayURL): no schema version")
                }
                if thorough {
                    // Every stored record decodes.
                    for row in try session.rows("SELECT zone FROM dnsstore_zone") {
                        let origin = try OwnerKey.name(Array(try row.decode(Data.self)))
                        problems += try salvage(origin).damaged.map { "\(displayURL): \($0)" }
                    }
                }
                return problems
            }
        } catch {
            return ["\(displayURL): \(Self.message(error))"]
        }
    }

    func salvage(_ origin: DNSName) throws -> (records: [ResourceRecord], damaged: [String]) {
        let zone = Data(OwnerKey.key(origin))
        return try withConnection { session in
            var records: [ResourceRecord] = []
            var damaged: [String] = []
            for row in try session.rows(
                "SELECT owner, type, ttl, name, rdata FROM dnsstore_record WHERE zone = \(zone) ORDER BY owner, type, rdata_key")
            {
                do { records.append(try Self.record(row, zone: origin)) } catch { damaged.append("\(error)") }
            }
            return (records, damaged)
        }
    }

    /// A record from a row of `owner, type, ttl, name, rdata`.
    static func record(_ row: PostgresRow, zone origin: DNSName) throws -> ResourceRecord {
        let (owner, type, ttl, name, rdata) = try row.decode((Data, Int, Int, Data?, Data).self)
        return try record(owner: owner, type: type, ttl: ttl, name: name, rdata: rdata, zone: origin)
    }

    static func record(owner: Data, type: Int, ttl: Int, name: Data?, rdata: Data, zone origin: DNSName) throws -> ResourceRecord {
        let rrType = RRType(UInt16(truncatingIfNeeded: type))
        let ownerName: DNSName
        do {
            ownerName = try name.map { try DNSName(wire: Array($0)) } ?? OwnerKey.name(Array(owner))
        } catch {
            throw StorageError.damaged("zone \(origin): a \(rrType) record's name does not decode (\(error))")
        }
        do {
            return ResourceRecord(
                name: ownerName, type: rrType, ttl: UInt32(truncatingIfNeeded: ttl), rdata: try RData.decode(type: rrType, wire: Array(rdata)))
        } catch {
            throw StorageError.damaged("zone \(origin): \(ownerName) \(rrType) does not decode (\(error))")
        }
    }

}
#endif

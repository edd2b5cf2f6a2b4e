import DNSWire

/// A journal step's changes as one row of the SQLite file keeps them, so that a commit writes one
/// journal row, not one per change. Each change in order: its action (0 deleted, 1 added), its
/// owner's length and wire form (no terminating zero), type (2 octets), TTL (4) and RDATA's length
/// (2) and uncompressed wire form; integers big-endian.
enum JournalStepCoding {
    /// The changes as octets.
    static func encode(_ changes: [ZoneChange]) -> [UInt8] {
        var octets: [UInt8] = []
        octets.reserveCapacity(changes.reduce(0) { $0 + $1.record.name.wire.count + 10 + 64 })
        for change in changes {
            let record = change.record
            append(action: change.action.rawValue, name: record.name.wire, type: record.type.rawValue, ttl: record.ttl,
                rdata: record.rdata.uncompressedWire, to: &octets)
        }
        return octets
    }

    /// Appends one change given by its parts (a migration copies rows without decoding them).
    static func append(action: Int, name: [UInt8], type: UInt16, ttl: UInt32, rdata: [UInt8], to octets: inout [UInt8]) {
        octets.append(UInt8(truncatingIfNeeded: action))
        octets.append(UInt8(name.count))
        octets += name
        octets += [UInt8(type >> 8), UInt8(type & 0xFF)]
        octets += [UInt8(ttl >> 24), UInt8((ttl >> 16) & 0xFF), UInt8((ttl >> 8) & 0xFF), UInt8(ttl & 0xFF)]
        octets += [UInt8(rdata.count >> 8), UInt8(rdata.count & 0xFF)]
        octets += rdata
    }

    /// The changes `octets` hold; throws naming what is cut short or does not decode.
    static func decode(_ octets: [UInt8]) throws -> [ZoneChange] {
        var changes: [ZoneChange] = []
        var i = 0
        func take(_ n: Int, _ what: String) throws -> ArraySlice<UInt8> {
            guard n <= octets.count - i else {
                throw StorageError.damaged("a journal step's change \(changes.count + 1) is cut short in its \(what)")
            }
            defer { i += n }
            return octets[i..<(i + n)]
        }
        while i < octets.count {
            let action = try take(1, "action")
            guard let kind = ZoneChange.Action(rawValue: Int(action.first!)) else {
                throw StorageError.damaged("a journal step's change \(changes.count + 1) has action \(action.first!)")
            }
            let nameLength = Int(try take(1, "owner's length").first!)
            let name = try DNSName(wire: Array(try take(nameLength, "owner")))
            let type = RRType(try take(2, "type").reduce(0) { $0 << 8 | UInt16($1) })
            let ttl = try take(4, "TTL").reduce(0) { $0 << 8 | UInt32($1) }
            let length = Int(try take(2, "RDATA's length").reduce(0) { $0 << 8 | UInt16($1) })
            let wire = Array(try take(length, "RDATA"))
            let rdata: RData
            do {
                rdata = try RData.decode(type: type, wire: wire)
            } catch {
                throw StorageError.damaged("a journal step's change \(changes.count + 1), \(name) \(type), does not decode (\(error))")
            }
            changes.append(ZoneChange(action: kind, record: ResourceRecord(name: name, type: type, ttl: ttl, rdata: rdata)))
        }
        return changes
    }
}

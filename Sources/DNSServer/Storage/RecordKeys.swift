import Crypto
import DNSWire
import Foundation

/// How both storages (SQLite and PostgreSQL) key and measure a record's row.
enum RecordKeys {
    /// The RDATA key of 16 octets (PostgreSQL storage): RDATA are told apart within one RRset.
    static func rdataKey(_ rdata: RData) -> Data { Data(SHA256.hash(data: rdata.canonicalWire).prefix(16)) }

    /// The 8-octet RDATA key (SQLite storage), the first 8 octets of `rdataKey`.
    static func shortRDataKey(_ rdata: RData) -> Data { Data(SHA256.hash(data: rdata.canonicalWire).prefix(8)) }

    /// A record's octets as a zone's size counts them: its owner, fixed fields and RDATA in wire form.
    static func recordOctets(_ name: DNSName, _ rdata: RData) -> Int { name.wireLength + 10 + rdata.uncompressedWire.count }

    /// The name's wire form when its case differs from the key's; nil when the key says it all.
    static func storedName(_ name: DNSName) -> Data? {
        name.wire == name.lowercased.wire ? nil : Data(name.wire)
    }
}

/// Where a page of a zone transfer ended, in (owner key, type, RDATA key) order, as the opaque
/// octets a `ZoneSnapshot` hands back for the next page.
struct PagePosition {
    var owner: [UInt8]
    var type: Int
    var key: [UInt8]

    init(owner: [UInt8], type: Int, key: [UInt8]) {
        self.owner = owner
        self.type = type
        self.key = key
    }

    /// The position `encoded` stands for; nil for octets no position encodes to.
    init?(_ encoded: [UInt8]) {
        guard encoded.count >= 4 else { return nil }
        let length = Int(encoded[0]) << 8 | Int(encoded[1])
        guard encoded.count >= 4 + length else { return nil }
        owner = Array(encoded[2..<(2 + length)])
        type = Int(encoded[2 + length]) << 8 | Int(encoded[3 + length])
        key = Array(encoded[(4 + length)...])
    }

    /// The owner key's length (2 octets), the owner key, the type (2 octets), the RDATA key.
    var encoded: [UInt8] {
        [UInt8(owner.count >> 8), UInt8(owner.count & 0xFF)] + owner + [UInt8(type >> 8), UInt8(type & 0xFF)] + key
    }
}

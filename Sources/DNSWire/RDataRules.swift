/// What RDATA a record of a given type may hold, for the types whose shape is known: a server
/// that stores what it cannot serve or transfer breaks its secondaries. Types not listed here are
/// kept as opaque octets, which RFC 3597 allows for them.
public enum RDataRules {
    /// Types that may not be stored at all: meta types and QTYPEs (RFC 6895 section 3.1, the
    /// range 128-255 and OPT), TYPE0, and the obsolete MD, MF and A6.
    public static func isStorable(_ type: RRType) -> Bool {
        switch type.rawValue {
        case 0, 3, 4, 38, 41: return false
        case 128...255: return false
        default: return true
        }
    }

    /// Types of which a name holds at most one record, and which exclude most other data.
    public static let singletons: Set<RRType> = [.cname, RRType(39), .soa]

    /// Types that may sit beside a CNAME (RFC 4035 section 2.5, RFC 2535).
    public static let allowedBesideCNAME: Set<RRType> = [RRType(24), RRType(25), RRType(30), RRType(46), RRType(47)]

    /// Why `rdata` cannot be a record of `type`, or nil when it can.
    public static func problem(_ type: RRType, _ rdata: RData) -> String? {
        guard isStorable(type) else { return "\(type) records cannot be stored" }
        guard case .opaque(let bytes) = rdata else { return nil }  // decoded by type: already whole
        var r = OctetReader(bytes)
        do {
            try shape(type.rawValue, &r)
            guard r.atEnd else { return "\(type) RDATA has \(r.remaining) octets too many" }
            return nil
        } catch {
            return "\(type) RDATA \((error as? Bad)?.reason ?? "is malformed")"
        }
    }

    private static func shape(_ type: UInt16, _ r: inout OctetReader) throws {
        switch type {
        case 7, 8, 9, 39:  // MB, MG, MR, DNAME
            try r.name()
        case 11:  // WKS: address, protocol, bitmap
            try r.skip(5)
            r.rest()
        case 13:  // HINFO
            try r.string()
            try r.string()
        case 14, 17:  // MINFO, RP
            try r.name()
            try r.name()
        case 18, 21, 36:  // AFSDB, RT, KX
            try r.skip(2)
            try r.name()
        case 19:  // X25
            try r.string()
        case 20:  // ISDN
            try r.string()
            if !r.atEnd { try r.string() }
        case 24, 46:  // SIG, RRSIG: type covered .. key tag, signer, signature
            try r.skip(18)
            try r.name()
            try r.some("a signature")
        case 25, 48, 60:  // KEY, DNSKEY, CDNSKEY: flags, protocol, algorithm, key
            try r.skip(4)
            r.rest()
        case 26:  // PX
            try r.skip(2)
            try r.name()
            try r.name()
        case 27:  // GPOS
            try r.string()
            try r.string()
            try r.string()
        case 29:  // LOC, version 0: sixteen octets
            guard try r.byte() == 0 else { throw Bad("has a LOC version other than 0") }
            try r.skip(15)
        case 33:  // SRV
            try r.skip(6)
            try r.name()
        case 35:  // NAPTR
            try r.skip(4)
            try r.string()
            try r.string()
            try r.string()
            try r.name()
        case 37:  // CERT
            try r.skip(5)
            r.rest()
        case 43, 59, 32769:  // DS, CDS, DLV
            try r.skip(3)
            let digestType = try r.byte()
            let lengths: [UInt8: Int] = [1: 20, 2: 32, 4: 48]
            if let length = lengths[digestType] {
                guard r.remaining == length else { throw Bad("has a digest of \(r.remaining) octets where its type needs \(length)") }
            }
            try r.some("a digest")
        case 44:  // SSHFP
            try r.skip(2)
            try r.some("a fingerprint")
        case 47:  // NSEC
            try r.name()
            try r.typeBitmap()
        case 50:  // NSEC3
            try r.skip(4)
            try r.skip(Int(try r.byte()))
            let hashLength = Int(try r.byte())
            guard hashLength > 0 else { throw Bad("has an empty next hashed owner") }
            try r.skip(hashLength)
            try r.typeBitmap()
        case 51:  // NSEC3PARAM
            try r.skip(4)
            try r.skip(Int(try r.byte()))
        case 52, 53:  // TLSA, SMIMEA
            try r.skip(3)
            try r.some("certificate data")
        case 62:  // CSYNC
            try r.skip(6)
            try r.typeBitmap()
        case 63:  // ZONEMD
            try r.skip(6)
            guard r.remaining >= 12 else { throw Bad("has a digest shorter than 12 octets") }
            r.rest()
        case 64, 65:  // SVCB, HTTPS: priority, target, parameters in increasing key order
            try r.skip(2)
            try r.name()
            var last: Int = -1
            while !r.atEnd {
                let key = Int(try r.uint16())
                guard key > last else { throw Bad("has service parameters out of order or repeated") }
                last = key
                try r.skip(Int(try r.uint16()))
            }
        case 99:  // SPF
            try r.string()
            while !r.atEnd { try r.string() }
        case 108:  // EUI48
            try r.skip(6)
        case 109:  // EUI64
            try r.skip(8)
        case 256:  // URI
            try r.skip(4)
            try r.some("a target")
        case 257:  // CAA: flags, tag length (1-15), tag of letters and digits, value
            try r.skip(1)
            let tagLength = Int(try r.byte())
            guard (1...15).contains(tagLength) else { throw Bad("has a tag of \(tagLength) octets; 1 to 15 are allowed") }
            let tag = try r.take(tagLength)
            guard tag.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || (($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A) }) else {
                throw Bad("has a tag that is not letters and digits")
            }
            r.rest()
        default:
            r.rest()  // opaque (RFC 3597)
        }
    }

    struct Bad: Error {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// Reads RDATA that names must appear in uncompressed (RFC 3597 section 4).
    struct OctetReader {
        let bytes: [UInt8]
        var offset = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var remaining: Int { bytes.count - offset }
        var atEnd: Bool { offset == bytes.count }

        mutating func skip(_ n: Int) throws {
            guard n <= remaining else { throw Bad("ends early") }
            offset += n
        }

        mutating func take(_ n: Int) throws -> ArraySlice<UInt8> {
            let start = offset
            try skip(n)
            return bytes[start..<offset]
        }

        mutating func byte() throws -> UInt8 { try take(1).first! }

        mutating func uint16() throws -> UInt16 {
            let two = try take(2)
            return UInt16(two.first!) << 8 | UInt16(two.last!)
        }

        mutating func rest() { offset = bytes.count }

        mutating func some(_ what: String) throws {
            guard remaining > 0 else { throw Bad("has no \(what)") }
            rest()
        }

        /// A <character-string>: a length octet and that many octets.
        mutating func string() throws { try skip(Int(try byte())) }

        /// An uncompressed domain name of at most 255 octets.
        mutating func name() throws {
            var length = 0
            while true {
                let label = try byte()
                length += 1 + Int(label)
                guard label & 0xC0 == 0 else { throw Bad("has a compressed or malformed name") }
                guard length <= 255 else { throw Bad("has a name longer than 255 octets") }
                if label == 0 { return }
                try skip(Int(label))
            }
        }

        /// A type bitmap (RFC 4034 section 4.1.2): windows in increasing order, each of 1 to 32
        /// octets, the last octet of each not zero.
        mutating func typeBitmap() throws {
            var last: Int = -1
            while !atEnd {
                let window = Int(try byte())
                let length = Int(try byte())
                guard window > last else { throw Bad("has type bitmap windows out of order") }
                guard (1...32).contains(length) else { throw Bad("has a type bitmap window of \(length) octets") }
                let map = try take(length)
                guard map.last != 0 else { throw Bad("has a type bitmap window ending in a zero octet") }
                last = window
            }
        }
    }
}

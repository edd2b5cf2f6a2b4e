import NIOCore

/// The SOA record's fields (RFC 1035 section 3.3.13).
public struct SOA: Sendable, Hashable {
    /// RFC 1982 serial arithmetic: whether serial `a` comes before `b` (a zone at `a` is behind one at `b`).
    public static func serial(_ a: UInt32, isBefore b: UInt32) -> Bool { a != b && b &- a < 0x8000_0000 }

    /// The primary name server.
    public var mname: DNSName
    /// The mailbox of the person responsible, as a name.
    public var rname: DNSName
    /// The zone's version; secondaries transfer when it rises (RFC 1982 arithmetic).
    public var serial: UInt32
    /// Seconds between a secondary's checks of the serial.
    public var refresh: UInt32
    /// Seconds before a secondary retries a failed check.
    public var retry: UInt32
    /// Seconds after which a secondary that cannot check stops answering.
    public var expire: UInt32
    /// The TTL of negative answers (RFC 2308).
    public var minimum: UInt32

    /// An SOA with these fields.
    public init(
        mname: DNSName, rname: DNSName, serial: UInt32, refresh: UInt32, retry: UInt32, expire: UInt32,
        minimum: UInt32
    ) {
        self.mname = mname
        self.rname = rname
        self.serial = serial
        self.refresh = refresh
        self.retry = retry
        self.expire = expire
        self.minimum = minimum
    }
}

/// TXT RDATA: one or more character-strings of up to 255 octets, any octets allowed.
public struct TXT: Sendable, Hashable {
    /// The character-strings, each up to 255 octets.
    public var strings: [[UInt8]]

    /// TXT RDATA of these character-strings.
    public init(strings: [[UInt8]]) { self.strings = strings }

    /// Cuts `bytes` into as few character-strings as possible (one empty string for no bytes).
    public init<C: Collection>(splitting bytes: C) where C.Element == UInt8 {
        let all = Array(bytes)
        guard !all.isEmpty else {
            strings = [[]]
            return
        }
        strings = stride(from: 0, to: all.count, by: 255).map { Array(all[$0..<min($0 + 255, all.count)]) }
    }

    /// The UTF-8 of `text`, cut into character-strings.
    public init(_ text: String) { self.init(splitting: Array(text.utf8)) }

    /// The strings concatenated.
    public var joined: [UInt8] { strings.flatMap { $0 } }

    /// RDATA length of these strings.
    public var wireLength: Int { strings.reduce(0) { $0 + 1 + $1.count } }
}

/// Record data. Known types are parsed; any other type is kept as opaque octets and written
/// back unchanged (RFC 3597). `empty` is a zero RDLENGTH, which UPDATE uses for deletions and
/// prerequisites (RFC 2136 section 2.4).
public enum RData: Sendable, Hashable {
    case a(IPv4Address)
    case aaaa(IPv6Address)
    case ns(DNSName)
    case cname(DNSName)
    case ptr(DNSName)
    case mx(preference: UInt16, exchange: DNSName)
    case soa(SOA)
    case txt(TXT)
    case opaque([UInt8])
    case empty

    /// Decodes `length` octets of RDATA of `type` at the reader's position.
    static func decode(type: RRType, length: Int, from reader: inout WireReader) throws -> RData {
        guard length > 0 else { return .empty }
        let start = reader.offset
        guard reader.remaining >= length else { throw DNSWireError.truncated("\(type) RDATA") }
        let rdata: RData
        switch type {
        case .a:
            let b = try reader.readBytes(4, "A RDATA")
            rdata = .a(IPv4Address(b[0], b[1], b[2], b[3]))
        case .aaaa:
            rdata = .aaaa(try IPv6Address(bytes: try reader.readBytes(16, "AAAA RDATA")))
        case .ns:
            rdata = .ns(try reader.readName("NS RDATA"))
        case .cname:
            rdata = .cname(try reader.readName("CNAME RDATA"))
        case .ptr:
            rdata = .ptr(try reader.readName("PTR RDATA"))
        case .mx:
            let preference = try reader.readUInt16("MX preference")
            rdata = .mx(preference: preference, exchange: try reader.readName("MX exchange"))
        case .soa:
            let mname = try reader.readName("SOA MNAME")
            let rname = try reader.readName("SOA RNAME")
            rdata = .soa(
                SOA(
                    mname: mname, rname: rname, serial: try reader.readUInt32("SOA SERIAL"),
                    refresh: try reader.readUInt32("SOA REFRESH"), retry: try reader.readUInt32("SOA RETRY"),
                    expire: try reader.readUInt32("SOA EXPIRE"), minimum: try reader.readUInt32("SOA MINIMUM")))
        case .txt:
            var strings: [[UInt8]] = []
            while reader.offset - start < length {
                strings.append(try reader.readCharacterString("TXT character-string"))
            }
            rdata = .txt(TXT(strings: strings))
        default:
            rdata = .opaque(try reader.readBytes(length, "\(type) RDATA"))
        }
        let used = reader.offset - start
        guard used == length else {
            throw DNSWireError.rdataLengthMismatch(type: type, expected: length, actual: used)
        }
        return rdata
    }

    /// Writes the RDATA without its length. Names in NS, CNAME, PTR, MX and SOA may be compressed
    /// (RFC 3597 section 4 allows it for these types only).
    func encode(into writer: inout WireWriter) throws {
        switch self {
        case .a(let address): writer.writeBytes(address.array)
        case .aaaa(let address): writer.writeBytes(address.array)
        case .ns(let name), .cname(let name), .ptr(let name): writer.writeName(name)
        case .mx(let preference, let exchange):
            writer.writeUInt16(preference)
            writer.writeName(exchange)
        case .soa(let soa):
            writer.writeName(soa.mname)
            writer.writeName(soa.rname)
            writer.writeUInt32(soa.serial)
            writer.writeUInt32(soa.refresh)
            writer.writeUInt32(soa.retry)
            writer.writeUInt32(soa.expire)
            writer.writeUInt32(soa.minimum)
        case .txt(let txt):
            for string in txt.strings { try writer.writeCharacterString(string) }
        case .opaque(let bytes): writer.writeBytes(bytes)
        case .empty: break
        }
    }

    /// The RDATA in canonical form (uncompressed, names lower-cased where RFC 4034 says so),
    /// for comparing records as servers do.
    public var canonicalWire: [UInt8] {
        var writer = WireWriter()
        writer.compression = false
        let canonical: RData
        switch self {
        case .ns(let n): canonical = .ns(n.lowercased)
        case .cname(let n): canonical = .cname(n.lowercased)
        case .ptr(let n): canonical = .ptr(n.lowercased)
        case .mx(let p, let n): canonical = .mx(preference: p, exchange: n.lowercased)
        case .soa(var soa):
            soa.mname = soa.mname.lowercased
            soa.rname = soa.rname.lowercased
            canonical = .soa(soa)
        default: canonical = self
        }
        // Only TXT strings over 255 octets can fail, and those were already rejected or never built.
        try? canonical.encode(into: &writer)
        return Array(writer.buffer.readableBytesView)
    }
}

extension RData {
    /// The RDATA in wire form without compression, original case kept: what storage keeps.
    public var uncompressedWire: [UInt8] {
        var writer = WireWriter()
        writer.compression = false
        try? encode(into: &writer)
        return Array(writer.buffer.readableBytesView)
    }

    /// Decodes RDATA of `type` from uncompressed wire octets.
    public static func decode(type: RRType, wire: [UInt8]) throws -> RData {
        try WireReader.reading(wire) { reader in try decode(type: type, length: wire.count, from: &reader) }
    }
}

/// A question: the name, type and class asked about. In UPDATE it names the zone.
public struct Question: Sendable, Hashable, CustomStringConvertible {
    /// The name asked about.
    public var name: DNSName
    /// The TYPE.
    public var type: RRType
    /// The CLASS (IN, or NONE and ANY in UPDATE).
    public var `class`: DNSClass

    /// A question for `name` and `type`.
    public init(name: DNSName, type: RRType, class: DNSClass = .in) {
        self.name = name
        self.type = type
        self.class = `class`
    }

    /// Name, class and type as zone files write them.
    public var description: String { "\(name) \(`class`) \(type)" }
}

/// A resource record. In UPDATE, class NONE or ANY and empty RDATA carry the meanings
/// RFC 2136 gives them; `UpdateBuilder` writes those forms.
public struct ResourceRecord: Sendable, Hashable, CustomStringConvertible {
    /// The owner name.
    public var name: DNSName
    /// The TYPE.
    public var type: RRType
    /// The CLASS (IN, or NONE and ANY in UPDATE).
    public var `class`: DNSClass
    /// Seconds the record may be cached.
    public var ttl: UInt32
    /// The record's data.
    public var rdata: RData

    /// A record with these fields.
    public init(name: DNSName, type: RRType, class: DNSClass = .in, ttl: UInt32, rdata: RData) {
        self.name = name
        self.type = type
        self.class = `class`
        self.ttl = ttl
        self.rdata = rdata
    }

    /// A TXT record holding `txt`.
    public static func txt(_ name: DNSName, _ txt: TXT, ttl: UInt32 = 300) -> ResourceRecord {
        ResourceRecord(name: name, type: .txt, ttl: ttl, rdata: .txt(txt))
    }

    /// The record as a zone file line.
    public var description: String { "\(name) \(ttl) \(`class`) \(type) \(rdata.presentation)" }

    func encode(into writer: inout WireWriter) throws {
        writer.writeName(name)
        writer.writeUInt16(type.rawValue)
        writer.writeUInt16(`class`.rawValue)
        writer.writeUInt32(ttl)
        let lengthAt = writer.offset
        writer.writeUInt16(0)
        try rdata.encode(into: &writer)
        let length = writer.offset - lengthAt - 2
        guard length <= 0xFFFF else { throw DNSWireError.rdataTooLong(length) }
        writer.setUInt16(UInt16(length), at: lengthAt)
    }
}

extension RData {
    /// Presentation form, as a master file or dig shows it.
    public var presentation: String {
        switch self {
        case .a(let a): return a.description
        case .aaaa(let a): return a.description
        case .ns(let n), .cname(let n), .ptr(let n): return n.description
        case .mx(let p, let n): return "\(p) \(n)"
        case .soa(let s):
            return "\(s.mname) \(s.rname) \(s.serial) \(s.refresh) \(s.retry) \(s.expire) \(s.minimum)"
        case .txt(let t): return t.strings.map(Self.quoted).joined(separator: " ")
        case .opaque(let bytes):
            return "\\# \(bytes.count)" + (bytes.isEmpty ? "" : " " + bytes.map { hex($0) }.joined())
        case .empty: return ""
        }
    }

    private func hex(_ b: UInt8) -> String {
        let s = String(b, radix: 16, uppercase: true)
        return s.count == 1 ? "0" + s : s
    }

    /// A character-string in quotes with `\"`, `\\` and `\DDD` escapes, as dig prints it.
    static func quoted(_ bytes: [UInt8]) -> String {
        var out = "\""
        for b in bytes {
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append("\\")
                out.append(Character(Unicode.Scalar(b)))
            case 0x20...0x7E:
                out.append(Character(Unicode.Scalar(b)))
            default:
                let d = String(b)
                out.append("\\" + String(repeating: "0", count: 3 - d.count) + d)
            }
        }
        return out + "\""
    }
}

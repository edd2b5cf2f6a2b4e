/// A resource record TYPE (RFC 1035 section 3.2.2, RFC 3597 for the ones without a name).
public struct RRType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The value on the wire.
    public var rawValue: UInt16
    /// The code with this value on the wire.
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// The code with this value on the wire.
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    /// A (1): an IPv4 address.
    public static let a = RRType(1)
    /// NS (2): a name server.
    public static let ns = RRType(2)
    /// CNAME (5): an alias.
    public static let cname = RRType(5)
    /// SOA (6): the start of a zone's authority.
    public static let soa = RRType(6)
    /// PTR (12): a pointer to a name.
    public static let ptr = RRType(12)
    /// MX (15): a mail exchange.
    public static let mx = RRType(15)
    /// TXT (16): character-strings, where the store keeps its data.
    public static let txt = RRType(16)
    /// AAAA (28): an IPv6 address.
    public static let aaaa = RRType(28)
    /// DNAME (39): a redirection of the whole subtree below its owner (RFC 6672); its RDATA is
    /// kept as opaque octets.
    public static let dname = RRType(39)
    /// OPT (41): the EDNS(0) pseudo-record.
    public static let opt = RRType(41)
    /// TSIG (250): a transaction signature.
    public static let tsig = RRType(250)
    /// IXFR (251): an incremental zone transfer (question only).
    public static let ixfr = RRType(251)
    /// AXFR (252): a full zone transfer (question only).
    public static let axfr = RRType(252)
    /// ANY (question only; in UPDATE, every type) (255).
    public static let any = RRType(255)

    private static let names: [(RRType, String)] = [
        (.a, "A"), (.ns, "NS"), (.cname, "CNAME"), (.soa, "SOA"), (.ptr, "PTR"), (.mx, "MX"),
        (.txt, "TXT"), (.aaaa, "AAAA"), (.dname, "DNAME"), (.opt, "OPT"), (.tsig, "TSIG"), (.ixfr, "IXFR"),
        (.axfr, "AXFR"), (.any, "ANY"),
    ]

    /// Mnemonic, or `TYPEnnn` (RFC 3597) for types without one here.
    public var description: String {
        Self.names.first { $0.0 == self }?.1 ?? "TYPE\(rawValue)"
    }

    /// Parses a mnemonic or the RFC 3597 `TYPEnnn` form, case-insensitively.
    public init?(mnemonic: String) {
        let upper = mnemonic.uppercased()
        if let known = Self.names.first(where: { $0.1 == upper }) {
            self = known.0
        } else if upper.hasPrefix("TYPE"), let value = UInt16(upper.dropFirst(4)) {
            self.init(value)
        } else {
            return nil
        }
    }
}

/// A resource record CLASS; NONE and ANY carry meaning in UPDATE (RFC 2136 section 2.4).
public struct DNSClass: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The value on the wire.
    public var rawValue: UInt16
    /// The code with this value on the wire.
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// The code with this value on the wire.
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    /// IN (1): the Internet.
    public static let `in` = DNSClass(1)
    /// CH (3): Chaos.
    public static let ch = DNSClass(3)
    /// HS (4): Hesiod.
    public static let hs = DNSClass(4)
    /// NONE (254): in UPDATE, delete a record or require an RRset absent.
    public static let none = DNSClass(254)
    /// ANY (255): in UPDATE, delete an RRset or require it present.
    public static let any = DNSClass(255)

    /// The mnemonic, or the number when it has none.
    public var description: String {
        switch self {
        case .in: return "IN"
        case .ch: return "CH"
        case .hs: return "HS"
        case .none: return "NONE"
        case .any: return "ANY"
        default: return "CLASS\(rawValue)"
        }
    }
}

/// A response code, 12 bits when EDNS0 extends the header's four (RFC 6891), 16 in TSIG's error field (RFC 8945).
public struct ResponseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The value on the wire.
    public var rawValue: UInt16
    /// The code with this value on the wire.
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// The code with this value on the wire.
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    /// NOERROR (0): no error.
    public static let noError = ResponseCode(0)
    /// FORMERR (1): the request could not be parsed.
    public static let formErr = ResponseCode(1)
    /// SERVFAIL (2): the server failed.
    public static let servFail = ResponseCode(2)
    /// NXDOMAIN (3): the name does not exist.
    public static let nxDomain = ResponseCode(3)
    /// NOTIMP (4): the opcode is not implemented.
    public static let notImp = ResponseCode(4)
    /// REFUSED (5): the server will not do it.
    public static let refused = ResponseCode(5)
    /// YXDOMAIN (6): a name exists that should not (UPDATE prerequisite).
    public static let yxDomain = ResponseCode(6)
    /// YXRRSET (7): an RRset exists that should not (UPDATE prerequisite).
    public static let yxRRSet = ResponseCode(7)
    /// NXRRSET (8): an RRset does not exist, or differs, that should (UPDATE prerequisite).
    public static let nxRRSet = ResponseCode(8)
    /// NOTAUTH (9): not authoritative for the zone, or the TSIG failed.
    public static let notAuth = ResponseCode(9)
    /// NOTZONE (10): a name outside the zone.
    public static let notZone = ResponseCode(10)
    /// DSOTYPENI (11): DSO type not implemented.
    public static let dsoTypeNI = ResponseCode(11)
    /// BADVERS in OPT, BADSIG in TSIG: the two share the value 16.
    public static let badVers = ResponseCode(16)
    /// BADSIG (16): the TSIG MAC did not verify.
    public static let badSig = ResponseCode(16)
    /// BADKEY (17): the TSIG key is not known.
    public static let badKey = ResponseCode(17)
    /// BADTIME (18): the TSIG time is outside the fudge.
    public static let badTime = ResponseCode(18)
    /// BADMODE (19): bad TKEY mode.
    public static let badMode = ResponseCode(19)
    /// BADNAME (20): duplicate key name.
    public static let badName = ResponseCode(20)
    /// BADALG (21): algorithm not supported.
    public static let badAlg = ResponseCode(21)
    /// BADTRUNC (22): a truncated MAC shorter than allowed.
    public static let badTrunc = ResponseCode(22)
    /// BADCOOKIE (23): bad or missing server cookie.
    public static let badCookie = ResponseCode(23)

    /// The mnemonic, or the number when it has none.
    public var description: String {
        switch rawValue {
        case 0: return "NOERROR"
        case 1: return "FORMERR"
        case 2: return "SERVFAIL"
        case 3: return "NXDOMAIN"
        case 4: return "NOTIMP"
        case 5: return "REFUSED"
        case 6: return "YXDOMAIN"
        case 7: return "YXRRSET"
        case 8: return "NXRRSET"
        case 9: return "NOTAUTH"
        case 10: return "NOTZONE"
        case 11: return "DSOTYPENI"
        case 16: return "BADVERS/BADSIG"
        case 17: return "BADKEY"
        case 18: return "BADTIME"
        case 19: return "BADMODE"
        case 20: return "BADNAME"
        case 21: return "BADALG"
        case 22: return "BADTRUNC"
        case 23: return "BADCOOKIE"
        default: return "RCODE\(rawValue)"
        }
    }
}

/// The kind of a message (RFC 1035, RFC 1996, RFC 2136).
public struct Opcode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The value on the wire.
    public var rawValue: UInt8
    /// The code with this value on the wire.
    public init(rawValue: UInt8) { self.rawValue = rawValue & 0x0F }
    /// The code with this value on the wire.
    public init(_ rawValue: UInt8) { self.init(rawValue: rawValue) }

    /// A standard query (0).
    public static let query = Opcode(0)
    /// An inverse query (obsolete) (1).
    public static let iquery = Opcode(1)
    /// A server status request (2).
    public static let status = Opcode(2)
    /// A NOTIFY (RFC 1996) (4).
    public static let notify = Opcode(4)
    /// A dynamic UPDATE (RFC 2136) (5).
    public static let update = Opcode(5)

    /// The mnemonic, or the number when it has none.
    public var description: String {
        switch rawValue {
        case 0: return "QUERY"
        case 1: return "IQUERY"
        case 2: return "STATUS"
        case 4: return "NOTIFY"
        case 5: return "UPDATE"
        default: return "OPCODE\(rawValue)"
        }
    }
}

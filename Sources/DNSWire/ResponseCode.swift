/// A response code, 12 bits when EDNS0 extends the header's four (RFC 6891), 16 in TSIG's error field (RFC 8945).
public struct ResponseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    public static let noError = ResponseCode(0)
    public static let formErr = ResponseCode(1)
    public static let servFail = ResponseCode(2)
    public static let nxDomain = ResponseCode(3)
    public static let notImp = ResponseCode(4)
    public static let refused = ResponseCode(5)
    public static let yxDomain = ResponseCode(6)
    public static let yxRRSet = ResponseCode(7)
    public static let nxRRSet = ResponseCode(8)
    public static let notAuth = ResponseCode(9)
    public static let notZone = ResponseCode(10)
    public static let dsoTypeNI = ResponseCode(11)
    /// BADVERS in OPT, BADSIG in TSIG: the two share the value 16.
    public static let badVers = ResponseCode(16)
    public static let badSig = ResponseCode(16)
    public static let badKey = ResponseCode(17)
    public static let badTime = ResponseCode(18)
    public static let badMode = ResponseCode(19)
    public static let badName = ResponseCode(20)
    public static let badAlg = ResponseCode(21)
    public static let badTrunc = ResponseCode(22)
    public static let badCookie = ResponseCode(23)

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
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue & 0x0F }
    public init(_ rawValue: UInt8) { self.init(rawValue: rawValue) }

    public static let query = Opcode(0)
    public static let iquery = Opcode(1)
    public static let status = Opcode(2)
    public static let notify = Opcode(4)
    public static let update = Opcode(5)

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

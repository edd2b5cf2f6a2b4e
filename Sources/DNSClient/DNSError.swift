import DNSWire

/// What can go wrong asking a DNS server: its answer's RCODE, TSIG, or the transport.
public enum DNSError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The name does not exist (NXDOMAIN).
    case nxDomain
    /// An RRset that a prerequisite required does not exist, or differs (NXRRSET).
    case nxRRSet
    /// An RRset that a prerequisite required absent exists (YXRRSET).
    case yxRRSet
    /// A name that a prerequisite required unused is in use (YXDOMAIN).
    case yxDomain
    /// The server is not authoritative for the zone, or the request is not authorized (NOTAUTH).
    case notAuth
    /// A name in the update lies outside the zone (NOTZONE).
    case notZone
    /// The server refused: policy, or a missing key (REFUSED).
    case refused
    /// The server failed (SERVFAIL).
    case serverFailure
    /// The server could not parse the request (FORMERR).
    case formatError
    /// The server does not implement the request (NOTIMP).
    case notImplemented
    /// Any other RCODE.
    case otherResponse(ResponseCode)
    /// A TSIG failure, reported by the server or found checking its answer.
    case tsig(TSIGError)
    /// No answer within the time allowed, after every retry.
    case timeout
    /// An UPDATE went out and no answer came (a timeout, or the connection closed after it was
    /// written): the server may have applied it. Read what it would have changed before retrying.
    case unanswered(String)
    /// The connection could not be made or broke.
    case connection(String)
    /// The answer could not be decoded.
    case malformedResponse(DNSWireError)
    /// A zone transfer ended without the closing SOA.
    case incompleteTransfer(String)

    /// The error for a response's RCODE, nil for NOERROR.
    public init?(rcode: ResponseCode) {
        switch rcode {
        case .noError: return nil
        case .nxDomain: self = .nxDomain
        case .nxRRSet: self = .nxRRSet
        case .yxRRSet: self = .yxRRSet
        case .yxDomain: self = .yxDomain
        case .notAuth: self = .notAuth
        case .notZone: self = .notZone
        case .refused: self = .refused
        case .servFail: self = .serverFailure
        case .formErr: self = .formatError
        case .notImp: self = .notImplemented
        default: self = .otherResponse(rcode)
        }
    }

    /// What failed, with the server's RCODE or the cause.
    public var description: String {
        switch self {
        case .nxDomain: return "the name does not exist (NXDOMAIN)"
        case .nxRRSet: return "a required RRset does not exist or differs (NXRRSET)"
        case .yxRRSet: return "an RRset required absent exists (YXRRSET)"
        case .yxDomain: return "a name required unused is in use (YXDOMAIN)"
        case .notAuth: return "the server is not authoritative or the request is not authorized (NOTAUTH)"
        case .notZone: return "a name lies outside the zone (NOTZONE)"
        case .refused: return "the server refused the request (REFUSED)"
        case .serverFailure: return "the server failed (SERVFAIL)"
        case .formatError: return "the server could not parse the request (FORMERR)"
        case .notImplemented: return "the server does not implement the request (NOTIMP)"
        case .otherResponse(let code): return "the server answered \(code)"
        case .tsig(let error): return error.description
        case .timeout: return "no answer from the server in time"
        case .unanswered(let why): return "the UPDATE was sent and no answer came (\(why)): it may have been applied"
        case .connection(let why): return "connection failed: \(why)"
        case .malformedResponse(let error): return "malformed response: \(error)"
        case .incompleteTransfer(let why): return "incomplete zone transfer: \(why)"
        }
    }
}

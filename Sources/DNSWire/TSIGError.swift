/// TSIG failures (RFC 8945). Those the peer reported in its TSIG error field are told apart
/// from those found while checking the peer's own signature.
public enum TSIGError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The server could not verify our MAC (BADSIG): usually a wrong secret.
    case badSignature
    /// The server does not know our key or its algorithm (BADKEY).
    case badKey
    /// The server found our time outside the fudge window (BADTIME): clocks disagree.
    case badTime
    /// The server refused a truncated MAC (BADTRUNC).
    case badTruncation
    /// The response carried no TSIG although the request was signed.
    case responseNotSigned
    /// The response was signed with a key or algorithm other than the request's.
    case responseKeyMismatch(DNSName)
    /// The response's MAC did not verify with our key.
    case responseSignatureInvalid
    /// The response's signing time is outside its fudge window.
    case responseTimeOutOfRange(signed: UInt64, now: UInt64)
    /// The response's MAC is longer than the algorithm's, or shorter than RFC 8945 allows.
    case responseMACSize(Int)
    /// More than 99 unsigned messages in a row in a multi-message answer (RFC 8945 section 5.3.1).
    case tooManyUnsignedMessages
    /// The peer reported some other TSIG error.
    case otherError(ResponseCode)

    /// Maps the TSIG error field of a response to the error the caller sees.
    public init?(reported code: ResponseCode) {
        switch code {
        case .noError: return nil
        case .badSig: self = .badSignature
        case .badKey: self = .badKey
        case .badTime: self = .badTime
        case .badTrunc: self = .badTruncation
        default: self = .otherError(code)
        }
    }

    /// What is wrong, in words.
    public var description: String {
        switch self {
        case .badSignature: return "the server rejected the request's TSIG signature (BADSIG): check the key's secret"
        case .badKey: return "the server does not know the TSIG key or its algorithm (BADKEY): check the key name"
        case .badTime: return "the server rejected the TSIG time (BADTIME): check the clocks"
        case .badTruncation: return "the server rejected a truncated TSIG MAC (BADTRUNC)"
        case .responseNotSigned: return "the response to a signed request carries no TSIG"
        case .responseKeyMismatch(let key): return "the response is signed with another key (\(key))"
        case .responseSignatureInvalid: return "the response's TSIG MAC does not verify"
        case .responseTimeOutOfRange(let signed, let now):
            return "the response was signed at \(signed), outside the fudge window around \(now)"
        case .responseMACSize(let n): return "the response's TSIG MAC of \(n) octets has a size RFC 8945 forbids"
        case .tooManyUnsignedMessages: return "more than 99 unsigned messages in a row"
        case .otherError(let code): return "the server reported TSIG error \(code)"
        }
    }
}

/// A TSIG key that cannot be used: a key file or key text that does not parse, or an algorithm
/// this implementation refuses. Apart from `TSIGError`, which is about messages.
public enum TSIGKeyError: Error, Sendable, Hashable, CustomStringConvertible {
    case unsupportedAlgorithm(String)
    case invalid(String)

    /// What is wrong, in words.
    public var description: String {
        switch self {
        case .unsupportedAlgorithm: return reason
        case .invalid: return "invalid TSIG key: \(reason)"
        }
    }

    /// What is wrong, without the kind of error before it.
    public var reason: String {
        switch self {
        case .unsupportedAlgorithm(let name): return "unsupported TSIG algorithm \(name)"
        case .invalid(let why): return why
        }
    }
}

/// Why a DNS message or one of its parts could not be decoded or encoded.
///
/// Decoding never traps: every malformed input ends in one of these.
public enum DNSWireError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The input ended inside the named field.
    case truncated(String)
    /// A compression pointer pointed at or after itself, or after the start of its segment.
    case forwardPointer(offset: Int)
    /// A name followed more compression pointers than any valid name needs.
    case tooManyPointers
    /// A label was longer than 63 octets.
    case labelTooLong(Int)
    /// A name was longer than 255 octets in wire form.
    case nameTooLong(Int)
    /// A label started with the reserved bits 01 or 10.
    case badLabelType(UInt8)
    /// An empty label inside a name (as in `a..b`).
    case emptyLabel
    /// A presentation-form name or value that could not be parsed.
    case badPresentation(String)
    /// RDATA did not fill exactly its RDLENGTH.
    case rdataLengthMismatch(type: RRType, expected: Int, actual: Int)
    /// A section count promised more records than the message holds.
    case countExceedsMessage(section: String, count: Int)
    /// Bytes were left after the last record.
    case trailingBytes(Int)
    /// A TXT character-string was longer than 255 octets.
    case characterStringTooLong(Int)
    /// RDATA was longer than 65,535 octets.
    case rdataTooLong(Int)
    /// The encoded message exceeded the limit it was encoded for.
    case messageTooLarge(size: Int, limit: Int)
    /// An OPT record out of place (not in the additional section, not owned by the root, or twice).
    case badOPT(String)
    /// A TSIG record out of place (not last in the additional section, or twice).
    case badTSIGPlacement
    /// An extended RCODE needs EDNS0, which the message does not carry.
    case extendedRCodeWithoutEDNS(UInt16)

    /// What is wrong, in words.
    public var description: String {
        switch self {
        case .truncated(let field): return "message truncated inside \(field)"
        case .forwardPointer(let offset): return "compression pointer to offset \(offset) does not point backwards"
        case .tooManyPointers: return "name follows too many compression pointers"
        case .labelTooLong(let n): return "label of \(n) octets is longer than 63"
        case .nameTooLong(let n): return "name of \(n) octets is longer than 255"
        case .badLabelType(let b): return "reserved label type 0x\(String(b, radix: 16))"
        case .emptyLabel: return "empty label inside a name"
        case .badPresentation(let s): return "cannot parse \(s)"
        case .rdataLengthMismatch(let type, let expected, let actual):
            return "\(type) RDATA is \(expected) octets but its fields take \(actual)"
        case .countExceedsMessage(let section, let count):
            return "\(section) count \(count) is larger than the message can hold"
        case .trailingBytes(let n): return "\(n) bytes after the last record"
        case .characterStringTooLong(let n): return "character-string of \(n) octets is longer than 255"
        case .rdataTooLong(let n): return "RDATA of \(n) octets is longer than 65535"
        case .messageTooLarge(let size, let limit): return "message of \(size) octets exceeds the limit of \(limit)"
        case .badOPT(let why): return "bad OPT record: \(why)"
        case .badTSIGPlacement: return "TSIG record is not the last record of the additional section"
        case .extendedRCodeWithoutEDNS(let code): return "RCODE \(code) needs EDNS0"
        }
    }
}

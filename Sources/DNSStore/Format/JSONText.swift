/// JSON text read strictly (RFC 8259, with I-JSON's rules from RFC 7493: member names unique
/// within an object, no unpaired surrogates), without building values. The store keeps a
/// document as the JSON text it was given minus insignificant whitespace, so that the same
/// document is always the same octets, whichever command or API wrote it, and member order and
/// number spelling are kept exactly.
public enum JSONText {
    /// Why octets are not JSON text, and where.
    public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
        /// What is wrong.
        public var reason: String
        /// Zero-based octet offset of the problem.
        public var offset: Int
        /// One-based line of the problem.
        public var line: Int
        /// One-based column of the problem, in octets.
        public var column: Int

        /// The reason and where.
        public var description: String { "\(reason) at line \(line), column \(column)" }
    }

    /// Containers nested deeper than this are refused: no document needs it, and it bounds the work.
    public static let maxDepth = 512

    /// The text without insignificant whitespace; throws if it is not one strict JSON value.
    public static func compact(_ bytes: [UInt8]) throws(SyntaxError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        try Scanner.scan(bytes) { token, range, _ in
            _ = token
            out.append(contentsOf: bytes[range])
        }
        return out
    }

    /// Whether the octets are one strict JSON value.
    public static func isValid(_ bytes: [UInt8]) -> Bool {
        (try? Scanner.scan(bytes) { _, _, _ in }) != nil
    }

    /// Throws why the octets are not one strict JSON value.
    public static func validate(_ bytes: [UInt8]) throws(SyntaxError) {
        try Scanner.scan(bytes) { _, _, _ in }
    }

    /// The text indented by `indent` spaces per level, member order and spelling kept; nil if it is not JSON.
    public static func pretty(_ bytes: [UInt8], indent: Int = 2) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        var afterOpen = false
        func newline(_ depth: Int) {
            out.append(0x0A)
            out.append(contentsOf: repeatElement(0x20, count: depth * indent))
        }
        do {
            try Scanner.scan(bytes) { token, range, depth in
                switch token {
                case .open:
                    if afterOpen { newline(depth) }
                    out.append(contentsOf: bytes[range])
                    afterOpen = true
                case .close:
                    if !afterOpen { newline(depth) }
                    out.append(contentsOf: bytes[range])
                    afterOpen = false
                case .comma:
                    out.append(0x2C)
                    newline(depth)
                case .colon:
                    out.append(contentsOf: [0x3A, 0x20])
                case .scalar:
                    if afterOpen { newline(depth) }
                    out.append(contentsOf: bytes[range])
                    afterOpen = false
                }
            }
        } catch {
            return nil
        }
        return out
    }

    /// The value of a JSON string token (quotes included), escapes decoded; nil if it is not one.
    public static func stringValue(_ token: ArraySlice<UInt8>) -> String? {
        guard token.first == UInt8(ascii: "\""), (try? Scanner.scan(Array(token)) { _, _, _ in }) != nil else { return nil }
        return Scanner.decodeString(token)
    }

    /// The members of a JSON object at the top level: each name and the octet range of its value.
    public static func members(ofObject bytes: [UInt8]) throws(SyntaxError) -> [(name: String, value: Range<Int>)] {
        var members: [(name: String, value: Range<Int>)] = []
        var pendingName: String?
        var valueStart: Int?
        var isObject = false
        try Scanner.scan(bytes) { token, range, depth in
            switch (token, depth) {
            case (.open, 0):
                isObject = bytes[range.lowerBound] == UInt8(ascii: "{")
            case (.scalar, 1) where pendingName == nil && isObject:
                pendingName = Scanner.decodeString(bytes[range])
            case (.colon, 1):
                break
            case (.scalar, 1):
                if let name = pendingName { members.append((name, range)) }
                pendingName = nil
            case (.open, 1):
                valueStart = range.lowerBound
            case (.close, 1):
                if let name = pendingName, let start = valueStart { members.append((name, start..<range.upperBound)) }
                pendingName = nil
                valueStart = nil
            default:
                break
            }
        }
        guard isObject else {
            throw SyntaxError(reason: "expected a JSON object", offset: 0, line: 1, column: 1)
        }
        return members
    }
}

extension JSONText {
    /// `text` as a JSON string: quotes, backslashes and control characters escaped, the rest as is.
    public static func string(_ text: String) -> [UInt8] {
        var out: [UInt8] = [0x22]
        for c in text.utf8 {
            switch c {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x00..<0x20: out += Array("\\u\(unicodeHex(c))".utf8)
            default: out.append(c)
            }
        }
        out.append(0x22)
        return out
    }
}

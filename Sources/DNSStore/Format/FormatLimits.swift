/// The bounds docs/FORMAT.md puts on every number and name a reader takes from a record, an
/// index page or metadata. A reader checks each value against them when it parses it, so that no
/// record, however hostile, makes it allocate, loop or trap beyond what the format allows.
enum FormatLimits {
    /// `chunks.total` of the root, a database or a collection (section 3.1).
    static let maxChunks = 4096
    /// `"pages"` of one index chunk (section 3.2): far above what any zone holds.
    static let maxPages = 10_000
    /// Versions and floors: JSON integers every reader's numbers hold exactly (2^53 - 1).
    static let maxVersion = 9_007_199_254_740_991
    /// Octets in a database, collection or document name, and in a stored id (section 2).
    static let maxNameOctets = 255
    /// Stored octets of one document: the largest document plus AES-GCM's nonce and tag
    /// (compression is used only when it shrinks the document).
    static let maxStoredOctets = RecordText.maxDocument + 28
    /// Data chunks of one document: the most stored octets in chunks of the smallest size.
    static let maxDataChunks = (maxStoredOctets + RecordText.minDataChunkSize - 1) / RecordText.minDataChunkSize

    /// Whether `text` is a name the format allows: 1 to 255 octets of UTF-8 without NUL.
    static func isName(_ text: String) -> Bool {
        let count = text.utf8.count
        return count >= 1 && count <= maxNameOctets && !text.utf8.contains(0)
    }

    /// Whether `text` is `count` lower-case hex digits (generations, key ids).
    static func isLowerHex(_ text: String, count: Int) -> Bool {
        text.utf8.count == count && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}

extension JSONText {
    /// The value of a JSON integer token written as writers write one: an optional minus and
    /// digits without leading zeros, no fraction or exponent, within 16 digits; nil otherwise.
    static func integer(_ token: ArraySlice<UInt8>) -> Int? {
        var digits = token[...]
        let negative = digits.first == UInt8(ascii: "-")
        if negative { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.count <= 16, digits.allSatisfy(Scanner.isDigit),
            !(digits.count > 1 && digits.first == UInt8(ascii: "0"))
        else { return nil }
        let value = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        return negative ? -value : value
    }

    /// The value of a JSON string token (quotes included); nil if the token is not a string.
    /// The token must come from a text the scanner accepted.
    static func string(token: ArraySlice<UInt8>) -> String? {
        guard token.first == UInt8(ascii: "\"") else { return nil }
        return Scanner.decodeString(token)
    }
}

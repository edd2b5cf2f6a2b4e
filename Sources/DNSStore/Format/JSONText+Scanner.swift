extension JSONText {
    enum Token {
        /// `{` or `[`.
        case open
        /// `}` or `]`.
        case close
        case comma
        case colon
        /// A string, number, true, false or null.
        case scalar
    }

    /// A single pass over the octets that checks the grammar and reports each token with its
    /// range and depth (the depth of a container's own brackets is that of the container).
    struct Scanner {
        let bytes: [UInt8]
        var i = 0

        private enum Container {
            case object(names: Set<[UInt8]>)
            case array
        }

        private enum Expect {
            /// A value (at the top, after `[`, `:` or a comma in an array).
            case value
            /// A value or `]` right after `[`.
            case valueOrEnd
            /// A member name or `}` right after `{`.
            case nameOrEnd
            /// A member name after a comma.
            case name
            case colon
            /// A comma or the container's end, after a value.
            case commaOrEnd
            /// Nothing more: the top-level value is complete.
            case done
        }

        static func scan(_ bytes: [UInt8], _ visit: (Token, Range<Int>, Int) -> Void) throws(SyntaxError) {
            var scanner = Scanner(bytes: bytes)
            try scanner.run(visit)
        }

        func fail(_ reason: String, at offset: Int) -> SyntaxError {
            var line = 1
            var lineStart = 0
            for index in 0..<min(offset, bytes.count) where bytes[index] == 0x0A {
                line += 1
                lineStart = index + 1
            }
            return SyntaxError(reason: reason, offset: offset, line: line, column: offset - lineStart + 1)
        }

        private mutating func run(_ visit: (Token, Range<Int>, Int) -> Void) throws(SyntaxError) {
            if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
                throw fail("the text starts with a UTF-8 byte-order mark, which JSON text must not have", at: 0)
            }
            var stack: [Container] = []
            var expect = Expect.value
            while true {
                skipWhitespace()
                guard i < bytes.count else {
                    guard expect == .done else {
                        throw fail(bytes.allSatisfy(Self.isWhitespace) ? "no JSON value (the text is empty)" : "unexpected end of the text", at: i)
                    }
                    return
                }
                let start = i
                let c = bytes[i]
                if expect == .done {
                    throw fail("text after the JSON value: \(Self.show(c))", at: i)
                }
                switch c {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard expect == .value || expect == .valueOrEnd else { throw unexpected(c, expect) }
                    guard stack.count < JSONText.maxDepth else {
                        throw fail("containers nest deeper than \(JSONText.maxDepth) levels", at: i)
                    }
                    i += 1
                    visit(.open, start..<i, stack.count)
                    stack.append(c == UInt8(ascii: "{") ? .object(names: []) : .array)
                    expect = c == UInt8(ascii: "{") ? .nameOrEnd : .valueOrEnd
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    let isObject = c == UInt8(ascii: "}")
                    let closes: Bool
                    let afterComma: Bool
                    switch stack.last {
                    case .object?:
                        closes = isObject && (expect == .nameOrEnd || expect == .commaOrEnd)
                        afterComma = isObject && expect == .name
                    case .array?:
                        closes = !isObject && (expect == .valueOrEnd || expect == .commaOrEnd)
                        afterComma = !isObject && expect == .value
                    case nil:
                        closes = false
                        afterComma = false
                    }
                    if afterComma {
                        throw fail("a comma before \(Self.show(c)) (trailing commas are not JSON)", at: i)
                    }
                    guard closes else { throw unexpected(c, expect) }
                    stack.removeLast()
                    i += 1
                    visit(.close, start..<i, stack.count)
                    expect = stack.isEmpty ? .done : .commaOrEnd
                case UInt8(ascii: ","):
                    guard expect == .commaOrEnd else { throw unexpected(c, expect) }
                    i += 1
                    visit(.comma, start..<i, stack.count)
                    if case .object? = stack.last { expect = .name } else { expect = .value }
                case UInt8(ascii: ":"):
                    guard expect == .colon else { throw unexpected(c, expect) }
                    i += 1
                    visit(.colon, start..<i, stack.count)
                    expect = .value
                case UInt8(ascii: "\""):
                    let decoded = try scanString()
                    if expect == .name || expect == .nameOrEnd {
                        guard case .object(var names)? = stack.last else { throw unexpected(c, expect) }
                        let name = decoded ?? Array(bytes[(start + 1)..<(i - 1)])
                        guard names.insert(name).inserted else {
                            throw fail("the member name \"\(String(decoding: name, as: UTF8.self))\" appears twice in one object", at: start)
                        }
                        stack[stack.count - 1] = .object(names: names)
                        visit(.scalar, start..<i, stack.count)
                        expect = .colon
                    } else {
                        guard expect == .value || expect == .valueOrEnd else { throw unexpected(c, expect) }
                        visit(.scalar, start..<i, stack.count)
                        expect = stack.isEmpty ? .done : .commaOrEnd
                    }
                default:
                    guard expect == .value || expect == .valueOrEnd else { throw unexpected(c, expect) }
                    if c == UInt8(ascii: "-") || Self.isDigit(c) {
                        try scanNumber()
                    } else {
                        try scanLiteral()
                    }
                    visit(.scalar, start..<i, stack.count)
                    expect = stack.isEmpty ? .done : .commaOrEnd
                }
            }
        }

        private func unexpected(_ c: UInt8, _ expect: Expect) -> SyntaxError {
            let wanted: String
            switch expect {
            case .value, .valueOrEnd: wanted = "a value"
            case .nameOrEnd, .name: wanted = "a member name in double quotes"
            case .colon: wanted = "':' after the member name"
            case .commaOrEnd: wanted = "',' or the end of the container"
            case .done: wanted = "the end of the text"
            }
            return fail("expected \(wanted), found \(Self.show(c))", at: i)
        }

        static func show(_ c: UInt8) -> String {
            if c == UInt8(ascii: "'") { return "a single quote (strings need double quotes)" }
            return (0x21...0x7E).contains(c) ? "'\(Character(Unicode.Scalar(c)))'" : "the octet 0x\(String(c, radix: 16))"
        }

        static func isWhitespace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }
        static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

        private mutating func skipWhitespace() {
            while i < bytes.count, Self.isWhitespace(bytes[i]) { i += 1 }
        }

        private mutating func scanLiteral() throws(SyntaxError) {
            for literal in ["true", "false", "null"] {
                let octets = Array(literal.utf8)
                if bytes[i...].starts(with: octets) {
                    let end = i + octets.count
                    if end < bytes.count, Self.isLetter(bytes[end]) { break }
                    i = end
                    return
                }
            }
            var end = i
            while end < bytes.count, Self.isLetter(bytes[end]) || Self.isDigit(bytes[end]) { end += 1 }
            if end > i, end - i <= 20 {
                throw fail("'\(String(decoding: bytes[i..<end], as: UTF8.self))' is not a JSON value (strings need double quotes)", at: i)
            }
            throw fail("unexpected \(Self.show(bytes[i]))", at: i)
        }

        static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
        private mutating func scanNumber() throws(SyntaxError) {
            let start = i
            if bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, Self.isDigit(bytes[i]) else { throw fail("a number needs a digit after '-'", at: i) }
            if bytes[i] == UInt8(ascii: "0"), i + 1 < bytes.count, Self.isDigit(bytes[i + 1]) {
                throw fail("numbers must not have leading zeros", at: start)
            }
            while i < bytes.count, Self.isDigit(bytes[i]) { i += 1 }
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                i += 1
                guard i < bytes.count, Self.isDigit(bytes[i]) else { throw fail("a number needs digits after '.'", at: i) }
                while i < bytes.count, Self.isDigit(bytes[i]) { i += 1 }
            }
            if i < bytes.count, bytes[i] | 0x20 == UInt8(ascii: "e") {
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                guard i < bytes.count, Self.isDigit(bytes[i]) else { throw fail("a number needs digits in its exponent", at: i) }
                while i < bytes.count, Self.isDigit(bytes[i]) { i += 1 }
            }
        }

        /// Scans a string from its opening quote; returns its decoded octets when it has escapes
        /// (nil when the raw octets are the value).
        private mutating func scanString() throws(SyntaxError) -> [UInt8]? {
            let open = i
            i += 1
            var decoded: [UInt8]? = nil
            var runStart = i
            while true {
                guard i < bytes.count else { throw fail("a string is not closed", at: open) }
                let c = bytes[i]
                switch c {
                case UInt8(ascii: "\""):
                    decoded?.append(contentsOf: bytes[runStart..<i])
                    i += 1
                    return decoded
                case UInt8(ascii: "\\"):
                    if decoded == nil { decoded = [] }
                    decoded!.append(contentsOf: bytes[runStart..<i])
                    try scanEscape(into: &decoded!)
                    runStart = i
                case 0x00..<0x20:
                    throw fail("the control character U+\(unicodeHex(c)) must be escaped inside a string", at: i)
                case 0x80...0xFF:
                    try scanUTF8()
                default:
                    i += 1
                }
            }
        }

        private mutating func scanEscape(into out: inout [UInt8]) throws(SyntaxError) {
            let at = i
            guard i + 1 < bytes.count else { throw fail("a string is not closed", at: at) }
            let e = bytes[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(at: at)
                if (0xD800...0xDBFF).contains(scalar) {
                    guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw fail("the escape \\u\(unicodeHex(scalar)) is an unpaired surrogate", at: at)
                    }
                    i += 2
                    let low = try hex4(at: at)
                    guard (0xDC00...0xDFFF).contains(low) else {
                        throw fail("the escape \\u\(unicodeHex(scalar)) is an unpaired surrogate", at: at)
                    }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw fail("the escape \\u\(unicodeHex(scalar)) is an unpaired surrogate", at: at)
                }
                out.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
            default:
                throw fail("\\\(Character(Unicode.Scalar(e))) is not a JSON escape", at: at)
            }
        }

        private mutating func hex4(at escape: Int) throws(SyntaxError) -> UInt32 {
            guard i + 4 <= bytes.count else { throw fail("\\u needs four hex digits", at: escape) }
            var value: UInt32 = 0
            for c in bytes[i..<(i + 4)] {
                let digit: UInt32
                switch c {
                case 0x30...0x39: digit = UInt32(c - 0x30)
                case 0x41...0x46: digit = UInt32(c - 0x41 + 10)
                case 0x61...0x66: digit = UInt32(c - 0x61 + 10)
                default: throw fail("\\u needs four hex digits", at: escape)
                }
                value = value << 4 | digit
            }
            i += 4
            return value
        }

        /// One UTF-8 sequence of two to four octets: no overlong forms, no surrogates, nothing past U+10FFFF.
        private mutating func scanUTF8() throws(SyntaxError) {
            let c = bytes[i]
            let length: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch c {
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: throw fail("the text is not valid UTF-8", at: i)
            }
            guard i + length <= bytes.count else { throw fail("the text is not valid UTF-8", at: i) }
            guard (low...high).contains(bytes[i + 1]) else { throw fail("the text is not valid UTF-8", at: i) }
            for k in 2..<max(2, length) where !(0x80...0xBF).contains(bytes[i + k]) {
                throw fail("the text is not valid UTF-8", at: i)
            }
            i += length
        }

        /// A string token's value (quotes included in `token`), escapes decoded.
        static func decodeString(_ token: ArraySlice<UInt8>) -> String {
            var scanner = Scanner(bytes: Array(token))
            let decoded = (try? scanner.scanString()) ?? nil
            return String(decoding: decoded ?? Array(token.dropFirst().dropLast()), as: UTF8.self)
        }
    }
}

/// Four upper-case hex digits, as U+ notation writes a code unit.
func unicodeHex(_ value: some BinaryInteger) -> String {
    let digits = String(value, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

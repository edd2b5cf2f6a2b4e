import DNSWire

/// Names and values in the forms the Route 53 API takes and gives: in a name, every octet other
/// than a-z, 0-9, `-` and `_` is written `\ooo` (three octal digits); a TXT value is one or more
/// quoted character-strings separated by spaces, in which `"` and `\` are escaped with a
/// backslash and every octet outside printable ASCII is `\ooo`. Reading accepts both octal
/// escapes and `\c`, and unquoted strings, since a record set made elsewhere may use them.
enum Route53Text {
    /// `name` as the API writes it: lower case, with a trailing dot.
    static func name(_ name: DNSName) -> String {
        guard !name.isRoot else { return "." }
        var out = ""
        for label in name.labels {
            for byte in label {
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                    out.append(Character(Unicode.Scalar(byte)))
                case UInt8(ascii: "A")...UInt8(ascii: "Z"):
                    out.append(Character(Unicode.Scalar(byte + 32)))
                default:
                    out += octal(byte)
                }
            }
            out += "."
        }
        return out
    }

    /// A name as the API gave it; nil if its escapes or labels are not a DNS name.
    static func name(_ text: String) -> DNSName? {
        guard text != "." else { return .root }
        var labels: [[UInt8]] = []
        var label: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            switch byte {
            case UInt8(ascii: "."):
                guard !label.isEmpty else { return nil }
                labels.append(label)
                label = []
            case UInt8(ascii: "\\"):
                guard let escaped = unescape(&bytes) else { return nil }
                label.append(escaped)
            default:
                label.append(byte)
            }
        }
        if !label.isEmpty { labels.append(label) }
        return try? DNSName(labels: labels)
    }

    /// A TXT record's value: its character-strings quoted and escaped, separated by spaces.
    static func value(_ txt: TXT) -> String {
        txt.strings.map { string in
            var out = "\""
            for byte in string {
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                    out += "\\" + String(Character(Unicode.Scalar(byte)))
                case 0x20...0x7E:
                    out.append(Character(Unicode.Scalar(byte)))
                default:
                    out += octal(byte)
                }
            }
            return out + "\""
        }.joined(separator: " ")
    }

    /// The characters of `value(txt)`, counted without writing it.
    static func valueCharacters(_ txt: TXT) -> Int {
        var count = max(0, txt.strings.count - 1)
        for string in txt.strings {
            count += 2
            for byte in string {
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): count += 2
                case 0x20...0x7E: count += 1
                default: count += 4
                }
            }
        }
        return count
    }

    /// The TXT RDATA a value stands for; nil if it is not one (an unclosed quote, a bad escape,
    /// a string over 255 octets).
    static func txt(_ value: String) -> TXT? {
        var strings: [[UInt8]] = []
        var bytes = Array(value.utf8)[...]
        while let first = bytes.first {
            if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
                bytes.removeFirst()
                continue
            }
            var string: [UInt8] = []
            let quoted = first == UInt8(ascii: "\"")
            if quoted { bytes.removeFirst() }
            var closed = !quoted
            while let byte = bytes.popFirst() {
                if quoted, byte == UInt8(ascii: "\"") {
                    closed = true
                    break
                }
                if !quoted, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { break }
                if byte == UInt8(ascii: "\\") {
                    guard let escaped = unescape(&bytes) else { return nil }
                    string.append(escaped)
                } else {
                    string.append(byte)
                }
            }
            guard closed, string.count <= 255 else { return nil }
            strings.append(string)
        }
        return strings.isEmpty ? nil : TXT(strings: strings)
    }

    /// An SOA value (`mname rname serial refresh retry expire minimum`); nil if it is not one.
    static func soa(_ value: String) -> SOA? {
        let fields = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 7, let mname = name(fields[0]), let rname = name(fields[1]) else { return nil }
        let numbers = fields[2...].compactMap { UInt32($0) }
        guard numbers.count == 5 else { return nil }
        return SOA(mname: mname, rname: rname, serial: numbers[0], refresh: numbers[1], retry: numbers[2], expire: numbers[3], minimum: numbers[4])
    }

    private static func octal(_ byte: UInt8) -> String {
        "\\" + String(byte >> 6) + String((byte >> 3) & 7) + String(byte & 7)
    }

    /// The octet after a backslash: three octal digits, or the next character itself.
    private static func unescape(_ bytes: inout ArraySlice<UInt8>) -> UInt8? {
        guard let next = bytes.popFirst() else { return nil }
        guard (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(next) else { return next }
        guard let d2 = bytes.popFirst(), let d3 = bytes.popFirst(),
            (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(d2), (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(d3)
        else { return nil }
        let value = Int(next - 48) * 64 + Int(d2 - 48) * 8 + Int(d3 - 48)
        return value <= 255 ? UInt8(value) : nil
    }
}

/// A domain name: a sequence of labels, compared and hashed case-insensitively (RFC 4343)
/// while keeping the case it was written in for output.
///
/// Stored in uncompressed wire form without the final root label, so that encoding is a copy
/// and comparison is a byte loop.
public struct DNSName: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral, Comparable {
    /// Wire form without the terminating zero octet: length-prefixed labels.
    public private(set) var wire: [UInt8]

    /// The longest label, in octets (RFC 1035).
    public static let maxLabelLength = 63
    /// Maximum wire length, the terminating zero included.
    public static let maxWireLength = 255

    /// The root, `.`.
    public static let root = DNSName(uncheckedWire: [])

    init(uncheckedWire: [UInt8]) { self.wire = uncheckedWire }

    /// A name from uncompressed wire form without its final zero octet, checked label by label.
    public init(wire: [UInt8]) throws {
        var labels: [[UInt8]] = []
        var i = 0
        while i < wire.count {
            let n = Int(wire[i])
            guard n > 0, n <= Self.maxLabelLength, i + 1 + n <= wire.count else { throw DNSWireError.badLabelType(wire[i]) }
            labels.append(Array(wire[(i + 1)..<(i + 1 + n)]))
            i += 1 + n
        }
        try self.init(labels: labels)
    }

    /// Builds a name from raw labels, each 1 to 63 octets, 255 octets in all.
    public init<S: Sequence>(labels: S) throws where S.Element == [UInt8] {
        var wire: [UInt8] = []
        for label in labels {
            guard !label.isEmpty else { throw DNSWireError.emptyLabel }
            guard label.count <= Self.maxLabelLength else { throw DNSWireError.labelTooLong(label.count) }
            wire.append(UInt8(label.count))
            wire.append(contentsOf: label)
        }
        guard wire.count + 1 <= Self.maxWireLength else { throw DNSWireError.nameTooLong(wire.count + 1) }
        self.wire = wire
    }

    /// Parses presentation form: labels separated by dots, `\c` and `\DDD` escapes,
    /// an optional trailing dot (every name is taken as absolute), `.` for the root.
    public init(_ text: String) throws {
        if text == "." || text.isEmpty {
            self = .root
            return
        }
        var labels: [[UInt8]] = []
        var label: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        var endedWithDot = false
        while let byte = bytes.popFirst() {
            endedWithDot = false
            switch byte {
            case UInt8(ascii: "."):
                guard !label.isEmpty else { throw DNSWireError.emptyLabel }
                labels.append(label)
                label = []
                endedWithDot = true
            case UInt8(ascii: "\\"):
                guard let next = bytes.popFirst() else { throw DNSWireError.badPresentation("name \(text): dangling escape") }
                if Self.isDigit(next) {
                    guard let d2 = bytes.popFirst(), let d3 = bytes.popFirst(), Self.isDigit(d2), Self.isDigit(d3) else {
                        throw DNSWireError.badPresentation("name \(text): \\DDD needs three digits")
                    }
                    let value = Int(next - 48) * 100 + Int(d2 - 48) * 10 + Int(d3 - 48)
                    guard value <= 255 else { throw DNSWireError.badPresentation("name \(text): \\\(value) is over 255") }
                    label.append(UInt8(value))
                } else {
                    label.append(next)
                }
            default:
                label.append(byte)
            }
        }
        if !label.isEmpty {
            labels.append(label)
        } else if !endedWithDot {
            throw DNSWireError.emptyLabel
        }
        try self.init(labels: labels)
    }

    /// A name written in the source; a literal that is not a valid name stops the program.
    public init(stringLiteral value: String) {
        do {
            try self.init(value)
        } catch {
            preconditionFailure("invalid DNS name literal \(value): \(error)")
        }
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }

    /// Whether this is the root.
    public var isRoot: Bool { wire.isEmpty }

    /// Octets on the wire, uncompressed, with the terminating zero.
    public var wireLength: Int { wire.count + 1 }

    /// Labels, the root not counted.
    public var labelCount: Int {
        var count = 0
        var i = 0
        while i < wire.count {
            count += 1
            i += Int(wire[i]) + 1
        }
        return count
    }

    /// The labels from left to right.
    public var labels: [[UInt8]] {
        var result: [[UInt8]] = []
        var i = 0
        while i < wire.count {
            let n = Int(wire[i])
            result.append(Array(wire[(i + 1)..<(i + 1 + n)]))
            i += n + 1
        }
        return result
    }

    /// Offsets in `wire` where each label's length octet sits.
    var labelOffsets: [Int] {
        var result: [Int] = []
        var i = 0
        while i < wire.count {
            result.append(i)
            i += Int(wire[i]) + 1
        }
        return result
    }

    /// The name with its leftmost label removed; the root's parent is the root.
    public var parent: DNSName {
        guard !wire.isEmpty else { return self }
        return DNSName(uncheckedWire: Array(wire[(Int(wire[0]) + 1)...]))
    }

    /// This name with one more label on the left.
    public func prepending(_ label: [UInt8]) throws -> DNSName {
        try DNSName(labels: [label] + labels)
    }

    /// This name with one more label, the UTF-8 of `label`, on the left.
    public func prepending(_ label: String) throws -> DNSName {
        try prepending(Array(label.utf8))
    }

    /// This name followed by `suffix` (as `www` + `example.com`).
    public func appending(_ suffix: DNSName) throws -> DNSName {
        try DNSName(labels: labels + suffix.labels)
    }

    /// Whether this name equals `other` or lies below it.
    public func isSubdomain(of other: DNSName) -> Bool {
        guard wire.count >= other.wire.count else { return false }
        let offset = wire.count - other.wire.count
        // The suffix must start on a label boundary.
        guard offset == 0 || labelOffsets.contains(offset) else { return false }
        for i in 0..<other.wire.count where Self.lower(wire[offset + i]) != Self.lower(other.wire[i]) {
            return false
        }
        return true
    }

    /// The name in lower case, as TSIG and canonical ordering need it.
    public var lowercased: DNSName {
        DNSName(uncheckedWire: wire.map(Self.lower))
    }

    @inline(__always)
    static func lower(_ b: UInt8) -> UInt8 { (b >= 65 && b <= 90) ? b | 0x20 : b }

    /// Equal as DNS compares names: ASCII letters case-insensitively.
    public static func == (lhs: DNSName, rhs: DNSName) -> Bool {
        guard lhs.wire.count == rhs.wire.count else { return false }
        return lhs.wire.withUnsafeBufferPointer { l in
            rhs.wire.withUnsafeBufferPointer { r in
                for i in 0..<l.count where lower(l[i]) != lower(r[i]) { return false }
                return true
            }
        }
    }

    /// Hashes the lower-cased form, so equal names hash alike: lower-cased on the stack and
    /// hashed in one call (an octet at a time, hashing was most of a name lookup's cost).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(wire.count)
        wire.withUnsafeBufferPointer { octets in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: octets.count) { lower in
                for i in 0..<octets.count { lower[i] = Self.lower(octets[i]) }
                hasher.combine(bytes: UnsafeRawBufferPointer(lower))
            }
        }
    }

    /// Canonical DNS order (RFC 4034 section 6.1): by labels from the right, case-insensitively.
    public static func < (lhs: DNSName, rhs: DNSName) -> Bool {
        let l = lhs.labels.reversed().map { $0.map(lower) }
        let r = rhs.labels.reversed().map { $0.map(lower) }
        for (a, b) in zip(l, r) where a != b {
            return a.lexicographicallyPrecedes(b)
        }
        return l.count < r.count
    }

    /// Presentation form with a trailing dot, escaping what a master file would misread.
    public var description: String {
        guard !wire.isEmpty else { return "." }
        var out = ""
        out.reserveCapacity(wire.count + 1)
        for label in labels {
            for b in label {
                switch b {
                case UInt8(ascii: "."), UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: ";"),
                    UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "@"), UInt8(ascii: "$"):
                    out.append("\\")
                    out.append(Character(Unicode.Scalar(b)))
                case 0x21...0x7E:
                    out.append(Character(Unicode.Scalar(b)))
                default:
                    out.append("\\")
                    let digits = String(b)
                    out.append(String(repeating: "0", count: 3 - digits.count) + digits)
                }
            }
            out.append(".")
        }
        return out
    }
}

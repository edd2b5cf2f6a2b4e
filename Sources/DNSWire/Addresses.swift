/// An IPv4 address as the A record carries it.
public struct IPv4Address: Sendable, Hashable, CustomStringConvertible {
    /// The four octets, most significant first.
    public var bytes: (UInt8, UInt8, UInt8, UInt8)

    /// The address `a.b.c.d`.
    public init(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) { bytes = (a, b, c, d) }

    /// An address in dotted-quad form; throws for anything else.
    public init(_ text: String) throws {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { throw DNSWireError.badPresentation("IPv4 address \(text)") }
        var octets: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let v = UInt8(part) else {
                throw DNSWireError.badPresentation("IPv4 address \(text)")
            }
            octets.append(v)
        }
        bytes = (octets[0], octets[1], octets[2], octets[3])
    }

    /// The four octets as an array.
    public var array: [UInt8] { [bytes.0, bytes.1, bytes.2, bytes.3] }

    /// Dotted-quad form.
    public var description: String { "\(bytes.0).\(bytes.1).\(bytes.2).\(bytes.3)" }

    /// Whether the octets are the same.
    public static func == (l: Self, r: Self) -> Bool { l.array == r.array }
    /// Hashes the octets.
    public func hash(into hasher: inout Hasher) { hasher.combine(array) }
}

/// An IPv6 address as the AAAA record carries it.
public struct IPv6Address: Sendable, Hashable, CustomStringConvertible {
    /// The sixteen octets.
    public var array: [UInt8]

    /// An address from its sixteen octets; throws for any other count.
    public init(bytes: [UInt8]) throws {
        guard bytes.count == 16 else { throw DNSWireError.badPresentation("IPv6 address of \(bytes.count) octets") }
        array = bytes
    }

    /// Parses RFC 4291 text form, `::` included (no embedded IPv4 tail).
    public init(_ text: String) throws {
        let bad = DNSWireError.badPresentation("IPv6 address \(text)")
        let halves = text.split(separator: "::", omittingEmptySubsequences: false).map(String.init)
        guard halves.count <= 2 else { throw bad }
        func groups(_ s: String) throws -> [UInt16] {
            guard !s.isEmpty else { return [] }
            return try s.split(separator: ":", omittingEmptySubsequences: false).map {
                guard !$0.isEmpty, $0.count <= 4, let v = UInt16($0, radix: 16) else { throw bad }
                return v
            }
        }
        let head = try groups(halves[0])
        let tail = halves.count == 2 ? try groups(halves[1]) : []
        let all: [UInt16]
        if halves.count == 2 {
            guard head.count + tail.count <= 7 else { throw bad }
            all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard head.count == 8 else { throw bad }
            all = head
        }
        array = all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] }
    }

    /// RFC 5952 form: lower case, longest run of zero groups (two or more) as `::`.
    public var description: String {
        let groups = (0..<8).map { UInt16(array[2 * $0]) << 8 | UInt16(array[2 * $0 + 1]) }
        var bestStart = -1
        var bestLength = 1
        var i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLength {
                    bestStart = i
                    bestLength = j - i
                }
                i = j
            } else {
                i += 1
            }
        }
        let hex = groups.map { String($0, radix: 16) }
        guard bestStart >= 0 else { return hex.joined(separator: ":") }
        let left = hex[..<bestStart].joined(separator: ":")
        let right = hex[(bestStart + bestLength)...].joined(separator: ":")
        return left + "::" + right
    }
}

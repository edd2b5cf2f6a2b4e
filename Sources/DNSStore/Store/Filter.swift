import Foundation

/// A condition on a document's JSON fields, by dotted path (`address.city`).
public indirect enum Filter: Sendable {
    /// The field at the path equals the value.
    case equals(String, JSONValue)
    /// The document has a field at the path.
    case exists(String)
    /// The field at the path lies within the range: numbers compared as numbers, strings by their
    /// Unicode scalars in order (the order of their UTF-8 octets); a value of another type, or a
    /// bound of another type than the value, never matches.
    case range(String, ValueRange)
    /// The field at the path is a string that starts with the given string (Unicode scalars).
    case prefix(String, String)
    /// Every condition holds.
    case and([Filter])
    /// At least one condition holds.
    case or([Filter])
    /// The condition does not hold.
    case not(Filter)

    /// Whether the document's JSON meets the condition; a document that is not JSON meets none.
    public func matches(_ document: Document) -> Bool {
        guard let json = try? JSONDecoder().decode(JSONValue.self, from: Data(document.json)) else { return false }
        return matches(json)
    }

    func matches(_ json: JSONValue) -> Bool {
        switch self {
        case .equals(let path, let value): return json.lookup(path) == value
        case .exists(let path): return json.lookup(path) != nil
        case .range(let path, let range): return json.lookup(path).map(range.contains) ?? false
        case .prefix(let path, let start):
            guard case .string(let s)? = json.lookup(path) else { return false }
            return s.unicodeScalars.starts(with: start.unicodeScalars)
        case .and(let all): return all.allSatisfy { $0.matches(json) }
        case .or(let any): return any.contains { $0.matches(json) }
        case .not(let inner): return !inner.matches(json)
        }
    }

    /// Parses a condition as the command line writes it: `path=value`, `path>value`,
    /// `path>=value`, `path<value`, `path<=value` or `path^=prefix`, the operator being the first
    /// `=`, `<`, `>` or `^=` in the text. The value is JSON if it parses, else a string; a prefix
    /// is always a string.
    public init(parsing text: String) throws {
        let scalars = Array(text.unicodeScalars)
        var found: (at: Int, op: String)?
        for i in scalars.indices {
            let next = i + 1 < scalars.count && scalars[i + 1] == "=" ? "=" : ""
            switch scalars[i] {
            case "=": found = (i, "=")
            case "<", ">": found = (i, String(scalars[i]) + next)
            case "^" where next == "=": found = (i, "^=")
            default: continue
            }
            break
        }
        guard let found else {
            throw StoreError.invalidDocument("filter '\(text)' is not of the form path=value, path>value, path>=value, path<value, path<=value or path^=prefix")
        }
        var path = String.UnicodeScalarView()
        path.append(contentsOf: scalars[..<found.at])
        var rest = String.UnicodeScalarView()
        rest.append(contentsOf: scalars[(found.at + found.op.unicodeScalars.count)...])
        let (field, raw) = (String(path), String(rest))
        guard !field.isEmpty else { throw StoreError.invalidDocument("filter '\(text)' has an empty path") }
        let value = (try? JSONDecoder().decode(JSONValue.self, from: Data(raw.utf8))) ?? .string(raw)
        switch found.op {
        case "=": self = .equals(field, value)
        case "^=": self = .prefix(field, raw)
        default:
            guard value.isOrderable else {
                throw StoreError.invalidDocument("filter '\(text)' compares with \(raw): only numbers and strings have an order")
            }
            let bound = ValueRange.Bound(value: value, inclusive: found.op.hasSuffix("="))
            self = .range(field, found.op.hasPrefix(">") ? ValueRange(lower: bound) : ValueRange(upper: bound))
        }
    }
}

extension Filter {
    /// The conditions that must all hold: `and`s taken apart.
    var conjuncts: [Filter] {
        if case .and(let all) = self { return all.flatMap(\.conjuncts) }
        return [self]
    }

    /// The field of a range or prefix condition.
    var orderedField: String? {
        switch self {
        case .range(let field, _), .prefix(let field, _): return field
        default: return nil
        }
    }

    /// Whether a value whose index key (section 14.2 of docs/FORMAT.md) is `key` can meet this
    /// range or prefix: keys of one type sort as their values do.
    func admits(key: [UInt8]) -> Bool {
        switch self {
        case .range(_, let range):
            for (bound, lower) in [(range.lower, true), (range.upper, false)] {
                guard let bound else { continue }
                guard let limit = IndexKey.key(of: bound.value), limit.first == key.first else { return false }
                if key == limit { if !bound.inclusive { return false } else { continue } }
                if key.lexicographicallyPrecedes(limit) == lower { return false }
            }
            return true
        case .prefix(_, let start):
            return key.starts(with: Array("s".utf8) + Array(start.utf8))
        default:
            return true
        }
    }
}

extension Filter: CustomStringConvertible {
    /// The condition as the command line writes it.
    public var description: String {
        func text(_ value: JSONValue) -> String {
            (try? MetadataJSON.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "?"
        }
        switch self {
        case .equals(let field, let value): return "\(field)=\(text(value))"
        case .exists(let field): return "\(field) exists"
        case .range(let field, let range):
            var parts: [String] = []
            if let lower = range.lower { parts.append("\(field)\(lower.inclusive ? ">=" : ">")\(text(lower.value))") }
            if let upper = range.upper { parts.append("\(field)\(upper.inclusive ? "<=" : "<")\(text(upper.value))") }
            return parts.joined(separator: " and ")
        case .prefix(let field, let start): return "\(field)^=\(start)"
        case .and(let all): return all.map(\.description).joined(separator: " and ")
        case .or(let any): return "(" + any.map(\.description).joined(separator: " or ") + ")"
        case .not(let inner): return "not (\(inner))"
        }
    }
}

/// Values between two bounds, either of which may be open: numbers, or strings.
public struct ValueRange: Sendable, Hashable {
    public struct Bound: Sendable, Hashable {
        public var value: JSONValue
        public var inclusive: Bool
        public init(value: JSONValue, inclusive: Bool) {
            self.value = value
            self.inclusive = inclusive
        }
    }
    public var lower: Bound?
    public var upper: Bound?

    public init(lower: Bound? = nil, upper: Bound? = nil) {
        self.lower = lower
        self.upper = upper
    }

    /// Whether `value` lies within: of the bounds' type, above the lower and below the upper.
    public func contains(_ value: JSONValue) -> Bool {
        if let lower {
            guard let order = value.compare(to: lower.value), order == .above || (order == .same && lower.inclusive) else { return false }
        }
        if let upper {
            guard let order = value.compare(to: upper.value), order == .below || (order == .same && upper.inclusive) else { return false }
        }
        return true
    }
}

extension JSONValue {
    enum Order { case below, same, above }

    /// Numbers and strings have an order; other values none.
    var isOrderable: Bool {
        switch self {
        case .number, .string: return true
        default: return false
        }
    }

    /// How this value lies against `other`: numbers by value, strings by Unicode scalars (the
    /// order of their UTF-8 octets); nil when they are not both numbers or both strings.
    func compare(to other: JSONValue) -> Order? {
        switch (self, other) {
        case (.number(let a), .number(let b)):
            return a < b ? .below : a > b ? .above : .same
        case (.string(let a), .string(let b)):
            if a.utf8.elementsEqual(b.utf8) { return .same }
            return a.utf8.lexicographicallyPrecedes(b.utf8) ? .below : .above
        default:
            return nil
        }
    }
}

/// A JSON value.
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Decodes any JSON value.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? container.decode(Double.self) {
            self = .number(n)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Encodes the value as JSON.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .number(let n): try container.encode(n)
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }

    /// The value at a dotted path of object members, or nil.
    public func lookup(_ path: String) -> JSONValue? {
        var current = self
        for key in path.split(separator: ".", omittingEmptySubsequences: false) {
            guard case .object(let members) = current, let next = members[String(key)] else { return nil }
            current = next
        }
        return current
    }
}

/// Literals for filters written in code: `.equals("role", "web")`, `.equals("port", 8080)`.
extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
}

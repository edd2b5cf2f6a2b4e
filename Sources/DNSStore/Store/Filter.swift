import Foundation

/// A condition on a document's JSON fields, by dotted path (`address.city`).
public indirect enum Filter: Sendable {
    /// The field at the path equals the value.
    case equals(String, JSONValue)
    /// The document has a field at the path.
    case exists(String)
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
        case .and(let all): return all.allSatisfy { $0.matches(json) }
        case .or(let any): return any.contains { $0.matches(json) }
        case .not(let inner): return !inner.matches(json)
        }
    }

    /// Parses `path=value` as the command line writes it: the value is JSON if it parses, else a string.
    public init(parsing text: String) throws {
        guard let eq = text.firstIndex(of: "=") else {
            throw StoreError.invalidDocument("filter '\(text)' is not of the form path=value")
        }
        let path = String(text[..<eq])
        let raw = String(text[text.index(after: eq)...])
        guard !path.isEmpty else { throw StoreError.invalidDocument("filter '\(text)' has an empty path") }
        let value = (try? JSONDecoder().decode(JSONValue.self, from: Data(raw.utf8))) ?? .string(raw)
        self = .equals(path, value)
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

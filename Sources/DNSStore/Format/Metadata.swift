import DNSWire
import Foundation

/// `{"total": N}`: how many index chunks a node has.
public struct ChunkCount: Codable, Sendable, Hashable {
    /// Chunks, 1 to 4096.
    public var total: Int
}

/// The store root's record (section 4).
struct RootMetadata: Codable, Sendable, Hashable {
    var version: Int
    var chunks: ChunkCount

    static let formatVersion = 1
}

/// A database's or collection's record, and its entry in its parent's index (sections 5 and 6).
public struct NodeMetadata: Codable, Sendable, Hashable {
    /// The node's name, as given.
    public var name: String
    /// Index chunks under it.
    public var chunks: ChunkCount
    /// A private collection's wrapped secrets (section 11 of docs/FORMAT.md); absent otherwise.
    public var privacy: PrivateMetadata?
    /// A collection's secondary indexes by field (section 14); absent when it has none.
    public var indexes: [String: IndexDefinition]?

    /// A node record; `privacy` is set for a private collection.
    public init(name: String, chunks: ChunkCount, privacy: PrivateMetadata? = nil) {
        self.name = name
        self.chunks = chunks
        self.privacy = privacy
    }

    enum CodingKeys: String, CodingKey {
        case name, chunks, indexes
        case privacy = "private"
    }
}

/// The level of an index, which names the JSON member holding its map.
enum IndexLevel: String, Sendable {
    case database, collection, record
    /// The lease index (section 13).
    case lease
}

/// JSON text for metadata records: compact, keys sorted, so the same value is always the same text.
enum MetadataJSON {
    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    /// Reads metadata strictly: strict JSON (no member twice, section 7's rules), of the type's
    /// shape, and within the format's bounds (`FormatChecked`); anything else is corrupt.
    static func decode<T: Decodable & FormatChecked>(_ type: T.Type, _ text: [UInt8], name: DNSName) throws -> T {
        do {
            try JSONText.validate(text)
        } catch {
            throw StoreError.corrupted("\(name) does not hold strict JSON: \(error)")
        }
        let value: T
        do {
            value = try JSONDecoder().decode(type, from: Data(text))
        } catch {
            throw StoreError.corrupted("\(name) does not hold valid \(type) JSON")
        }
        if let problem = value.formatProblem {
            throw StoreError.corrupted("\(name) holds \(type) outside the format: \(problem)")
        }
        return value
    }
}

/// A value read from the zone whose numbers and names docs/FORMAT.md bounds.
protocol FormatChecked {
    /// What in the value the format does not allow; nil when it is within bounds.
    var formatProblem: String? { get }
}

extension ChunkCount: FormatChecked {
    var formatProblem: String? {
        (1...FormatLimits.maxChunks).contains(total) ? nil : "chunks.total is \(total), not 1 to \(FormatLimits.maxChunks)"
    }
}

extension RootMetadata: FormatChecked {
    var formatProblem: String? { chunks.formatProblem }
}

extension NodeMetadata: FormatChecked {
    var formatProblem: String? {
        guard FormatLimits.isName(name) else { return "the name is not 1 to 255 octets of UTF-8 without NUL" }
        if let problem = chunks.formatProblem ?? privacy?.formatProblem { return problem }
        guard let indexes else { return nil }
        if indexes.count > IndexDefinition.maxPerCollection { return "more than \(IndexDefinition.maxPerCollection) indexes" }
        if let bad = indexes.keys.first(where: { !IndexKey.isField($0) }) { return "index field '\(bad.prefix(40))' is not a dotted path of names" }
        if privacy != nil, let field = indexes.first(where: { $0.value.isOrdered })?.key {
            return "the index of '\(field.prefix(40))' of a private collection is ordered (its directory would show the values)"
        }
        return indexes.values.lazy.compactMap(\.formatProblem).first
    }
}

extension PrivateMetadata: FormatChecked {
    var formatProblem: String? {
        let ids = Array(names.keys) + Array(data.keys) + data.values.flatMap(\.keys) + [write]
        guard let bad = ids.first(where: { !FormatLimits.isLowerHex($0, count: 8) }) else { return nil }
        return "key id '\(bad.prefix(16))' is not 8 lower-case hex digits"
    }
}

extension DocumentStore {
    /// The version of docs/FORMAT.md this library writes (the root record's `version`).
    public static let formatVersion = RootMetadata.formatVersion
}

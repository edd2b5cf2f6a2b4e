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

    /// A node record; `privacy` is set for a private collection.
    public init(name: String, chunks: ChunkCount, privacy: PrivateMetadata? = nil) {
        self.name = name
        self.chunks = chunks
        self.privacy = privacy
    }

    enum CodingKeys: String, CodingKey {
        case name, chunks
        case privacy = "private"
    }
}

/// The level of an index, which names the JSON member holding its map.
enum IndexLevel: String, Sendable {
    case database, collection, record
}

/// JSON text for metadata records: compact, keys sorted, so the same value is always the same text.
enum MetadataJSON {
    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: [UInt8], name: DNSName) throws -> T {
        do {
            return try JSONDecoder().decode(type, from: Data(text))
        } catch {
            throw StoreError.corrupted("\(name) does not hold valid \(type) JSON")
        }
    }
}

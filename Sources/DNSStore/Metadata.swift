import DNSWire
import Foundation

/// `{"total": N}`: how many index chunks a node has.
public struct ChunkCount: Codable, Sendable, Hashable {
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
    public var name: String
    public var chunks: ChunkCount
}

/// The level of an index, which names the JSON member holding its map.
enum IndexLevel: String, Sendable {
    case database, collection, record
}

/// One page of an index chunk (section 3.2). Record indexes map ids to empty objects; the others
/// map names to node metadata.
struct IndexPage: Sendable, Equatable {
    var chunk: Int
    var page: Int
    /// Pages in the chunk; meaningful on page 0.
    var pages: Int
    var entries: [String: NodeMetadata?]

    static let maxTextOctets = 16_000

    init(chunk: Int, page: Int, pages: Int = 1, entries: [String: NodeMetadata?] = [:]) {
        self.chunk = chunk
        self.page = page
        self.pages = pages
        self.entries = entries
    }

    func text(level: IndexLevel) throws -> [UInt8] {
        var map: [String: Any] = [:]
        for (key, value) in entries {
            if let value {
                map[key] = ["name": value.name, "chunks": ["total": value.chunks.total]] as [String: Any]
            } else {
                map[key] = [String: Any]()
            }
        }
        var object: [String: Any] = ["id": chunk, level.rawValue: map]
        if page == 0 {
            if pages > 1 { object["pages"] = pages }
        } else {
            object["page"] = page
        }
        return Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
    }

    init(text: [UInt8], level: IndexLevel, name: DNSName) throws {
        let bad = StoreError.corrupted("index page \(name) is not a valid \(level.rawValue) index")
        guard let object = try? JSONSerialization.jsonObject(with: Data(text)) as? [String: Any],
            let id = object["id"] as? Int, let map = object[level.rawValue] as? [String: Any]
        else { throw bad }
        var entries: [String: NodeMetadata?] = [:]
        for (key, value) in map {
            guard let fields = value as? [String: Any] else { throw bad }
            if level == .record {
                entries[key] = .some(nil)
            } else {
                guard let name = fields["name"] as? String, let chunks = fields["chunks"] as? [String: Any],
                    let total = chunks["total"] as? Int, total > 0
                else { throw bad }
                entries[key] = NodeMetadata(name: name, chunks: ChunkCount(total: total))
            }
        }
        self.init(
            chunk: id, page: object["page"] as? Int ?? 0, pages: object["pages"] as? Int ?? 1, entries: entries)
    }
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

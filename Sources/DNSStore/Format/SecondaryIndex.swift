import DNSWire

/// A secondary index of a collection, as its metadata holds it (section 14 of docs/FORMAT.md):
/// the value a field holds, to the documents that hold it.
public struct IndexDefinition: Codable, Sendable, Hashable {
    /// Whether readers may use it: every writer keeps an index of either state; readers use only
    /// readable ones.
    public enum State: String, Codable, Sendable {
        /// Written by every write, while the documents written before it existed are added.
        case building
        /// Complete: it lists exactly the documents that hold each value.
        case readable
    }

    /// Chunks of each value's list of documents (1 for a unique index).
    public var chunks: ChunkCount
    public var state: State
    /// At most one document per value. Absent in the record when false.
    public var unique: Bool?
    /// An ordered index keeps a directory of the values its documents hold, so that ranges and
    /// prefixes can be found (section 14.7): the directory's chunks. Absent otherwise.
    public var ordered: Ordered?

    /// An ordered index's directory of values.
    public struct Ordered: Codable, Sendable, Hashable {
        /// Chunks of the directory, 1 to 64.
        public var chunks: ChunkCount
    }

    public init(chunks: Int, state: State, unique: Bool, directoryChunks: Int? = nil) {
        self.chunks = ChunkCount(total: chunks)
        self.state = state
        self.unique = unique ? true : nil
        self.ordered = directoryChunks.map { Ordered(chunks: ChunkCount(total: $0)) }
    }

    public var isUnique: Bool { unique ?? false }
    public var isOrdered: Bool { ordered != nil }

    /// The most indexes a collection has.
    public static let maxPerCollection = 16
    /// The most chunks a value's list has.
    public static let maxChunks = 64
}

extension IndexDefinition: FormatChecked {
    var formatProblem: String? {
        guard (1...Self.maxChunks).contains(chunks.total) else { return "an index's chunks.total is not 1 to \(Self.maxChunks)" }
        if isUnique, chunks.total != 1 { return "a unique index has more than one chunk" }
        if unique == false { return "an index's \"unique\" is false (it is absent then)" }
        if let ordered, !(1...Self.maxChunks).contains(ordered.chunks.total) {
            return "an ordered index's directory chunks.total is not 1 to \(Self.maxChunks)"
        }
        return nil
    }
}

/// The key under which an index lists a document: the value at the index's field, as section
/// 14.2 of docs/FORMAT.md spells it.
public enum IndexKey {
    /// Whether `field` can name an index: one or more member names joined by `.`, none empty,
    /// 1 to 255 octets of UTF-8 without NUL.
    public static func isField(_ field: String) -> Bool {
        FormatLimits.isName(field) && !field.split(separator: ".", omittingEmptySubsequences: false).contains { $0.isEmpty }
    }

    /// The key of a value: strings, numbers, booleans and null have one; arrays and objects none.
    public static func key(of value: JSONValue) -> [UInt8]? {
        switch value {
        case .string(let s): return Array("s".utf8) + Array(s.utf8)
        case .number(let n): return Array("n".utf8) + Array(hex(orderPreserving(n)).utf8)
        case .bool(let b): return Array((b ? "t" : "f").utf8)
        case .null: return Array("z".utf8)
        case .array, .object: return nil
        }
    }

    /// A key's label: section 2's three forms applied to its octets (plain, `x--` base32,
    /// `h--` hashed), without section 2's limits on names.
    public static func label(_ key: [UInt8]) -> String {
        Naming.label(forOctets: key)
    }

    /// A binary64's bits, turned so that unsigned order is numeric order; -0 counts as 0.
    static func orderPreserving(_ value: Double) -> UInt64 {
        let bits = (value == 0 ? 0.0 : value).bitPattern
        return bits & (1 << 63) == 0 ? bits ^ (1 << 63) : ~bits
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// A key's entry in an ordered index's directory (section 14.7): the key itself when it is a
    /// name (at most 255 octets, no NUL; every key is UTF-8), else its label (`x--` or `h--`).
    public static func directoryEntry(_ key: [UInt8]) -> String {
        if key.count <= 255, !key.contains(0) { return String(decoding: key, as: UTF8.self) }
        return label(key)
    }

    /// The key a directory entry stands for: the entry itself, or the octets of an `x--` label;
    /// nil for an `h--` label, whose key cannot be known from it.
    public static func key(ofDirectoryEntry entry: String) -> [UInt8]? {
        if entry.hasPrefix("h--") { return nil }
        if entry.hasPrefix("x--") { return Base32.decode(String(entry.dropFirst(3))) }
        return Array(entry.utf8)
    }

    /// The label of the list a directory entry names.
    static func listLabel(ofDirectoryEntry entry: String) -> String {
        if entry.hasPrefix("h--") || entry.hasPrefix("x--") { return entry }
        return label(Array(entry.utf8))
    }

    /// A key as people read it (for messages): the value it stands for.
    static func describe(_ key: [UInt8]) -> String {
        guard let tag = key.first else { return "?" }
        let rest = Array(key.dropFirst())
        switch tag {
        case UInt8(ascii: "s"): return "\"\(String(decoding: rest, as: UTF8.self))\""
        case UInt8(ascii: "t"): return "true"
        case UInt8(ascii: "f"): return "false"
        case UInt8(ascii: "z"): return "null"
        case UInt8(ascii: "n"):
            guard let turned = UInt64(String(decoding: rest, as: UTF8.self), radix: 16) else { return "?" }
            let bits = turned & (1 << 63) != 0 ? turned ^ (1 << 63) : ~turned
            let value = Double(bitPattern: bits)
            return value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        default: return "?"
        }
    }
}

extension StoreLayout {
    /// `_ix.C`: where a collection's indexes live (section 14.3).
    func indexes(of collection: DNSName) throws -> DNSName {
        try collection.prepending("_ix")
    }

    /// The node whose chunks list the documents with `key` in the index of `field`:
    /// `<key label>.<field label>._ix.C`; in a private collection (`sealing` its secrets) both
    /// labels are sealed (section 14.3).
    func posting(field: String, key: [UInt8], of collection: DNSName, sealing: CollectionSecrets?) throws -> DNSName {
        do {
            let fieldLabel = try sealing?.indexLabel(field: field) ?? Naming.label(for: field)
            let keyLabel = sealing?.indexLabel(field: field, key: key) ?? IndexKey.label(key)
            return try indexes(of: collection).prepending(fieldLabel).prepending(keyLabel)
        } catch let error as DNSWireError {
            throw StoreError.invalidName("the index of '\(field)' makes DNS names that are too long under \(collection) (\(error))")
        }
    }

    /// The list named by a directory entry of the ordered index of `field` (never private).
    func posting(field: String, directoryEntry entry: String, of collection: DNSName) throws -> DNSName {
        try indexes(of: collection).prepending(Naming.label(for: field)).prepending(IndexKey.listLabel(ofDirectoryEntry: entry))
    }

    /// `_keys.<field label>._ix.C`: the node whose chunks list the keys of an ordered index (section 14.7).
    func directory(field: String, of collection: DNSName) throws -> DNSName {
        do {
            return try indexes(of: collection).prepending(Naming.label(for: field)).prepending("_keys")
        } catch let error as DNSWireError {
            throw StoreError.invalidName("the index of '\(field)' makes DNS names that are too long under \(collection) (\(error))")
        }
    }
}

import Foundation

/// A document as stored: its id, version and JSON octets.
public struct Document: Sendable, Hashable {
    /// The document's id within its collection.
    public var id: String
    /// 1 when created, one more for every write.
    public var version: Int
    /// The document's JSON text as stored: as it was written, without insignificant whitespace.
    public var json: [UInt8]
    /// The lease it is attached to (docs/FORMAT.md section 13), if any.
    public var lease: String?

    /// A document with JSON text as it is.
    public init(id: String, version: Int, json: [UInt8], lease: String? = nil) {
        self.id = id
        self.version = version
        self.json = json
        self.lease = lease
    }

    /// The document decoded as `type`, with `coding`'s decoder (by default the standard one:
    /// dates as ISO 8601 text).
    public func decode<T: Decodable>(_ type: T.Type = T.self, using coding: DocumentCoding = .standard) throws -> T {
        do {
            return try coding.makeDecoder().decode(type, from: Data(json))
        } catch {
            throw StoreError.invalidDocument("document '\(id)' does not decode as \(type): \(error)")
        }
    }

    /// The document as Foundation JSON objects (dictionaries, arrays, strings, numbers).
    public var jsonObject: Any? { try? JSONSerialization.jsonObject(with: Data(json), options: [.fragmentsAllowed]) }
}

/// A decoded document, its id and its version.
public struct Versioned<Value: Sendable>: Sendable {
    /// The decoded document.
    public var value: Value
    /// Its version: pass it to `update(_:_:ifVersion:)` to write only if nobody wrote meanwhile.
    public var version: Int
    /// Its id within its collection.
    public var id: String
}

enum DocumentJSON {
    /// Encodes a Codable value with `coding`'s encoder (the standard one: sorted keys, the same
    /// text every time, dates as ISO 8601).
    static func encode<T: Encodable>(_ value: T, _ coding: DocumentCoding = .standard) throws -> [UInt8] {
        let encoder = coding.makeEncoder()
        do {
            return Array(try encoder.encode(value))
        } catch {
            throw StoreError.invalidDocument("cannot encode \(T.self) as JSON: \(error)")
        }
    }

    /// Checks that raw octets are one strict JSON value (RFC 8259) and returns them as the store
    /// keeps them: without insignificant whitespace, everything else as given.
    static func normalize(_ json: [UInt8]) throws -> [UInt8] {
        do {
            return try JSONText.compact(json)
        } catch {
            throw StoreError.invalidDocument("the document is not valid JSON: \(error)")
        }
    }
}

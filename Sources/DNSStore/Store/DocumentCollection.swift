import DNSWire
import Foundation

/// A collection of JSON documents, each under a string id.
public struct DocumentCollection: Sendable {
    /// The store the collection is in.
    public let store: DocumentStore
    /// The name of its database.
    public let database: String
    /// The collection's name, as given.
    public let name: String

    private func op(_ id: String, _ mode: WriteOp.Mode, _ body: [UInt8] = [], lease: Lease? = nil) -> WriteOp {
        WriteOp(database: database, collection: name, id: id, mode: mode, body: body, lease: lease?.id)
    }

    private func path(_ id: String) -> String { "\(database)/\(name)/\(id)" }

    // MARK: Writes

    /// Creates or replaces a document; returns its new version. With `lease`, the document lives
    /// only while the lease does (docs/FORMAT.md section 13); without, it is detached from any.
    @discardableResult
    public func put<T: Encodable>(_ id: String, _ value: T, lease: Lease? = nil) async throws -> Int {
        try await putJSON(id, try DocumentJSON.encode(value, store.configuration.coding), lease: lease)
    }

    /// Creates or replaces a document with JSON text, kept as given minus insignificant whitespace; returns its new version.
    @discardableResult
    public func putJSON(_ id: String, _ json: [UInt8], lease: Lease? = nil) async throws -> Int {
        try await store.execute([op(id, .put, json, lease: lease)], "put \(path(id))")[0]
    }

    /// Creates a document; throws `.alreadyExists` if it is there (a document whose lease lapsed
    /// is not).
    @discardableResult
    public func insert<T: Encodable>(_ id: String, _ value: T, lease: Lease? = nil) async throws -> Int {
        try await insertJSON(id, try DocumentJSON.encode(value, store.configuration.coding), lease: lease)
    }

    /// Creates a document from JSON text; throws `.alreadyExists` if it is there.
    @discardableResult
    public func insertJSON(_ id: String, _ json: [UInt8], lease: Lease? = nil) async throws -> Int {
        try await store.execute([op(id, .insert, json, lease: lease)], "insert \(path(id))")[0]
    }

    /// Replaces a document only if it is still at `version` (compare-and-swap); throws `.conflict` if not.
    @discardableResult
    public func update<T: Encodable>(_ id: String, _ value: T, ifVersion version: Int, lease: Lease? = nil) async throws -> Int {
        try await updateJSON(id, try DocumentJSON.encode(value, store.configuration.coding), ifVersion: version, lease: lease)
    }

    /// Replaces a document with JSON text only if it is still at `version`; throws `.conflict` if not.
    @discardableResult
    public func updateJSON(_ id: String, _ json: [UInt8], ifVersion version: Int, lease: Lease? = nil) async throws -> Int {
        try await store.execute([op(id, .update(expected: version), json, lease: lease)], "update \(path(id))")[0]
    }

    /// Reads, changes and writes back a document with compare-and-swap, retrying when another
    /// writer got there first; returns the value written and its version.
    @discardableResult
    public func modify<T: Codable & Sendable>(
        _ id: String, as type: T.Type = T.self, maxAttempts: Int = 1000, _ change: (inout T) throws -> Void
    ) async throws -> Versioned<T> {
        for attempt in 0..<maxAttempts {
            guard let document = try await get(id) else { throw StoreError.notFound("document '\(path(id))'", path: path(id)) }
            var value = try document.decode(type, using: store.configuration.coding)
            try change(&value)
            do {
                // It stays attached to the lease it has.
                let lease = document.lease.map { Lease(id: $0, ttl: 1) }
                let version = try await update(id, value, ifVersion: document.version, lease: lease)
                return Versioned(value: value, version: version, id: id)
            } catch let error as StoreError where error.code == .conflict {
                try await store.backoff(attempt)
            }
        }
        throw StoreError.conflict("\(path(id)) kept changing for \(maxAttempts) attempts", path: path(id))
    }

    /// Deletes a document, only at `version` when given; returns the version deleted.
    @discardableResult
    public func delete(_ id: String, ifVersion version: Int? = nil) async throws -> Int {
        try await store.execute([op(id, .delete(expected: version))], "delete \(path(id))")[0]
    }

    // MARK: Reads

    /// The DNS name that holds the document's record (section 7 of docs/FORMAT.md).
    public func recordName(of id: String) async throws -> DNSName {
        try await store.address(of: id, in: name, of: database).name
    }

    func key(_ id: String) -> Session.DocumentKey { Session.DocumentKey(database: database, collection: name, id: id) }

    /// The document, or nil if there is none.
    public func get(_ id: String) async throws -> Document? {
        try await store.traced("dnsstore.get", operation: "get", database: database, collection: name) {
            let address = try await store.address(of: id, in: name, of: database)
            if let document = try await read(address, id) { return document }
            // Not found: the collection may have been dropped and created again by another client,
            // with other chunks, since this store object cached it. Look once, then read again.
            guard try await store.refreshCollection(name, in: database) else { return nil }
            return try await read(try await store.address(of: id, in: name, of: database), id)
        }
    }

    private func read(_ address: DocumentStore.RecordAddress, _ id: String) async throws -> Document? {
        try await store.readDocument(at: address.name, key: key(id), storedID: address.storedID, codec: address.codec)
    }

    /// The document decoded as `type` with its version, or nil.
    public func get<T: Decodable & Sendable>(_ id: String, as type: T.Type) async throws -> Versioned<T>? {
        guard let document = try await get(id) else { return nil }
        return Versioned(value: try document.decode(type, using: store.configuration.coding), version: document.version, id: id)
    }

    /// Document ids in UTF-8 order: up to `limit` of them after `after` (a page cursor).
    public func ids(after: String? = nil, limit: Int = Int.max) async throws -> [String] {
        let node = try await store.collection(named: name, in: database)
        let codec = try store.codec(of: node, in: database)
        let leases = LeaseLiveness(store, route: .reader(store.configuration.consistency))
        /// The ids of live documents: those attached to a lapsed lease are gone (section 13).
        func live(_ index: [String: IndexEntry]) async throws -> Set<String> {
            var ids = Set<String>()
            for (stored, entry) in index where try await leases.isLive(entry.lease) { ids.insert(try codec.realID(stored)) }
            return ids
        }
        var all = try await live(try await store.readIndex(of: node.name, total: node.metadata.chunks.total, level: .record))
        // A listing from a read server must hold what this session created; if not, the primary's.
        if store.replicas != nil, !store.session.existing(in: database, name).allSatisfy(all.contains) {
            all = try await live(try await store.readIndex(of: node.name, total: node.metadata.chunks.total, level: .record, route: .primary))
        }
        let sorted = all.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        let start = after.map { cursor in
            sorted.firstIndex { !$0.utf8.lexicographicallyPrecedes(cursor.utf8) && $0 != cursor } ?? sorted.count
        } ?? 0
        return Array(sorted[start...].prefix(limit))
    }

    /// Every document, read concurrently, in id order.
    public func documents() async throws -> [Document] {
        let node = try await store.collection(named: name, in: database)
        let codec = try store.codec(of: node, in: database)
        let ids = try await self.ids()
        return try await read(ids, in: node, codec: codec, leases: LeaseLiveness(store, route: .reader(store.configuration.consistency)))
    }

    /// The documents that match `filter`, in id order; through a readable index when one covers
    /// a condition (``explain(_:)``), else a page of the collection's index at a time, so what is
    /// held is the matches.
    public func find(_ filter: Filter) async throws -> [Document] {
        var found: [Document] = []
        for try await documents in matching(filter) { found += documents }
        return found.sorted { $0.id.utf8.lexicographicallyPrecedes($1.id.utf8) }
    }

    /// The documents that match `filter`, decoded as `type`, in id order.
    public func find<T: Decodable & Sendable>(_ filter: Filter, as type: T.Type) async throws -> [Versioned<T>] {
        let coding = store.configuration.coding
        return try await find(filter).map { Versioned(value: try $0.decode(type, using: coding), version: $0.version, id: $0.id) }
    }
}

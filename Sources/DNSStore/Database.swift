import DNSWire

extension DNSStore {
    /// Creates a database (and the store root, if this is the first). Throws `.alreadyExists` if present.
    @discardableResult
    public func createDatabase(_ name: String, chunks: Int? = nil) async throws -> Database {
        try await initialize()
        let root = try await root()
        try await createNode(
            name, level: .database, under: layout.root, parentTotal: root.chunks.total,
            chunks: chunks ?? configuration.databaseChunks)
        return database(name)
    }

    /// The names of all databases, sorted.
    public func databases() async throws -> [String] {
        let root: RootMetadata
        do {
            root = try await self.root()
        } catch StoreError.notFound {
            return []
        }
        return try await readIndex(of: layout.root, total: root.chunks.total, level: .database).keys.sorted()
    }

    /// Drops a database with all its collections and documents.
    public func dropDatabase(_ name: String) async throws {
        let root = try await root()
        let metadata = try await unlinkNode(name, level: .database, under: layout.root, parentTotal: root.chunks.total)
        forget(database: name)
        let (node, _) = try layout.child(name, total: root.chunks.total, of: layout.root)
        try await purgeDatabase(at: node, total: metadata.chunks.total)
    }

    /// A handle on a database; nothing is read until it is used.
    public func database(_ name: String) -> Database {
        Database(store: self, name: name)
    }
}

/// A database: a named group of collections.
public struct Database: Sendable {
    public let store: DNSStore
    public let name: String

    /// Creates a collection. Throws `.alreadyExists` if present, `.notFound` if the database is not.
    @discardableResult
    public func createCollection(_ collection: String, chunks: Int? = nil) async throws -> DocumentCollection {
        let node = try await store.database(named: name)
        try await store.createNode(
            collection, level: .collection, under: node.name, parentTotal: node.metadata.chunks.total,
            chunks: chunks ?? store.configuration.collectionChunks)
        return self.collection(collection)
    }

    /// The names of its collections, sorted.
    public func collections() async throws -> [String] {
        let node = try await store.database(named: name)
        return try await store.readIndex(of: node.name, total: node.metadata.chunks.total, level: .collection).keys.sorted()
    }

    /// Drops a collection with all its documents.
    public func dropCollection(_ collection: String) async throws {
        let node = try await store.database(named: name)
        let metadata = try await store.unlinkNode(
            collection, level: .collection, under: node.name, parentTotal: node.metadata.chunks.total)
        store.forget(collection: collection, in: name)
        let (collectionNode, _) = try store.layout.child(collection, total: node.metadata.chunks.total, of: node.name)
        try await store.purgeCollection(at: collectionNode, total: metadata.chunks.total)
    }

    /// A handle on a collection; nothing is read until it is used.
    public func collection(_ collection: String) -> DocumentCollection {
        DocumentCollection(store: store, database: name, name: collection)
    }
}

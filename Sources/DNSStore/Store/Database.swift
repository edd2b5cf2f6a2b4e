import DNSWire

extension DocumentStore {
    /// Creates a database (and the store root, if this is the first). Throws `.alreadyExists` if
    /// present, unless `ifMissing`: then a database already there is returned as it is, so that
    /// start-up code can call this every time.
    @discardableResult
    public func createDatabase(_ name: String, chunks: Int? = nil, ifMissing: Bool = false) async throws -> Database {
        if ifMissing {
            do {
                return try await createDatabase(name, chunks: chunks)
            } catch let error as StoreError where error.code == .alreadyExists {
                return database(name)
            }
        }
        try await initialize()
        let root = try await root(forWriting: true)
        try await createNode(
            name, path: name, level: .database, under: layout.root, parentTotal: root.chunks.total,
            chunks: chunks ?? configuration.databaseChunks)
        session.node([name], exists: true)
        return database(name)
    }

    /// The names of all databases, sorted.
    public func databases() async throws -> [String] {
        let root: RootMetadata
        do {
            root = try await self.root()
        } catch let error as StoreError where error.code == .notFound {
            return []
        }
        return try await readIndex(of: layout.root, total: root.chunks.total, level: .database).keys.sorted()
    }

    /// Drops a database with all its collections and documents.
    public func dropDatabase(_ name: String) async throws {
        let root = try await root(forWriting: true)
        let metadata = try await unlinkNode(name, path: name, level: .database, under: layout.root, parentTotal: root.chunks.total)
        forget(database: name)
        unpin(database: name)
        session.node([name], exists: false)
        let (node, _) = try layout.child(name, total: root.chunks.total, of: layout.root)
        try await purgeDatabase(at: node, total: metadata.chunks.total, name: name)
    }

    /// A handle on a database; nothing is read until it is used.
    public func database(_ name: String) -> Database {
        Database(store: self, name: name)
    }

    /// Checks that a document can be stored under `id` (its name, its JSON, its size) without
    /// writing anything; returns its size as stored.
    @discardableResult
    public static func check(id: String, json: [UInt8]) throws -> Int {
        try Naming.validate(id)
        let body = try DocumentJSON.normalize(json)
        guard body.count <= RecordText.maxDocument else {
            throw StoreError.tooLarge("document '\(id)' is \(body.count) octets; the limit is \(RecordText.maxDocument)")
        }
        return body.count
    }

    /// A collection ready for `documents` to be written to it: the names, the documents and every
    /// DNS name their writes need are checked first, and only then are the store root, the
    /// database and the collection created where they do not exist yet. So a write that cannot
    /// succeed leaves nothing behind. Costs one query per level when nothing is cached.
    public func collectionForWriting(
        _ database: String, _ collection: String, documents: [(id: String, json: [UInt8])]
    ) async throws -> DocumentCollection {
        try Naming.validate(database)
        try Naming.validate(collection)
        var largest = 0
        for document in documents {
            largest = max(largest, try Self.check(id: document.id, json: document.json))
        }
        let root = try await existing { try await self.root(forWriting: true) }
        let db = root == nil ? nil : try await existing { try await self.database(named: database, forWriting: true) }
        let node = db == nil ? nil : try await existing { try await self.collection(named: collection, in: database, forWriting: true) }

        // The names the writes need, with the chunk counts the nodes have or will be created with.
        let path = "\(database)/\(collection)"
        let dbName = try db?.name ?? layout.child(database, total: root?.chunks.total ?? configuration.rootChunks, of: layout.root).name
        let collectionName = try node?.name ?? layout.child(collection, total: db?.metadata.chunks.total ?? configuration.databaseChunks, of: dbName).name
        let total = node?.metadata.chunks.total ?? configuration.collectionChunks
        for document in documents {
            let (record, chunk) = try layout.child(document.id, total: total, of: collectionName)
            do {
                // The longest names a write of it can make: a data chunk, and a later index page.
                if largest > RecordText.inlineLimit || configuration.backendLimits != nil {
                    _ = try record.prepending("\(FormatLimits.maxDataChunks - 1)-ffffffff")
                }
                _ = try collectionName.prepending(String(chunk)).prepending("_p9999")
            } catch {
                throw StoreError.invalidName(
                    "'\(path)/\(document.id)' makes DNS names too long under \(layout.root) (\(error)); use shorter names or a shorter domain")
            }
        }
        if root == nil { try await initialize() }
        if db == nil {
            do { try await createDatabase(database) } catch let error as StoreError where error.code == .alreadyExists {}
        }
        if node == nil {
            do { try await self.database(database).createCollection(collection) } catch let error as StoreError where error.code == .alreadyExists {}
        }
        return self.database(database).collection(collection)
    }

    /// The value, or nil when what it reads does not exist.
    private func existing<T>(_ read: () async throws -> T) async throws -> T? {
        do {
            return try await read()
        } catch let error as StoreError where error.code == .notFound {
            return nil
        }
    }
}

/// A database: a named group of collections.
public struct Database: Sendable {
    /// The store the database is in.
    public let store: DocumentStore
    /// The database's name, as given.
    public let name: String

    /// Creates a collection. Throws `.alreadyExists` if present, `.notFound` if the database is not.
    /// A private one (docs/FORMAT.md section 11) stores its ids sealed and its documents
    /// encrypted, with secrets wrapped under each of the store's encryption keys. With
    /// `ifMissing`, the database is created too if need be, and a collection already there is
    /// returned, unless it is plain where a private one was asked for (`.alreadyExists`: its
    /// documents would not be sealed).
    @discardableResult
    public func createCollection(
        _ collection: String, chunks: Int? = nil, private isPrivate: Bool = false, ifMissing: Bool = false
    ) async throws -> DocumentCollection {
        if ifMissing {
            try await store.createDatabase(name, ifMissing: true)
            do {
                return try await createCollection(collection, chunks: chunks, private: isPrivate)
            } catch let error as StoreError where error.code == .alreadyExists {
                let node = try await store.collection(named: collection, in: name, forWriting: true)
                if isPrivate, node.metadata.privacy == nil {
                    throw StoreError.alreadyExists(
                        "collection '\(name)/\(collection)' exists and is not private", path: "\(name)/\(collection)")
                }
                return self.collection(collection)
            }
        }
        var privacy: PrivateMetadata?
        if isPrivate {
            guard let keys = store.configuration.encryptionKeys, !keys.all.isEmpty else {
                throw StoreError.encryptionKey("a private collection needs an encryption key (the configuration's encryptionKeys)").wanting(.encryptionKeys)
            }
            try Naming.validate(collection)
            let place = CollectionSecrets.WrapPlace(root: store.layout.boundRoot, database: name, collection: collection)
            privacy = try CollectionSecrets.create(keys: keys, place: place).0
        }
        let node = try await store.database(named: name, forWriting: true)
        try await store.createNode(
            collection, path: "\(name)/\(collection)", level: .collection, under: node.name, parentTotal: node.metadata.chunks.total,
            chunks: chunks ?? store.configuration.collectionChunks, privacy: privacy)
        store.session.node([name, collection], exists: true)
        return self.collection(collection)
    }

    /// The names of its collections, sorted.
    public func collections() async throws -> [String] {
        let node = try await store.database(named: name)
        return try await store.readIndex(of: node.name, total: node.metadata.chunks.total, level: .collection).keys.sorted()
    }

    /// Drops a collection with all its documents.
    public func dropCollection(_ collection: String) async throws {
        let node = try await store.database(named: name, forWriting: true)
        let metadata = try await store.unlinkNode(
            collection, path: "\(name)/\(collection)", level: .collection, under: node.name, parentTotal: node.metadata.chunks.total)
        store.forget(collection: collection, in: name)
        store.unpin("\(name)/\(collection)")
        store.session.node([name, collection], exists: false)
        let (collectionNode, _) = try store.layout.child(collection, total: node.metadata.chunks.total, of: node.name)
        try await store.purgeCollection(at: collectionNode, metadata: metadata, database: name)
    }

    /// A handle on a collection; nothing is read until it is used.
    public func collection(_ collection: String) -> DocumentCollection {
        DocumentCollection(store: store, database: name, name: collection)
    }
}

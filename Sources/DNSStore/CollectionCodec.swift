import DNSWire

/// How one collection stores its ids and documents: ids as they are and documents compressed when
/// that pays, or, in a private collection, ids sealed and documents encrypted as well.
struct CollectionCodec: Sendable {
    let root: String
    let database: String
    let collection: String
    /// nil for a plain collection; for a private one, its secrets or why this store lacks them.
    let secrets: Result<CollectionSecrets, StoreError>?
    /// Whether writes compress (the store's configuration).
    var compression = true

    var path: String { "\(database)/\(collection)" }
    var isPrivate: Bool { secrets != nil }

    /// The private collection's secrets; nil for a plain collection; throws without the key.
    func sealed() throws -> CollectionSecrets? {
        switch secrets {
        case nil: return nil
        case .success(let secrets): return secrets
        case .failure(let error): throw error
        }
    }

    /// The id as the index and the record header hold it.
    func storedID(_ id: String) throws -> String {
        try sealed()?.storedID(id) ?? id
    }

    /// The id a stored id stands for.
    func realID(_ stored: String) throws -> String {
        try sealed()?.realID(stored) ?? stored
    }

    func place(storedID: String, version: Int) -> DocumentEncoding.Place {
        DocumentEncoding.Place(root: root, database: database, collection: collection, id: storedID, version: version)
    }

    /// A document's stored octets and header at `version`.
    func encode(_ document: [UInt8], id: String, storedID: String, version: Int) throws -> (header: RecordHeader, stored: [UInt8]) {
        let seal = try sealed().map { DocumentEncoding.Seal(key: $0.writeSecret, place: place(storedID: storedID, version: version)) }
        let (stored, e, k) = try DocumentEncoding.encode(document, compress: compression, seal: seal)
        var header = RecordHeader(v: version, id: storedID, n: stored.count, h: RecordText.digest(stored))
        header.e = e
        header.k = k
        return (header, stored)
    }

    /// The document of a record whose stored octets (inline or reassembled) are `stored`.
    func decode(_ stored: [UInt8], header: RecordHeader, id: String, at name: DNSName) throws -> [UInt8] {
        guard header.e != nil else { return stored }
        let what = "document '\(path)/\(id)'"
        return try DocumentEncoding.decode(
            stored, header: header,
            secret: { keyID in
                guard let secrets = try sealed() else {
                    throw StoreError.corrupted("\(what) is encrypted, but its collection is not private")
                }
                guard let secret = secrets.dataSecrets[keyID] else {
                    throw StoreError.encryptionKey("\(what) is encrypted with data secret \(keyID), which none of the keys given unwraps")
                }
                return secret
            },
            place: place(storedID: header.id, version: header.v), what: what, at: name.description)
    }
}

extension DocumentStore {
    /// A collection node's codec; throws when it is private and this store lacks its key, so a
    /// listing fails before it reads anything.
    func codec(of node: Node, in database: String) throws -> CollectionCodec {
        let codec = node.codec ?? codec(for: node.metadata, in: database)
        _ = try codec.sealed()
        return codec
    }

    /// The codec of a collection node, its secrets unwrapped with this store's keys.
    func codec(for metadata: NodeMetadata, in database: String) -> CollectionCodec {
        let root = layout.root.description
        let secrets = metadata.privacy.map { privacy -> Result<CollectionSecrets, StoreError> in
            let path = "\(database)/\(metadata.name)"
            guard let keys = configuration.encryptionKeys, !keys.all.isEmpty else {
                return .failure(.encryptionKey("collection '\(path)' is private: reading or writing it needs its encryption key (--encryption-key)"))
            }
            let place = CollectionSecrets.WrapPlace(root: root, database: database, collection: metadata.name)
            do {
                return .success(try CollectionSecrets.open(privacy, keys: keys, place: place, path: path))
            } catch let error as StoreError {
                return .failure(error)
            } catch {
                return .failure(.corrupted("collection '\(path)': \(error)"))
            }
        }
        return CollectionCodec(root: root, database: database, collection: metadata.name, secrets: secrets, compression: configuration.compression)
    }
}

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

    /// Whether this client holds encryption keys: then sealed ids in a plain collection are
    /// taken for what they are, a private collection whose metadata was stripped.
    var holdsKeys = false

    /// The id a stored id stands for.
    func realID(_ stored: String) throws -> String {
        if let secrets = try sealed() { return try secrets.realID(stored) }
        if holdsKeys, CollectionSecrets.looksSealed(stored) {
            throw StoreError.corrupted(
                "collection '\(path)' lists sealed ids, but its metadata is not private: it was altered", path: path)
        }
        return stored
    }

    func place(storedID: String, version: Int) -> DocumentEncoding.Place {
        DocumentEncoding.Place(root: root, database: database, collection: collection, id: storedID, version: version)
    }

    /// A document's stored octets and header at `version`.
    /// `compress: false` stores the document uncompressed whatever the collection's setting.
    func encode(
        _ document: [UInt8], id: String, storedID: String, version: Int, compress: Bool = true
    ) throws -> (header: RecordHeader, stored: [UInt8]) {
        let seal = try sealed().map { DocumentEncoding.Seal(key: $0.writeSecret, place: place(storedID: storedID, version: version)) }
        let (stored, e, k) = try DocumentEncoding.encode(document, compress: compression && compress, seal: seal)
        var header = RecordHeader(version: version, id: storedID, storedLength: stored.count, digest: RecordText.digest(stored))
        header.encoding = e
        header.keyID = k
        return (header, stored)
    }

    /// The document of a record whose stored octets (inline or reassembled, `n` and `h` already
    /// checked) are `stored`. In a private collection the record must be sealed as section 11.3
    /// says (its last step `aes256gcm`, `k` present, the box opening under the data secret with
    /// this place as associated data): anything else is a forgery or damage, never read as the
    /// stored octets. The result must be strict JSON (section 7), or the record is corrupt.
    func decode(_ stored: [UInt8], header: RecordHeader, id: String, at name: DNSName) throws -> [UInt8] {
        let what = "document '\(path)/\(id)'"
        if isPrivate, DocumentEncoding.steps(header.encoding)?.last != DocumentEncoding.aesGCM || header.keyID == nil {
            throw StoreError.corrupted(
                "\(what) at \(name) is not sealed (encoding '\(header.encoding ?? "none")') in a private collection: it was forged or damaged",
                path: "\(path)/\(id)")
        }
        var document = stored
        if header.encoding != nil {
            document = try DocumentEncoding.decode(
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
                place: place(storedID: header.id, version: header.version), what: what, at: name.description)
        }
        do {
            try JSONText.validate(document)
        } catch {
            throw StoreError.corrupted("\(what) at \(name) is not strict JSON (\(error))", path: "\(path)/\(id)")
        }
        return document
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
        guard let privacy = metadata.privacy else {
            var codec = CollectionCodec(
                root: layout.boundRoot, database: database, collection: metadata.name, secrets: nil, compression: configuration.compression)
            codec.holdsKeys = configuration.encryptionKeys.map { !$0.all.isEmpty } ?? false
            return codec
        }
        let path = "\(database)/\(metadata.name)"
        do {
            let (secrets, root) = try openSecrets(privacy, database: database, collection: metadata.name)
            return CollectionCodec(root: root, database: database, collection: metadata.name, secrets: .success(secrets), compression: configuration.compression)
        } catch {
            let failure = error as? StoreError ?? .corrupted("collection '\(path)': \(error)")
            return CollectionCodec(
                root: layout.boundRoot, database: database, collection: metadata.name, secrets: .failure(failure), compression: configuration.compression)
        }
    }

    /// A private collection's secrets, unwrapped with this store's keys, and the spelling of `R`
    /// its wraps were bound to (section 11.1): the lower-cased root, or for a collection created
    /// before that rule, the root as the domain is spelled here.
    func openSecrets(_ privacy: PrivateMetadata, database: String, collection: String) throws -> (CollectionSecrets, root: String) {
        let path = "\(database)/\(collection)"
        guard let keys = configuration.encryptionKeys, !keys.all.isEmpty else {
            throw StoreError.encryptionKey("collection '\(path)' is private: reading or writing it needs its encryption key").wanting(.encryptionKeys)
        }
        var firstError: (any Error)?
        for root in layout.rootSpellings {
            let place = CollectionSecrets.WrapPlace(root: root, database: database, collection: collection)
            do {
                return (try CollectionSecrets.open(privacy, keys: keys, place: place, path: path), root)
            } catch let error as StoreError where error.code == .corrupted {
                firstError = firstError ?? error
            }
        }
        throw firstError!
    }
}

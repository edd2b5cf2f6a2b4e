import DNSWire
import Foundation

extension DocumentStore {
    /// Where a document lives.
    struct RecordAddress: Sendable {
        var name: DNSName
        var chunk: Int
        var collection: Node
        /// The id as stored (sealed in a private collection).
        var storedID: String
        var codec: CollectionCodec

        /// The record index chunk that lists it.
        var indexChunk: IndexEdits.ChunkKey { IndexEdits.ChunkKey(node: collection.name, chunk: chunk, level: .record) }
    }

    func address(of id: String, in collection: String, of database: String, forWriting: Bool = false) async throws -> RecordAddress {
        let node = try await self.collection(named: collection, in: database, forWriting: forWriting)
        let codec = try self.codec(of: node, in: database)
        let storedID = try codec.storedID(id)
        let (name, chunk) = try layout.child(storedID, total: node.metadata.chunks.total, of: node.name)
        return RecordAddress(name: name, chunk: chunk, collection: node, storedID: storedID, codec: codec)
    }

    /// The record at `name` (header, inline body, exact RDATA), or nil; from the primary unless
    /// `route` says otherwise. `id` is the stored id.
    func readStoredRecord(_ name: DNSName, id: String, route: ReadRoute = .primary) async throws -> StoredRecord? {
        guard let rdata = try await readRecord(name, route: route) else { return nil }
        let record = try RecordText.parse(rdata, name: name)
        guard record.header.id == id else {
            throw StoreError.corrupted("\(name) holds document '\(record.header.id)', not '\(id)'")
        }
        return record
    }

    /// The route for reading a document: read servers as configured, whose answer must be no
    /// older than what this session saw or wrote of it.
    func documentRoute(_ key: Session.DocumentKey, name: DNSName) -> ReadRoute {
        let session = self.session
        return .reader(configuration.consistency) { answer in
            let version = answer.records.first.flatMap { try? RecordText.parse($0, name: name, tolerateNewer: true).header.version }
            return session.accepts(key, version: version)
        }
    }

    /// Reads a whole document; for chunked ones, its data chunks too, starting again when the
    /// document is replaced while being read, so the result is never torn. `key.id` is the id as
    /// the caller knows it, `storedID` as the record holds it. A chunked record found unchanged
    /// on a second read with a data chunk still missing or its digest still wrong is corrupt: a
    /// writer replacing it would have changed the record (section 8.3 of docs/FORMAT.md). After
    /// `maxReadAttempts` reads that each found it replaced, the read reports a conflict.
    /// A document attached to a lease that has lapsed is absent (section 13); `leases` remembers
    /// the leases read, for a listing or scan that reads many documents.
    func readDocument(
        at name: DNSName, key: Session.DocumentKey, storedID: String, codec: CollectionCodec, leases: LeaseLiveness? = nil
    ) async throws -> Document? {
        let id = key.id
        var lastBroken: RData?
        for _ in 0..<Self.maxReadAttempts {
            // What this client knew when the read left: a write of its own that lands while the
            // read is under way may leave the read with the version before it, in order.
            let known = session.knowledge(of: key)
            guard let record = try await readStoredRecord(name, id: storedID, route: documentRoute(key, name: name)) else { return nil }
            try checkNotRolledBack(key, known: known, version: record.header.version, at: name)
            session.saw(key, version: record.header.version)
            let header = record.header
            if let lease = header.lease {
                let liveness = leases ?? LeaseLiveness(self, route: .reader(configuration.consistency))
                guard try await liveness.isLive(lease) else { return nil }
            }
            guard let count = header.chunkCount, let generation = header.generation else {
                try verify(record.body, header, name, id: id)
                return Document(id: id, version: header.version, json: try codec.decode(record.body, header: header, id: id, at: name), lease: header.lease)
            }
            // A data chunk never changes under its name: any read server that has it will do.
            let present = ReadRoute.reader(configuration.consistency == .latest ? .session : configuration.consistency) { !$0.records.isEmpty }
            let (body, chunkNames, missing) = try await dataChunks(count, generation: generation, of: name, route: present)
            if missing == nil, body.count == header.storedLength, RecordText.digest(body) == header.digest {
                return Document(id: id, version: header.version, json: try codec.decode(body, header: header, id: id, at: name), lease: header.lease)
            }
            if lastBroken == record.rdata {
                let why = missing.map { "its data chunk \(chunkNames[$0]) is missing" } ?? "its data chunks fail its length or digest"
                throw StoreError.corrupted(
                    "document '\(codec.path)/\(id)' at \(name): \(why), and the record did not change when read again",
                    path: "\(codec.path)/\(id)")
            }
            lastBroken = record.rdata
        }
        throw StoreError.conflict("document '\(id)' kept changing while it was read (\(Self.maxReadAttempts) reads)")
    }

    /// A chunked record's stored octets: its `count` data chunks of generation `generation`, read
    /// where `route` says and joined in order, with their names; `missing` is the first that is
    /// absent (the octets are then empty).
    func dataChunks(
        _ count: Int, generation: String, of name: DNSName, route: ReadRoute
    ) async throws -> (octets: [UInt8], names: [DNSName], missing: Int?) {
        let names = try (0..<count).map { try layout.dataChunk($0, generation: generation, of: name) }
        // Chunks of 60,000 octets eight at a time; a backend's small chunks as many as reads go.
        let limit = configuration.backendLimits == nil ? 8 : max(8, configuration.readConcurrency)
        let pieces = try await concurrently(names, limit: limit) { chunkName -> [UInt8]? in
            guard let rdata = try await self.readRecord(chunkName, overTCP: true, route: route) else { return nil }
            return try self.text(of: rdata, at: chunkName)
        }
        let missing = pieces.firstIndex { $0 == nil }
        return (missing == nil ? pieces.flatMap { $0! } : [], names, missing)
    }

    /// Reads of one document that each found it replaced mid-read before a read gives up (8.3).
    static let maxReadAttempts = 8

    /// Throws when the primary (or a read server at `session` or `latest`) shows a document at a
    /// version below one this store object saw or wrote: the zone was rolled back, or a record
    /// put back (versions only grow, section 7.1). At `any`, a read server may lag, so that is
    /// not a rollback. `known` is the session's knowledge of the document taken before the read
    /// was sent, never after: what the client learned while the read was away it learned later.
    func checkNotRolledBack(_ key: Session.DocumentKey, known: Session.Knowledge?, version: Int, at name: DNSName, fromPrimary: Bool = false) throws {
        guard fromPrimary || replicas == nil || configuration.consistency != .any, let known else { return }
        let floor: Int
        switch known {
        case .atLeast(let v): floor = v
        case .deleted(let v): floor = v + 1
        }
        guard version >= floor else {
            let path = "\(key.database)/\(key.collection)/\(key.id)"
            throw StoreError.corrupted(
                "document '\(path)' at \(name) is at version \(version), below version \(floor) that this client saw: the store was rolled back or an old record put back",
                path: path)
        }
    }

    func verify(_ body: [UInt8], _ header: RecordHeader, _ name: DNSName, id: String? = nil) throws {
        let remedy = "'dnsstore fsck --repair --quarantine DIR' saves it and takes it out of the store"
        let id = id ?? header.id
        guard body.count == header.storedLength else {
            throw StoreError.corrupted("document '\(id)' at \(name) says \(header.storedLength) octets but holds \(body.count); \(remedy)")
        }
        guard RecordText.digest(body) == header.digest else {
            throw StoreError.corrupted("document '\(id)' at \(name) fails its digest; \(remedy)")
        }
    }
}

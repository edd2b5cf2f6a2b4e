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
            let version = answer.records.first.flatMap { try? RecordText.parse($0, name: name, anyEncoding: true).header.v }
            return session.accepts(key, version: version)
        }
    }

    /// Reads a whole document; for chunked ones, its data chunks too, starting again when the
    /// document is replaced while being read, so the result is never torn. `key.id` is the id as
    /// the caller knows it, `storedID` as the record holds it.
    func readDocument(at name: DNSName, key: Session.DocumentKey, storedID: String, codec: CollectionCodec) async throws -> Document? {
        let id = key.id
        for _ in 0..<8 {
            guard let record = try await readStoredRecord(name, id: storedID, route: documentRoute(key, name: name)) else { return nil }
            session.saw(key, version: record.header.v)
            let header = record.header
            guard let count = header.c, let generation = header.g else {
                try verify(record.body, header, name, id: id)
                return Document(id: id, version: header.v, json: try codec.decode(record.body, header: header, id: id, at: name))
            }
            let chunkNames = try (0..<count).map { try layout.dataChunk($0, generation: generation, of: name) }
            // A data chunk never changes under its name: any read server that has it will do.
            let present = ReadRoute.reader(configuration.consistency == .latest ? .session : configuration.consistency) { !$0.records.isEmpty }
            let pieces = try await concurrently(chunkNames, limit: 8) { chunkName -> [UInt8]? in
                guard let rdata = try await self.readRecord(chunkName, overTCP: true, route: present) else { return nil }
                return try self.text(of: rdata, at: chunkName)
            }
            guard !pieces.contains(where: { $0 == nil }) else { continue }
            let body = pieces.flatMap { $0! }
            guard body.count == header.n, RecordText.digest(body) == header.h else { continue }
            return Document(id: id, version: header.v, json: try codec.decode(body, header: header, id: id, at: name))
        }
        throw StoreError.conflict("document '\(id)' kept changing while it was read")
    }

    func verify(_ body: [UInt8], _ header: RecordHeader, _ name: DNSName, id: String? = nil) throws {
        let remedy = "'dnsstore fsck --repair --quarantine DIR' saves it and takes it out of the store"
        let id = id ?? header.id
        guard body.count == header.n else {
            throw StoreError.corrupted("document '\(id)' at \(name) says \(header.n) octets but holds \(body.count); \(remedy)")
        }
        guard RecordText.digest(body) == header.h else {
            throw StoreError.corrupted("document '\(id)' at \(name) fails its digest; \(remedy)")
        }
    }
}

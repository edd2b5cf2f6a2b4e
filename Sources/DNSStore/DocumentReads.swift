import DNSWire
import Foundation

extension DNSStore {
    /// Where a document lives.
    struct RecordAddress: Sendable {
        var name: DNSName
        var chunk: Int
        var collection: Node

        /// The record index chunk that lists it.
        var indexChunk: IndexEdits.ChunkKey { IndexEdits.ChunkKey(node: collection.name, chunk: chunk, level: .record) }
    }

    func address(of id: String, in collection: String, of database: String, forWriting: Bool = false) async throws -> RecordAddress {
        let node = try await self.collection(named: collection, in: database, forWriting: forWriting)
        let (name, chunk) = try layout.child(id, total: node.metadata.chunks.total, of: node.name)
        return RecordAddress(name: name, chunk: chunk, collection: node)
    }

    /// The record at `name` (header, inline body, exact RDATA), or nil; from the primary unless
    /// `route` says otherwise.
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
    /// document is replaced while being read, so the result is never torn.
    func readDocument(at name: DNSName, key: Session.DocumentKey) async throws -> Document? {
        let id = key.id
        for _ in 0..<8 {
            guard let record = try await readStoredRecord(name, id: id, route: documentRoute(key, name: name)) else { return nil }
            session.saw(key, version: record.header.v)
            let header = record.header
            guard let count = header.c, let generation = header.g else {
                try verify(record.body, header, name)
                return Document(id: id, version: header.v, json: record.body)
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
            return Document(id: id, version: header.v, json: body)
        }
        throw StoreError.conflict("document '\(id)' kept changing while it was read")
    }

    func verify(_ body: [UInt8], _ header: RecordHeader, _ name: DNSName) throws {
        let remedy = "'dnsstore fsck --repair --quarantine DIR' saves it and takes it out of the store"
        guard body.count == header.n else {
            throw StoreError.corrupted("document '\(header.id)' at \(name) says \(header.n) octets but holds \(body.count); \(remedy)")
        }
        guard RecordText.digest(body) == header.h else {
            throw StoreError.corrupted("document '\(header.id)' at \(name) fails its digest; \(remedy)")
        }
    }
}

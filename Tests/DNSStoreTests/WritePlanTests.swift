@testable import DNSStore
import DNSWire
import Foundation
import Testing

/// The write path's plan as a value (section 8 of docs/FORMAT.md): from what a write read, the one
/// UPDATE that makes it a compare-and-swap, the data chunks to write first and the versions it
/// gives, with no server and no I/O.
@Suite("Write plans")
struct WritePlanTests {
    static let layout = try! StoreLayout(domain: "example.test.")
    static let zone: DNSName = "example.test."
    static let collectionName: DNSName = try! layout.root.prepending("0").prepending("db").prepending("0").prepending("c")
    static let collectionRData = RData.txt(TXT(splitting: Array(#"{"name":"c","chunks":{"total":1}}"#.utf8)))

    static func codec(compression: Bool = true) -> CollectionCodec {
        var codec = CollectionCodec(root: layout.boundRoot, database: "db", collection: "c", secrets: nil)
        codec.compression = compression
        return codec
    }

    static func address(_ id: String, codec: CollectionCodec = codec()) throws -> DocumentStore.RecordAddress {
        let node = DocumentStore.Node(
            name: collectionName, metadata: NodeMetadata(name: "c", chunks: ChunkCount(total: 1)), chunk: 0, rdata: collectionRData, codec: codec)
        let (name, chunk) = try layout.child(id, total: 1, of: collectionName)
        return DocumentStore.RecordAddress(name: name, chunk: chunk, collection: node, storedID: id, codec: codec)
    }

    /// The record index chunk of the collection as read: one page listing `ids` at `floor`.
    static func chunk(listing ids: [String], floor: Int = 0) throws -> [IndexEdits.ChunkKey: IndexChunkPlan] {
        let key = IndexEdits.ChunkKey(node: collectionName, chunk: 0, level: .record)
        let name = try layout.indexPage(0, chunk: 0, of: collectionName)
        let loaded: LoadedPage
        if ids.isEmpty && floor == 0 {
            loaded = LoadedPage(name: name, rdata: nil, page: IndexPage(chunk: 0, page: 0))
        } else {
            let page = IndexPage(chunk: 0, page: 0, floor: floor, entries: Dictionary(uniqueKeysWithValues: ids.map { ($0, IndexEntry.document(lease: nil)) }))
            loaded = LoadedPage(name: name, rdata: .txt(TXT(splitting: try page.text(level: .record))), page: page)
        }
        return [key: IndexChunkPlan(level: .record, chunk: 0, original: [loaded]) { try layout.indexPage($0, chunk: 0, of: collectionName) }]
    }

    /// A stored document `id` at `version`, as a reader would have parsed it.
    static func stored(_ id: String, _ json: String, version: Int) throws -> StoredRecord {
        let address = try address(id)
        let (header, body) = try address.codec.encode(Array(json.utf8), id: id, storedID: id, version: version)
        let rdata = try RecordText.rdata(header: header, body: body)
        return try RecordText.parse(rdata, name: address.name)
    }

    static func plan(
        _ ops: [WriteOp], currents: [StoredRecord?], chunk plans: [IndexEdits.ChunkKey: IndexChunkPlan], codec: CollectionCodec = codec(),
        highestSeen: @escaping (Session.DocumentKey) -> Int? = { _ in nil }
    ) throws -> WritePlan {
        let addresses = try ops.map { try address($0.id, codec: codec) }
        let reading = WriteReading(ops: ops, addresses: addresses, currents: currents, plans: plans)
        return try WritePlan(reading, zone: zone, recordTTL: 30, layout: layout, highestSeen: highestSeen, generation: { "0badcafe" })
    }

    /// The TXT text an UPDATE writes at `name`, if it writes one.
    static func written(_ update: UpdateBuilder, at name: DNSName) -> [UInt8]? {
        for case .add(let record) in update.operations where record.name == name {
            if case .txt(let txt) = record.rdata { return txt.joined }
        }
        return nil
    }

    @Test func aNewDocumentRequiresItsNameFreeTakesTheFloorPlusOneAndJoinsTheIndex() throws {
        let op = WriteOp(database: "db", collection: "c", id: "web1", mode: .insert, body: Array(#"{"ip":"10.0.0.5"}"#.utf8))
        let plan = try Self.plan([op], currents: [nil], chunk: try Self.chunk(listing: [], floor: 6))
        let address = try Self.address("web1")
        #expect(plan.versions == [7])
        #expect(plan.dataChunks.isEmpty)
        #expect(plan.update.prerequisites.contains(.rrsetEquals(Self.collectionName, .txt, [Self.collectionRData])))
        #expect(plan.update.prerequisites.contains(.rrsetDoesNotExist(address.name, .txt)))
        let record = try #require(Self.written(plan.update, at: address.name))
        let parsed = try RecordText.parse(.txt(TXT(splitting: record)), name: address.name)
        #expect(parsed.header.version == 7)
        #expect(try address.codec.decode(parsed.body, header: parsed.header, id: "web1", at: address.name) == Array(#"{"ip":"10.0.0.5"}"#.utf8))
        let pageName = try Self.layout.indexPage(0, chunk: 0, of: Self.collectionName)
        let page = try IndexPage(text: try #require(Self.written(plan.update, at: pageName)), level: .record, name: pageName)
        #expect(page.entries.keys.sorted() == ["web1"])
    }

    @Test func aCompareAndSwapRequiresTheRecordAsReadAndLeavesTheIndexAlone() throws {
        let current = try Self.stored("web1", #"{"n":1}"#, version: 3)
        let op = WriteOp(database: "db", collection: "c", id: "web1", mode: .update(expected: 3), body: Array(#"{"n":2}"#.utf8))
        let plan = try Self.plan([op], currents: [current], chunk: try Self.chunk(listing: ["web1"]))
        let address = try Self.address("web1")
        #expect(plan.versions == [4])
        #expect(plan.update.prerequisites.contains(.rrsetEquals(address.name, .txt, [current.rdata])))
        // The entry is unchanged, so no index page is required or written: writers of other
        // documents in the chunk do not race with this one.
        let pageName = try Self.layout.indexPage(0, chunk: 0, of: Self.collectionName)
        #expect(Self.written(plan.update, at: pageName) == nil)
        #expect(!plan.update.prerequisites.contains { if case .rrsetEquals(pageName, _, _) = $0 { return true } else { return false } })
    }

    @Test func aDeleteRemovesTheRecordAndItsEntryAndRaisesTheFloorToItsVersion() throws {
        let current = try Self.stored("web1", #"{"n":1}"#, version: 9)
        let op = WriteOp(database: "db", collection: "c", id: "web1", mode: .delete(expected: nil))
        let plan = try Self.plan([op], currents: [current], chunk: try Self.chunk(listing: ["web1", "web2"]))
        let address = try Self.address("web1")
        #expect(plan.versions == [9])
        #expect(plan.update.operations.contains(.deleteName(address.name)))
        let pageName = try Self.layout.indexPage(0, chunk: 0, of: Self.collectionName)
        let page = try IndexPage(text: try #require(Self.written(plan.update, at: pageName)), level: .record, name: pageName)
        #expect(page.entries.keys.sorted() == ["web2"])
        // An id deleted and created again never repeats a version (section 7.1).
        #expect(page.floor >= 9)
    }

    @Test func aLargeDocumentIsWrittenInDataChunksNamedByItsGeneration() throws {
        let codec = Self.codec(compression: false)
        let big = "{\"x\":\"" + String(repeating: "a", count: 130_000) + "\"}"
        let op = WriteOp(database: "db", collection: "c", id: "big", mode: .put, body: Array(big.utf8))
        let plan = try Self.plan([op], currents: [nil], chunk: try Self.chunk(listing: []), codec: codec)
        let address = try Self.address("big", codec: codec)
        #expect(plan.dataChunks.count == 3)
        #expect(plan.dataChunks.map(\.name) == (try (0..<3).map { try Self.layout.dataChunk($0, generation: "0badcafe", of: address.name) }))
        #expect(plan.dataChunks.flatMap(\.text) == Array(big.utf8))
        let record = try RecordText.parse(.txt(TXT(splitting: try #require(Self.written(plan.update, at: address.name)))), name: address.name)
        #expect(record.header.chunkCount == 3)
        #expect(record.header.generation == "0badcafe")
        #expect(record.body.isEmpty)
    }

    @Test func replacingAChunkedDocumentDeletesItsOldChunksInTheSameUpdate() throws {
        let codec = Self.codec(compression: false)
        let big = "{\"x\":\"" + String(repeating: "b", count: 70_000) + "\"}"
        let first = try Self.plan(
            [WriteOp(database: "db", collection: "c", id: "big", mode: .put, body: Array(big.utf8))], currents: [nil],
            chunk: try Self.chunk(listing: []), codec: codec)
        let address = try Self.address("big", codec: codec)
        let current = try RecordText.parse(.txt(TXT(splitting: try #require(Self.written(first.update, at: address.name)))), name: address.name)
        let small = WriteOp(database: "db", collection: "c", id: "big", mode: .put, body: Array(#"{"x":"small"}"#.utf8))
        let plan = try Self.plan([small], currents: [current], chunk: try Self.chunk(listing: ["big"]), codec: codec)
        for name in first.dataChunks.map(\.name) { #expect(plan.update.operations.contains(.deleteName(name))) }
        #expect(plan.dataChunks.isEmpty)
        #expect(plan.versions == [current.header.version + 1])
    }

    @Test func aFloorBelowAVersionThisClientSawIsRefusedAsARollback() throws {
        let op = WriteOp(database: "db", collection: "c", id: "web1", mode: .put, body: Array("{}".utf8))
        let error = #expect(throws: StoreError.self) {
            _ = try Self.plan([op], currents: [nil], chunk: try Self.chunk(listing: [], floor: 2), highestSeen: { _ in 5 })
        }
        #expect(error?.code == .corrupted)
    }

    @Test func aBatchIsOneUpdateWithOnePrerequisitePerDocumentAndOneIndexWrite() throws {
        let ops = ["a", "b", "c"].map { WriteOp(database: "db", collection: "c", id: $0, mode: .insert, body: Array("{}".utf8)) }
        let plan = try Self.plan(ops, currents: [nil, nil, nil], chunk: try Self.chunk(listing: []))
        #expect(plan.versions == [1, 1, 1])
        for id in ["a", "b", "c"] { #expect(plan.update.prerequisites.contains(.rrsetDoesNotExist(try Self.address(id).name, .txt))) }
        // The collection is required once, however many of its documents the batch writes.
        #expect(plan.update.prerequisites.filter { $0 == .rrsetEquals(Self.collectionName, .txt, [Self.collectionRData]) }.count == 1)
        let pageName = try Self.layout.indexPage(0, chunk: 0, of: Self.collectionName)
        #expect(plan.update.operations.filter { if case .add(let r) = $0 { return r.name == pageName } else { return false } }.count == 1)
    }
}

import DNSClient
import DNSStore
import DNSWire
import Foundation
import Testing

@Suite("Bulk writes")
struct BulkWriteTests {
    static func documents(_ count: Int, tag: Int = 0) -> [(id: String, json: [UInt8])] {
        (0..<count).map { i in ("doc-\(i)", Array(#"{"n":\#(i),"tag":\#(tag),"role":"web"}"#.utf8)) }
    }

    @Test(arguments: Backend.storeSuite)
    func manyDocumentsGoInFewUpdatesAndARunAgainChangesNothing(_ backend: Backend) async throws {
        try await StoreFixture.with(backend) { f in
            let docs = try await f.store.createDatabase("app").createCollection("docs")
            f.transport.reset()
            let first = try await docs.putMany(Self.documents(1_000))
            #expect(first == { var p = BulkWriteProgress(); p.written = 1_000; p.octets = first.octets; return p }())
            // Many documents per UPDATE: a few per index chunk, not one per document.
            #expect(f.transport.updates <= 64, "\(f.transport.updates) UPDATEs for 1,000 documents")
            let (cold, _) = try f.coldStore()
            let collection = cold.database("app").collection("docs")
            #expect(try await collection.ids().count == 1_000)
            #expect(try await collection.get("doc-417")?.json == Array(#"{"n":417,"tag":0,"role":"web"}"#.utf8))
            #expect(try await collection.get("doc-417")?.version == 1)
            // The same write again: everything is in place already, so nothing is sent.
            f.transport.reset()
            let again = try await docs.putMany(Self.documents(1_000))
            #expect(again.unchanged == 1_000 && again.written == 0)
            #expect(f.transport.updates == 0)
            #expect(try await collection.get("doc-417")?.version == 1)
            // Half of them changed: only those are written, each to its next version.
            var mixed = Self.documents(1_000)
            for i in stride(from: 0, to: 1_000, by: 2) { mixed[i].json = Array(#"{"n":\#(i),"tag":1}"#.utf8) }
            let changed = try await docs.putMany(mixed)
            #expect(changed.written == 500 && changed.unchanged == 500)
            #expect(try await collection.get("doc-418")?.version == 2)
            #expect(try await collection.get("doc-417")?.version == 1)
            #expect(try await f.store.check(repair: false).problems.isEmpty)
        }
    }

    @Test func invalidDocumentsAreRefusedBeforeAnythingIsWritten() async throws {
        try await StoreFixture.with(Backend.inProcess) { f in
            let docs = try await f.store.createDatabase("app").createCollection("docs")
            var rows = Self.documents(100)
            rows[60].json = Array("{not json".utf8)
            await #expect(throws: BulkWriteError.self) { try await docs.putMany(rows) }
            #expect(try await docs.ids().isEmpty)
            // A large document rides alone; the rest are packed.
            rows[60].json = Array(("{\"pad\":\"" + String(repeating: "x", count: 40_000) + "\"}").utf8)
            let result = try await docs.putMany(rows)
            #expect(result.written + result.unchanged == 100)
            #expect(try await docs.get("doc-60")?.json.count == 40_010)
        }
    }
}

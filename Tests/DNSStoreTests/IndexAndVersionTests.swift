@testable import DNSStore
import DNSClient
import DNSTestSupport
import DNSWire
import Testing

/// Index pages that stay within their size and reuse freed room, and versions that never repeat,
/// on every kind of server.
@Suite("Index pages and versions")
struct IndexAndVersionTests {
    @Test(arguments: Backend.selected)
    func versionsOfAnIdNeverRepeatAcrossDeleteAndCreate(_ kind: Backend) async throws {
        try await StoreFixture.with(kind) { f in
            // One chunk, so that every id shares the floor.
            let docs = try await f.store.createDatabase("app").createCollection("docs", chunks: 1)
            #expect(try await docs.put("x", Counter(count: 1)) == 1)
            #expect(try await docs.put("x", Counter(count: 2)) == 2)
            #expect(try await docs.delete("x") == 2)
            // Created again: it does not start at 1 again, so a compare-and-swap prepared
            // against the old document cannot succeed on the new one.
            #expect(try await docs.put("x", Counter(count: 3)) == 3)
            await expectStoreError(.conflict, path: "app/docs/x", expected: 1, actual: 3) {
                try await docs.update("x", Counter(count: 9), ifVersion: 1)
            }
            await expectStoreError(.conflict, path: "app/docs/x", expected: 2, actual: 3) {
                try await docs.delete("x", ifVersion: 2)
            }
            // An insert, a batch and another client all start above what was deleted.
            #expect(try await docs.delete("x") == 3)
            #expect(try await docs.insert("x", Counter(count: 4)) == 4)
            #expect(try await docs.insert("y", Counter(count: 1)) == 4)
            let other = try f.freshStore(key: f.server.key)
            #expect(try await other.database("app").collection("docs").delete("y") == 4)
            let versions = try await f.store.batch { b in
                try b.put(docs, "y", Counter(count: 2))
                try b.put(docs, "z", Counter(count: 1))
            }
            #expect(versions == [5, 5])
        }
    }

    @Test(arguments: Backend.selected)
    func pagesStayWithinTheirSizeReuseRoomAndShrink(_ kind: Backend) async throws {
        try await StoreFixture.with(kind) { f in
            let docs = try await f.store.createDatabase("app").createCollection("docs", chunks: 1)
            let node = try await docs.recordName(of: "a").parent.parent
            func page(_ k: Int) throws -> DNSName {
                let chunk = try node.prepending("0")
                return k == 0 ? chunk : try chunk.prepending("_p\(k)")
            }
            func read(_ k: Int) async throws -> IndexPage? {
                guard let rdata = try await f.transport.client.lookup(try page(k), overTCP: true).records.first else { return nil }
                guard case .txt(let txt) = rdata else { return nil }
                #expect(txt.joined.count <= IndexPage.maxTextOctets, "page \(k) is \(txt.joined.count) octets")
                return try IndexPage(text: txt.joined, level: .record, name: try page(k))
            }
            // 200-character ids: about 75 a page, so 180 of them take three pages.
            func id(_ i: Int) -> String { "\(i)-" + String(repeating: "i", count: 198 - String(i).count) }
            for start in stride(from: 0, to: 180, by: 10) {
                try await f.store.batch { b in
                    for i in start..<(start + 10) { b.putJSON(docs, id(i), Array("{}".utf8)) }
                }
            }
            #expect(try await read(0)?.pages == 3)
            #expect(try await docs.ids().count == 180)

            // Empty page 0; new ids go there, not to a fourth page.
            let onPage0 = try #require(try await read(0)).entries.keys
            for start in stride(from: 0, to: onPage0.count, by: 10) {
                let ids = Array(onPage0.sorted().dropFirst(start).prefix(10))
                try await f.store.batch { b in for i in ids { b.delete(docs, i) } }
            }
            let page0 = try #require(try await read(0))
            #expect(page0.entries.isEmpty && page0.pages == 3)
            try await docs.putJSON("fresh", Array("{}".utf8))
            #expect(try await read(0)?.entries.keys.contains("fresh") == true)
            #expect(try await read(0)?.pages == 3)

            // Empty the last page: the count shrinks and the page is gone.
            let onPage2 = try #require(try await read(2)).entries.keys
            try await f.store.batch { b in for i in onPage2 { b.delete(docs, i) } }
            #expect(try await read(0)?.pages == 2)
            #expect(try await read(2) == nil)
            #expect(Set(try await docs.ids()).count == 180 - onPage0.count - onPage2.count + 1)
        }
    }
}

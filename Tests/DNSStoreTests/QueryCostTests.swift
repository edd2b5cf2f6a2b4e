import DNSClient
import DNSStore
import DNSTestSupport
import DNSWire
import Testing

/// What a cold command costs in DNS messages: what README.md promises.
@Suite("Query costs")
struct QueryCostTests {
    @Test(arguments: [Backend.inProcess, .bind])
    func aColdPutCostsNoMoreThanAColdDeletePlusOne(_ kind: Backend) async throws {
        try await StoreFixture.with(kind) { f in
            let docs = try await f.store.createDatabase("inventory").createCollection("hosts")
            for i in 0..<20 { try await docs.put("host\(i)", ["n": i]) }

            func cold(_ body: (DocumentStore) async throws -> Void) async throws -> (queries: Int, updates: Int) {
                let (store, counter) = try f.coldStore()
                try await body(store)
                return (counter.queries, counter.updates)
            }
            let put = try await cold { store in
                let body = Array(#"{"ip":"10.0.0.5"}"#.utf8)
                try await store.collectionForWriting("inventory", "hosts", documents: [("web1", body)]).putJSON("web1", body)
            }
            let delete = try await cold { store in try await store.database("inventory").collection("hosts").delete("host3") }
            let get = try await cold { store in _ = try await store.database("inventory").collection("hosts").get("host4") }
            #expect(put.updates == 1 && delete.updates == 1)
            #expect(put.queries <= delete.queries + 1, "put \(put.queries) queries, delete \(delete.queries)")
            #expect(put.queries == 5 && delete.queries == 5 && get.queries == 4, "put \(put), delete \(delete), get \(get)")
        }
    }

    /// A writer that keeps moving its own documents between indexed values plans over the list pages
    /// it wrote last (ListPageCache): once it has written each list, a put that changes the indexed
    /// value costs the one query that reads the document, and the lists stay right.
    @Test func aWriterChangingIndexedValuesReadsNoListOnceItWroteThem() async throws {
        try await StoreFixture.with(.inProcess) { f in
            let hosts = try await f.store.createDatabase("inv").createCollection("hosts")
            try await hosts.createIndex("role")
            let (store, counter) = try f.coldStore()
            let mine = store.database("inv").collection("hosts")
            let roles = ["web", "db", "cache"]
            // Three rounds put each document at each value: every list page the fourth round
            // touches was last written by this store object.
            for round in 0..<3 {
                for i in 0..<6 { try await mine.put("h\(i)", ["role": roles[(i + round) % 3]]) }
            }
            let before = (counter.queries, counter.updates)
            for i in 0..<6 { try await mine.put("h\(i)", ["role": roles[(i + 3) % 3]]) }
            #expect(counter.updates - before.1 == 6)
            #expect(counter.queries - before.0 == 6, "\(counter.queries - before.0) queries for 6 puts")
            for (r, role) in roles.enumerated() {
                let expected = (0..<6).filter { $0 % 3 == r }.map { "h\($0)" }
                #expect(try await hosts.find(.equals("role", .string(role))).map(\.id).sorted() == expected, "\(role)")
            }
            #expect(try await f.store.check(repair: false).problems.isEmpty)
        }
    }

    /// The cost of a cold put does not grow with the collection: page 0's hint names the page with
    /// room, so a chunk of many pages costs one query more than a chunk of one.
    @Test func aColdPutCostsTheSameInACollectionOfManyPages() async throws {
        try await StoreFixture.with(.inProcess) { f in
            let docs = try await f.store.createDatabase("inventory").createCollection("hosts", chunks: 1)
            let documents = (0..<3_000).map { i in (id: "host-\(i)-" + String(repeating: "x", count: 20), json: Array(#"{"n":1}"#.utf8)) }
            try await docs.putMany(documents)
            func coldPut(_ id: String) async throws -> Int {
                let (store, counter) = try f.coldStore()
                try await store.database("inventory").collection("hosts").putJSON(id, Array(#"{"ip":"10.0.0.5"}"#.utf8))
                return counter.queries
            }
            let first = try await coldPut("web1")
            let later = try await coldPut("web2")
            // Root, database, collection, record, page 0 and the hinted page.
            #expect(first <= 6 && later <= 6, "cold puts cost \(first) and \(later) queries")
            let (store, _) = try f.coldStore()
            #expect(try await store.database("inventory").collection("hosts").ids().count == 3_002)
            let report = try await store.check(repair: false)
            #expect(report.isClean, "\(report.problems)")
        }
    }

    @Test func deletesInAChunkOfManyPagesEmptyPagesAndKeepTheLayout() async throws {
        try await StoreFixture.with(.inProcess) { f in
            let docs = try await f.store.createDatabase("inventory").createCollection("hosts", chunks: 1)
            let ids = (0..<3_000).map { "host-\($0)-" + String(repeating: "x", count: 20) }
            try await docs.putMany(ids.map { (id: $0, json: Array(#"{"n":1}"#.utf8)) })
            // One at a time from a cold store (the first, a middle and a late id), then the last
            // 1,200 in batches, which empties the last pages.
            for id in [ids[0], ids[1_500], ids[2_999]] {
                let (store, _) = try f.coldStore()
                _ = try await store.database("inventory").collection("hosts").delete(id)
            }
            for start in stride(from: 1_800, to: 2_999, by: 100) {
                let (store, _) = try f.coldStore()
                let hosts = store.database("inventory").collection("hosts")
                _ = try await store.batch { batch in for id in ids[start..<min(start + 100, 2_999)] { batch.delete(hosts, id) } }
            }
            let (store, _) = try f.coldStore()
            let left = try await store.database("inventory").collection("hosts").ids()
            #expect(left.count == 1_798)
            #expect(Set(left) == Set(ids[1..<1_800]).subtracting([ids[1_500]]))
            let report = try await store.check(repair: false)
            #expect(report.isClean, "\(report.problems)")
        }
    }
}

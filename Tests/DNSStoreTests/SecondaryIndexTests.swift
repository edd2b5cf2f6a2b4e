import DNSStore
import DNSTestSupport
import Foundation
import Testing

/// Secondary indexes (docs/FORMAT.md section 14): kept by every write in the document's own
/// UPDATE, used by `find`, checked by `fsck`.
@Suite("Secondary indexes")
struct SecondaryIndexTests {
    struct Host: Codable, Sendable, Equatable {
        var role: String
        var n: Int
    }

    /// What `find` must give, by reading every document: the index's answer is compared with it.
    static func scanned(_ collection: DocumentCollection, _ filter: Filter) async throws -> [String] {
        try await collection.documents().filter { filter.matches($0) }.map(\.id).sorted()
    }

    static func found(_ collection: DocumentCollection, _ filter: Filter) async throws -> [String] {
        try await collection.find(filter).map(\.id).sorted()
    }

    /// Every kind of write keeps the index: after each, `find` through the index gives exactly
    /// what reading every document gives, and `fsck` finds nothing wrong.
    @Test(arguments: Backend.storeSuite)
    func everyWriteKeepsTheIndex(_ backend: Backend) async throws {
        try await StoreFixture.with(backend) { f in
            let hosts = try await f.store.createDatabase("inv").createCollection("hosts")
            for i in 0..<12 { try await hosts.put("h\(i)", Host(role: i % 3 == 0 ? "db" : "web", n: i)) }
            let built = try await hosts.createIndex("role")
            #expect(built.added == 12 && built.documents == 12)
            #expect(try await hosts.indexes()["role"]?.state == .readable)
            let web: Filter = .equals("role", "web")
            let plan = try await hosts.explain(.and([.equals("n", 3), web]))
            #expect(plan.index == "role" && plan.value == "\"web\"" && !plan.readsEveryDocument)

            func agrees(_ what: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
                for role in ["web", "db", "cache"] {
                    let filter: Filter = .equals("role", .string(role))
                    #expect(try await Self.found(hosts, filter) == Self.scanned(hosts, filter), "\(what): role=\(role)", sourceLocation: sourceLocation)
                }
                let check = try await f.store.check(repair: false)
                #expect(check.problems.isEmpty, "\(what): \(check.problems)", sourceLocation: sourceLocation)
            }
            try await agrees("built")
            try await hosts.put("h1", Host(role: "db", n: 1))
            try await agrees("put changing the value")
            _ = try await hosts.insert("h20", Host(role: "cache", n: 20))
            try await agrees("insert")
            let h2 = try #require(try await hosts.get("h2"))
            _ = try await hosts.update("h2", Host(role: "cache", n: 2), ifVersion: h2.version)
            try await agrees("update")
            _ = try await hosts.delete("h3")
            try await agrees("delete")
            try await hosts.putJSON("h4", Array(#"{"n":4}"#.utf8))
            try await agrees("the field removed")
            _ = try await f.store.batch { batch in
                try batch.put(hosts, "h5", Host(role: "web", n: 5))
                try batch.put(hosts, "h6", Host(role: "db", n: 6))
                batch.delete(hosts, "h7")
                try batch.insert(hosts, "h21", Host(role: "web", n: 21))
            }
            try await agrees("batch")
            _ = try await hosts.putMany((30..<60).map { i in ("m\(i)", Array(#"{"role":"cache","n":\#(i)}"#.utf8)) })
            try await agrees("putMany")
            // A document stored in data chunks: its old value is read from them.
            let pad = (0..<6_000).map { String(($0 &* 2_654_435_761) & 0xffff_ffff, radix: 16) }.joined(separator: ",")
            try await hosts.putJSON("large", Array(#"{"role":"web","pad":"\#(pad)"}"#.utf8))
            try await hosts.putJSON("large", Array(#"{"role":"db","pad":"\#(pad)"}"#.utf8))
            #expect(try await hosts.dnsRecords(of: "large").count > 1, "the document is stored in data chunks")
            try await agrees("a chunked document moved")
            let lease = try await f.store.grant(ttl: 30)
            _ = try await hosts.put("leased", Host(role: "web", n: 99), lease: lease)
            try await agrees("put with a lease")
            _ = try await f.store.revoke(lease.id)
            try await agrees("lease revoked")
            #expect(try await Self.found(hosts, web).contains("h5"))
            #expect(!(try await Self.found(hosts, web).contains("leased")))
        }
    }

    /// A find through an index costs its list's chunks and one query per document it lists, not
    /// a query per document of the collection.
    @Test(arguments: Backend.storeSuite)
    func aFindThroughAnIndexCostsQueriesInProportionToItsMatches(_ backend: Backend) async throws {
        try await StoreFixture.with(backend) { f in
            let hosts = try await f.store.createDatabase("inv").createCollection("hosts")
            _ = try await hosts.putMany((0..<300).map { i in ("h\(i)", Array(#"{"role":"\#(i % 30 == 0 ? "web" : "db")","n":\#(i)}"#.utf8)) })
            let filter: Filter = .equals("role", "web")
            _ = try await hosts.find(filter)  // metadata cached
            f.transport.reset()
            let scanned = try await hosts.find(filter)
            let scanQueries = f.transport.queries
            try await hosts.createIndex("role", chunks: 2)
            _ = try await hosts.find(filter)
            f.transport.reset()
            let indexed = try await hosts.find(filter)
            #expect(indexed.map(\.id) == scanned.map(\.id) && indexed.count == 10)
            #expect(f.transport.queries <= 2 + 10 + 2, "\(f.transport.queries) queries through the index, \(scanQueries) by reading every document")
            #expect(scanQueries >= 300)
        }
    }

    /// A unique index admits one of sixteen writers racing to insert the same value under
    /// different ids; the others are refused, and the index lists exactly the one.
    @Test(arguments: Backend.storeSuite)
    func aUniqueIndexAdmitsOneOfSixteenRacingInserts(_ backend: Backend) async throws {
        try await StoreFixture.with(backend) { f in
            let users = try await f.store.createDatabase("acct").createCollection("users")
            try await users.createIndex("email", unique: true)
            let results = try await withThrowingTaskGroup(of: Bool.self) { group in
                for i in 0..<16 {
                    group.addTask {
                        let (store, _) = try f.connect(f.writeKey)
                        do {
                            _ = try await store.database("acct").collection("users").insertJSON("u\(i)", Array(#"{"email":"a@example.com","i":\#(i)}"#.utf8))
                            return true
                        } catch let error as StoreError where error.code == .alreadyExists {
                            #expect(error.detail.contains("unique index of 'email'"), "\(error)")
                            return false
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            #expect(results.filter { $0 }.count == 1)
            #expect(try await users.find(.equals("email", "a@example.com")).count == 1)
            #expect(try await users.ids().count == 1)
            // The holder may change its value; then the value is free for another.
            let holder = try #require(try await users.ids().first)
            try await users.putJSON(holder, Array(#"{"email":"b@example.com"}"#.utf8))
            _ = try await users.insertJSON("other", Array(#"{"email":"a@example.com"}"#.utf8))
            await #expect(throws: StoreError.self) { try await users.putJSON("third", Array(#"{"email":"b@example.com"}"#.utf8)) }
            #expect(try await f.store.check(repair: false).problems.isEmpty)
        }
    }

    /// Eight writers change indexed fields of shared documents concurrently (compare-and-swap
    /// each) for a few seconds (30 in SoakIndexTests): afterwards every list matches its documents
    /// exactly, and the ordered index's directory lists exactly the values held.
    @Test(arguments: Backend.selected)
    func eightWritersChangingIndexedFieldsLeaveEveryEntryMatchingItsDocument(_ backend: Backend) async throws {
        try await Self.eightWriters(backend, seconds: TestMode.quick ? 3 : 6)
    }

    static func eightWriters(_ backend: Backend, seconds: Int) async throws {
        try await StoreFixture.with(backend) { f in
            let hosts = try await f.store.createDatabase("inv").createCollection("hosts")
            for i in 0..<16 { try await hosts.put("h\(i)", Host(role: "web", n: 0)) }
            try await hosts.createIndex("role", chunks: 2)
            // Ordered: a value's list empties and fills as documents pass through it, so the
            // directory of values changes with them.
            try await hosts.createIndex("n", ordered: true, directoryChunks: 2)
            let roles = ["web", "db", "cache"]
            let writes = try await f.eightWriters("inv", "hosts", ids: 16, seconds: seconds, reading: Host.self) { current in
                Host(role: roles.randomElement()!, n: current.n + 1)
            }
            #expect(writes >= 16, "\(writes) updates acknowledged")
            let check = try await f.store.check(repair: false)
            #expect(check.problems.isEmpty, "\(check.problems)")
            for role in roles {
                #expect(try await Self.found(hosts, .equals("role", .string(role))) == Self.scanned(hosts, .equals("role", .string(role))))
            }
            let over: Filter = .range("n", ValueRange(lower: .init(value: .number(Double(writes / 16)), inclusive: false)))
            #expect(try await Self.found(hosts, over) == Self.scanned(hosts, over))
            let counts = try await hosts.documents().compactMap { try? $0.decode(Host.self) }.reduce(0) { $0 + $1.n }
            #expect(counts == writes, "every acknowledged update counted once")
        }
    }

    /// An index created while writers run is complete when it turns readable; dropping it
    /// leaves no name behind; bad fields and private collections are refused.
    @Test(arguments: [Backend.embedded, .inProcess])
    func anIndexBuiltBesideWritersIsCompleteAndDropsClean(_ backend: Backend) async throws {
        try await StoreFixture.with(backend) { f in
            let hosts = try await f.store.createDatabase("inv").createCollection("hosts")
            _ = try await hosts.putMany((0..<400).map { i in ("h\(i)", Array(#"{"role":"r\#(i % 7)","n":\#(i)}"#.utf8)) })
            let writer = Task {
                let (store, _) = try f.connect(f.writeKey)
                let collection = store.database("inv").collection("hosts")
                for i in 0..<60 { try await collection.putJSON("h\(i * 5)", Array(#"{"role":"moved","n":\#(i)}"#.utf8)) }
            }
            let seen = Locked([Int]())
            try await hosts.createIndex("role") { done in seen.withLock { $0.append(done) } }
            try await writer.value
            let counts = seen.withLock { $0 }
            #expect(counts == counts.sorted() && counts.last == 400 && counts.count >= 400 / 32, "progress: \(counts)")
            let built = try await f.store.check(repair: false).problems
            #expect(built.isEmpty, "\(built)")
            #expect(try await Self.found(hosts, .equals("role", "moved")).count == 60)
            #expect(try await Self.found(hosts, .equals("role", "r3")) == Self.scanned(hosts, .equals("role", "r3")))
            // Created again: nothing to do.
            #expect(try await hosts.createIndex("role").added == 0)
            try await hosts.dropIndex("role")
            #expect(try await hosts.indexes().isEmpty)
            #expect(try await hosts.explain(.equals("role", "moved")).readsEveryDocument)
            #expect(try await f.store.check(repair: false).problems.isEmpty, "no list left behind")
            await #expect(throws: StoreError.self) { try await hosts.createIndex("a..b") }
            await #expect(throws: StoreError.self) { try await hosts.dropIndex("role") }
        }
    }

    /// A private collection's index seals its names: the zone shows neither the values nor which
    /// documents hold which (only how many hold each); a store without the key can neither use
    /// nor build it; a reaper without the key leaves stale entries, which a unique index's next
    /// writer of the value removes, and fsck with the key finds none left.
    @Test(arguments: TestMode.quick ? [Backend.embedded] : [.embedded, .bind])
    func aPrivateCollectionsIndexRevealsNoValue(_ backend: Backend) async throws {
        try await StoreFixture.with(backend) { f in
            let key = EncryptionKey.generate()
            let (keyed, _) = try PrivacyTests.store(f, keys: [key])
            let (keyless, _) = try PrivacyTests.store(f, keys: nil)
            let secrets = try await keyed.createDatabase("ops").createCollection("credentials", private: true)
            for i in 0..<6 {
                try await secrets.putJSON("svc\(i)", Array(#"{"team":"\#(i % 2 == 0 ? "alpha-squad" : "bravo-squad")","owner":"owner\#(i)@example.com"}"#.utf8))
            }
            try await secrets.createIndex("team")
            try await secrets.createIndex("owner", unique: true)
            #expect(try await secrets.find(.equals("team", "alpha-squad")).map(\.id).sorted() == ["svc0", "svc2", "svc4"])
            #expect(try await secrets.explain(.equals("team", "alpha-squad")).index == "team")
            let zone = try await PrivacyTests.zoneText(f)
            for secret in ["alpha-squad", "bravo-squad", "owner3@example.com", "salpha"] {
                #expect(!PrivacyTests.shows(secret, in: zone), "'\(secret)' shows in the zone")
            }
            let plain = keyless.database("ops").collection("credentials")
            await #expect(throws: StoreError.self) { try await plain.find(.equals("team", "alpha-squad")) }
            await #expect(throws: StoreError.self) { try await plain.createIndex("owner") }

            // A document of a lease, revoked by a store without the key: its entries stay behind.
            let lease = try await keyed.grant(ttl: 30)
            try await secrets.putJSON("leased", Array(#"{"team":"alpha-squad","owner":"temp@example.com"}"#.utf8), lease: lease)
            #expect(try await keyless.revoke(lease.id) == 1)
            let stale = try await keyed.check(repair: false).problems
            #expect(stale.filter { $0.kind == .staleIndexEntry }.count == 2, "\(stale)")
            #expect(try await secrets.find(.equals("team", "alpha-squad")).count == 3, "a stale entry is skipped")
            // The unique value is free again: its next writer removes the stale entry.
            _ = try await secrets.insertJSON("newcomer", Array(#"{"team":"bravo-squad","owner":"temp@example.com"}"#.utf8))
            let left = try await keyed.check(repair: true).problems
            #expect(left.count == 1 && left.first?.kind == .staleIndexEntry, "only the team entry was left: \(left)")
            #expect(try await keyed.check(repair: false).problems.isEmpty)
            #expect(try await secrets.find(.equals("owner", "temp@example.com")).map(\.id) == ["newcomer"])
        }
    }

    /// A store object plans over the list pages it last wrote; when another writer has changed
    /// them since, the write must not leave a document unlisted, listed twice, or refused by a
    /// unique index on the strength of an old page.
    @Test(arguments: TestMode.quick ? [Backend.embedded, .inProcess] : [.embedded, .inProcess, .bind])
    func listPagesAStoreObjectKeepsNeverLeaveAWrongEntry(_ backend: Backend) async throws {
        try await StoreFixture.with(backend) { f in
            let hosts = try await f.store.createDatabase("inv").createCollection("hosts")
            try await hosts.createIndex("role", chunks: 1)
            try await hosts.createIndex("email", unique: true)
            let (other, _) = try f.connect(f.writeKey)
            let elsewhere = other.database("inv").collection("hosts")
            try await hosts.putJSON("h1", Array(#"{"role":"web","email":"a@example.com"}"#.utf8))
            try await hosts.putJSON("h2", Array(#"{"role":"web"}"#.utf8))
            // Another store object moves h1 off the page this one wrote last, and frees the email.
            try await elsewhere.putJSON("h1", Array(#"{"role":"db","email":"b@example.com"}"#.utf8))
            // Back to web: the page this one keeps still lists h1, the primary's does not.
            try await hosts.putJSON("h1", Array(#"{"role":"web","email":"b@example.com"}"#.utf8))
            #expect(try await Self.found(hosts, .equals("role", "web")) == ["h1", "h2"])
            // The email h1 left is free, whatever this one saw of it.
            _ = try await hosts.insertJSON("h3", Array(#"{"role":"cache","email":"a@example.com"}"#.utf8))
            // And the other way: it takes h2 off a page it kept, which the other has changed.
            try await elsewhere.putJSON("h4", Array(#"{"role":"web"}"#.utf8))
            try await hosts.putJSON("h2", Array(#"{"role":"db"}"#.utf8))
            #expect(try await Self.found(hosts, .equals("role", "web")) == ["h1", "h4"])
            let check = try await f.store.check(repair: false).problems
            #expect(check.isEmpty, "\(check)")
        }
    }

    /// The keys and labels of section 14.2's test vectors.
    @Test func keysAndLabelsAreAsTheFormatSays() {
        func label(_ value: JSONValue) -> String? { IndexKey.key(of: value).map(IndexKey.label) }
        #expect(label("web") == "sweb")
        #expect(label("Web") == "x--onlwkyq")
        #expect(label(1) == "nbff0000000000000")
        #expect(label(-1) == "n400fffffffffffff")
        #expect(label(0) == "n8000000000000000")
        #expect(label(.number(-0.0)) == "n8000000000000000")
        #expect(label(true) == "t" && label(false) == "f" && label(nil) == "z")
        #expect(label(.array(["a"])) == nil && label(.object([:])) == nil)
        #expect(label(.string(String(repeating: "x", count: 40))) == "s" + String(repeating: "x", count: 40))
        #expect(label(.string(String(repeating: "x", count: 70))) == "h--6ujwu4cqc4zcbsya3ufr3forfy6slj5z")
        #expect(IndexKey.isField("site.city") && !IndexKey.isField("site..city") && !IndexKey.isField(".a") && !IndexKey.isField(""))
    }
}

/// Eight writers for 30 s on every server, in a stage of the run of their own (scripts/test): run
/// beside the other suites, forty writers starve tests that wait on real time.
@Suite("Soak: indexes under eight writers for 30 s")
struct SoakIndexTests {
    @Test(arguments: Backend.selected)
    func eightWritersForThirtySecondsLeaveEveryEntryMatchingItsDocument(_ backend: Backend) async throws {
        try await SecondaryIndexTests.eightWriters(backend, seconds: 30)
    }
}

@testable import DNSStore
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// Ordered indexes (docs/FORMAT.md section 14.7): a directory of the values an index's documents
/// hold, kept in the documents' own UPDATEs, from which `find` answers ranges and prefixes.
@Suite("Ordered indexes")
struct OrderedIndexTests {
    static func over(_ field: String, _ value: JSONValue, inclusive: Bool = false) -> Filter {
        .range(field, ValueRange(lower: .init(value: value, inclusive: inclusive)))
    }

    static func under(_ field: String, _ value: JSONValue, inclusive: Bool = false) -> Filter {
        .range(field, ValueRange(upper: .init(value: value, inclusive: inclusive)))
    }

    /// The conditions a user writes, each answered through the index exactly as a scan answers it.
    static let conditions: [String] = [
        "age>30", "age>=30", "age<10", "age<=0", "age>-5", "name^=web", "name^=", "name>m", "name<=db-9", "age>abc",
        "name^=W", "name^=long",
    ]

    static func agrees(
        _ collection: DocumentCollection, _ store: DocumentStore, _ what: String, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        // Every document read once; each condition's answer through the index compared with it.
        let all = try await collection.documents()
        for text in conditions + ["age>10 age<=40", "age>=20 name^=web"] {
            let filter = Filter.and(try text.split(separator: " ").map { try Filter(parsing: String($0)) })
            let found = try await collection.find(filter).map(\.id).sorted()
            let scanned = all.filter { filter.matches($0) }.map(\.id).sorted()
            #expect(found == scanned, "\(what): \(text)", sourceLocation: sourceLocation)
        }
        let check = try await store.check(repair: false)
        #expect(check.problems.isEmpty, "\(what): \(check.problems)", sourceLocation: sourceLocation)
    }

    /// Ranges and prefixes through ordered indexes give what reading every document gives, after
    /// every kind of write, and the directory lists exactly the values held (fsck finds none
    /// missing and none left over, so a value's last document takes its entry with it).
    @Test(arguments: TestMode.quick ? Backend.selected : [.embedded])
    func rangesAndPrefixesThroughAnOrderedIndexAgreeWithAScan(_ backend: Backend) async throws {
        try await Self.rangesAgree(backend)
    }

    static func rangesAgree(_ backend: Backend) async throws {
        try await StoreFixture.with(backend) { f in
            let hosts = try await f.store.createDatabase("inv").createCollection("hosts")
            let names = ["web-1", "web-2", "webmail", "db-1", "db-2", "cache", "Web-3", "m", "zeta", "ünïcode", "web\u{0}nul",
                         "long" + String(repeating: "x", count: 300)]
            for (i, name) in names.enumerated() {
                let age: JSONValue = i == 4 ? "forty" : .number(Double(i * 7) - 5)
                try await hosts.put("h\(i)", ["name": .string(name), "age": age] as [String: JSONValue])
            }
            try await hosts.putJSON("bare", Array(#"{"n":1}"#.utf8))
            try await hosts.createIndex("age", ordered: true, directoryChunks: 2)
            try await hosts.createIndex("name", ordered: true)
            let plan = try await hosts.explain(Self.over("age", 30))
            #expect(plan.index == "age" && plan.queriesPerValue == 1 && plan.listQueries == 2 && !plan.readsEveryDocument, "\(plan)")
            #expect(try await hosts.explain(.prefix("name", "web")).listQueries == IndexDefinition.defaultDirectoryChunks)
            #expect(try await hosts.indexes()["age"]?.ordered?.chunks.total == 2)
            try await Self.agrees(hosts, f.store, "built")

            // A range streams in the order of its values (`find` sorts by id).
            var ordered: [JSONValue] = []
            for try await page in hosts.matching(Self.over("age", 0)) { ordered += try page.map { try $0.decode([String: JSONValue].self)["age"]! } }
            #expect(ordered.count == 10 && ordered == ordered.sorted { $0.compare(to: $1) == .below }, "\(ordered)")

            try await hosts.put("h1", ["name": "web-1", "age": 31] as [String: JSONValue])
            try await Self.agrees(hosts, f.store, "a value moved to a new one")
            try await hosts.put("h2", ["name": "web-2", "age": 31] as [String: JSONValue])
            try await Self.agrees(hosts, f.store, "a value moved to one held")
            _ = try await hosts.delete("h0")
            try await Self.agrees(hosts, f.store, "a value's last document deleted")
            _ = try await f.store.batch { batch in
                batch.delete(hosts, "h3")
                try batch.put(hosts, "h5", ["name": "webby", "age": 1000] as [String: JSONValue])
                try batch.insert(hosts, "h30", ["name": "db-1", "age": -1e300] as [String: JSONValue])
            }
            try await Self.agrees(hosts, f.store, "a batch")
            _ = try await hosts.putMany((40..<70).map { i in ("m\(i)", Array(#"{"name":"web-\#(i % 4)","age":\#(i % 9)}"#.utf8)) })
            try await Self.agrees(hosts, f.store, "putMany")
            for i in 40..<70 { _ = try await hosts.delete("m\(i)") }
            try await Self.agrees(hosts, f.store, "putMany undone")

            // What a find through the directory costs: its chunks, then the lists in range.
            _ = try await hosts.find(Self.over("age", 100))
            f.transport.reset()
            let high = try await hosts.find(Self.over("age", 100))
            #expect(high.map(\.id) == ["h5"])
            #expect(f.transport.queries <= 2 + 1 + 1, "\(f.transport.queries) queries: the directory's 2 chunks, the list's 1, the document")

            try await hosts.dropIndex("age")
            try await hosts.dropIndex("name")
            #expect(try await f.store.check(repair: false).problems.isEmpty, "nothing of the directories is left")
        }
    }

    /// fsck finds a directory entry taken away, and one left behind, and repairs both.
    @Test func fsckRepairsTheDirectory() async throws {
        try await StoreFixture.with(.inProcess) { f in
            let hosts = try await f.store.createDatabase("inv").createCollection("hosts")
            for i in 0..<6 { try await hosts.put("h\(i)", ["n": .number(Double(i))] as [String: JSONValue]) }
            try await hosts.createIndex("n", ordered: true, directoryChunks: 1)
            // Plant: the directory page rewritten without the value 3, and with a value nobody holds.
            let node = try await f.store.collection(named: "hosts", in: "inv")
            let directory = try f.store.layout.directory(field: "n", of: node.name)
            let page = try await f.store.loadPage(0, chunk: 0, of: directory, level: .record, route: .primary)
            var changed = page.page
            #expect(changed.entries.removeValue(forKey: IndexKey.directoryEntry(IndexKey.key(of: 3)!)) != nil)
            changed.entries[IndexKey.directoryEntry(IndexKey.key(of: 99)!)] = .document(lease: nil)
            var update = UpdateBuilder(zone: f.store.configuration.zone)
            update.replace(page.name, .txt, with: [.txt(TXT(splitting: try changed.text(level: .record)))], ttl: 30)
            try await f.store.send(update, "planting a directory page")
            let found = try await f.store.check(repair: false).problems
            #expect(found.count == 2 && found.allSatisfy { $0.detail.contains("directory of values") }, "\(found)")
            #expect(try await hosts.find(Self.over("n", 2)).map(\.id).sorted() == ["h4", "h5"], "the value 3 is not found until repaired")
            _ = try await f.store.check(repair: true)
            #expect(try await f.store.check(repair: false).problems.isEmpty)
            #expect(try await hosts.find(Self.over("n", 2)).map(\.id).sorted() == ["h3", "h4", "h5"])
        }
    }

    /// Conditions as the command line writes them, and what each matches.
    @Test func conditionsParseAndMatchAsWritten() throws {
        func matches(_ text: String, _ json: String) throws -> Bool {
            try Filter(parsing: text).matches(try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8)))
        }
        #expect(try matches("age>30", #"{"age":31}"#) && !(try matches("age>30", #"{"age":30}"#)))
        #expect(try matches("age>=30", #"{"age":30}"#) && !(try matches("age>=30", #"{"age":"31"}"#)))
        #expect(try matches("age<1.5", #"{"age":-1e9}"#) && !(try matches("age<1.5", #"{"age":null}"#)))
        #expect(try matches("name>m", #"{"name":"n"}"#) && !(try matches("name>m", #"{"name":"M"}"#)))
        #expect(try matches("name^=web", #"{"name":"web-1"}"#) && !(try matches("name^=web", #"{"name":"we"}"#)))
        #expect(try matches("name^=12", #"{"name":"123"}"#) && !(try matches("name^=12", #"{"name":123}"#)))
        #expect(try matches("cmd=a>b", #"{"cmd":"a>b"}"#), "the first operator splits")
        #expect(try matches("x^y=1", #"{"x^y":1}"#), "a caret alone is part of the path")
        #expect(try matches("a.b<=2", #"{"a":{"b":2}}"#))
        #expect(throws: StoreError.self) { try Filter(parsing: "age>[1]") }
        #expect(throws: StoreError.self) { try Filter(parsing: "age") }
        #expect(throws: StoreError.self) { try Filter(parsing: ">3") }
        #expect(try Filter(parsing: "age>=30").description == "age>=30")
        // Keys admit as their values compare.
        let over = try Filter(parsing: "n>-1")
        #expect(over.matches(try JSONDecoder().decode(JSONValue.self, from: Data(#"{"n":-0.5}"#.utf8))))
    }

    /// A private collection's index cannot be ordered; nor can a bad directory be asked for.
    @Test func orderedIndexesAreRefusedWhereTheyCannotBeKept() async throws {
        try await StoreFixture.with(.inProcess) { f in
            let key = EncryptionKey.generate()
            let (keyed, _) = try PrivacyTests.store(f, keys: [key])
            let secrets = try await keyed.createDatabase("ops").createCollection("credentials", private: true)
            await #expect(throws: StoreError.self) { try await secrets.createIndex("team", ordered: true) }
            let hosts = try await f.store.createDatabase("inv").createCollection("hosts")
            await #expect(throws: StoreError.self) { try await hosts.createIndex("n", directoryChunks: 4) }
            await #expect(throws: StoreError.self) { try await hosts.createIndex("n", ordered: true, directoryChunks: 65) }
            try await hosts.createIndex("n")
            await #expect(throws: StoreError.self) { try await hosts.createIndex("n", ordered: true) }
        }
    }

    /// Keys read from a document's text are the keys of its values (section 14.2), as the
    /// document decoded whole gives them: numbers by value, escapes undone, paths through objects
    /// only, a member name holding a dot never taken for a path.
    @Test func keysReadFromTheTextAreTheKeysOfTheValues() throws {
        let documents = [
            #"{"n":1,"m":1.0,"e":1e0,"z":-0,"big":12345678901234567890,"neg":-2.5e-3}"#,
            #"{"s":"a\"b\u00e9\ud83d\ude00","t":true,"f":false,"null":null}"#,
            #"{"site":{"city":"Oslo","geo":{"lat":59.9}},"a.b":1,"a":{"b":2},"arr":[1,2],"obj":{}}"#,
            #"{ "spaced" : "x" , "nested" : { "k" : [ {"v":1} ] } }"#,
            #"[1,2]"#, #""text""#, "not json",
        ]
        let fields = ["n", "m", "e", "z", "big", "neg", "s", "t", "f", "null", "site.city", "site.geo.lat", "site.geo", "a.b", "a",
                      "arr", "obj", "spaced", "nested.k", "nested.k.v", "missing", "site.missing"]
        for text in documents {
            let decoded = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            let keys = DocumentKeys(Array(text.utf8))
            for field in fields {
                #expect(keys.key(field) == decoded?.lookup(field).flatMap(IndexKey.key(of:)), "\(field) in \(text)")
            }
        }
        #expect(DocumentKeys(Array(#"{"n":1e0}"#.utf8)).key("n") == IndexKey.key(of: 1))
    }

    /// Section 14.7's examples: directory entries and the lists they name.
    @Test func directoryEntriesAreAsTheFormatSays() {
        func entry(_ value: JSONValue) -> String { IndexKey.directoryEntry(IndexKey.key(of: value)!) }
        #expect(entry("web") == "sweb" && entry(30) == "nc03e000000000000" && entry("Web") == "sWeb")
        #expect(entry("a\u{0}b").hasPrefix("x--"))
        #expect(entry(.string(String(repeating: "x", count: 300))).hasPrefix("h--"))
        #expect(IndexKey.key(ofDirectoryEntry: entry("a\u{0}b")) == IndexKey.key(of: "a\u{0}b"))
        #expect(IndexKey.key(ofDirectoryEntry: entry(.string(String(repeating: "x", count: 300)))) == nil)
        #expect(IndexKey.key(ofDirectoryEntry: "sWeb") == Array("sWeb".utf8))
    }
}

/// The ordered index's heavier tests, in the soak stage (scripts/test): many writers, or
/// thousands of values, would load the machine beside the suites that wait on real time.
@Suite("Soak: ordered indexes")
struct SoakOrderedIndexTests {
    /// The range test on every server (the main stage runs it on ours alone).
    @Test(arguments: Backend.selected)
    func rangesAndPrefixesAgreeWithAScanOnEveryServer(_ backend: Backend) async throws {
        try await OrderedIndexTests.rangesAgree(backend)
    }

    /// Eight writers move documents between a few values concurrently, so values' lists empty and
    /// fill again all the time: the directory still lists exactly the values held, and ranges
    /// agree with a scan.
    @Test(arguments: Backend.selected)
    func writersRacingOverFewValuesKeepTheDirectoryExact(_ backend: Backend) async throws {
        try await StoreFixture.with(backend) { f in
            let hosts = try await f.store.createDatabase("inv").createCollection("hosts")
            for i in 0..<10 { try await hosts.put("h\(i)", ["n": .number(Double(i % 3)), "c": 0] as [String: JSONValue]) }
            try await hosts.createIndex("n", chunks: 2, ordered: true, directoryChunks: 1)
            let writes = try await f.eightWriters("inv", "hosts", ids: 10, seconds: TestMode.quick ? 3 : 5, reading: [String: Double].self) {
                current -> [String: JSONValue] in ["n": .number(Double(Int.random(in: 0..<6))), "c": .number(current["c"]! + 1)]
            }
            #expect(writes >= 16, "\(writes) updates acknowledged")
            let check = try await f.store.check(repair: false)
            #expect(check.problems.isEmpty, "\(check.problems)")
            for text in ["n>2", "n>=0", "n<3", "n<=5"] {
                let filter = try Filter(parsing: text)
                #expect(try await hosts.find(filter).map(\.id).sorted() == hosts.documents().filter { filter.matches($0) }.map(\.id).sorted(), "\(text)")
            }
            let counted = try await hosts.documents().compactMap { try? $0.decode([String: Double].self)["c"] }.reduce(0, +)
            #expect(Int(counted) == writes, "every acknowledged update counted once")
        }
    }

    /// A directory of one chunk holding thousands of values over several full pages takes
    /// batches and single writes alike: no UPDATE carries two full pages twice (page 0 is not
    /// rewritten for its hint beside another full page), which would exceed a DNS message.
    @Test func aDirectoryOfThousandsOfValuesTakesEveryWrite() async throws {
        try await StoreFixture.with(.inProcess) { f in
            let hosts = try await f.store.createDatabase("inv").createCollection("hosts", chunks: 64)
            try await hosts.createIndex("n", ordered: true, directoryChunks: 1)
            for start in stride(from: 0, to: 3_000, by: 500) {
                _ = try await hosts.putMany((start..<start + 500).map { i in ("h\(i)", Array(#"{"n":\#(i)}"#.utf8)) })
                for i in 0..<3 { try await hosts.putJSON("s\(start)-\(i)", Array(#"{"n":\#(100_000 + start + i)}"#.utf8)) }
            }
            #expect(try await hosts.find(try Filter(parsing: "n>=2995")).count == 5 + 18)
            #expect(try await hosts.find(.and([try Filter(parsing: "n>=1000"), try Filter(parsing: "n<1010")])).map(\.id).sorted()
                == (1_000..<1_010).map { "h\($0)" }.sorted())
            let check = try await f.store.check(repair: false)
            #expect(check.problems.isEmpty, "\(check.problems)")
        }
    }
}

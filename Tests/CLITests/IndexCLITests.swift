import DNSTestSupport
import Foundation
import Testing

/// `dnsstore index` and `find --explain` (docs/FORMAT.md section 14), as a user runs them.
@Suite("Indexes on the command line")
struct IndexCLITests {
    static func json(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8))
    }

    static func ids(_ text: String) throws -> [String] {
        (try json(text) as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }.sorted()
    }

    /// Create, list, explain, find, a unique refusal with its exit code, bad input, drop.
    @Test func anIndexIsCreatedUsedAndDropped() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        for i in 0..<9 {
            #expect(try await cli.run("put", "inv/hosts/h\(i)", #"{"role":"\#(i % 3 == 0 ? "db" : "web")","site":{"city":"c\#(i % 2)"}}"#).status == 0)
        }
        let created = try await cli.run("index", "create", "inv/hosts", "site.city", "--compact")
        #expect(created.status == 0 && created.out == #"{"added":9,"created":"site.city","documents":9}"#, "\(created.out) \(created.err)")
        let listed = try await cli.run("index", "list", "inv/hosts", "--compact")
        #expect(listed.out == #"[{"chunks":4,"field":"site.city","ordered":false,"state":"readable","unique":false}]"#, "\(listed.out)")

        let explained = try await cli.run("find", "inv/hosts", "role=web", "site.city=c1", "--explain", "--compact")
        let plan = try #require(try Self.json(explained.out) as? [String: Any], "\(explained.out) \(explained.err)")
        #expect(plan["index"] as? String == "site.city" && plan["value"] as? String == #""c1""# && plan["readsEveryDocument"] as? Bool == false)
        let scan = try await cli.run("find", "inv/hosts", "role=web", "--explain", "--compact")
        #expect(scan.out.contains(#""readsEveryDocument":true"#), "\(scan.out)")

        let found = try await cli.run("find", "inv/hosts", "role=web", "site.city=c1", "--compact", "--stats")
        #expect(try Self.ids(found.out) == ["h1", "h5", "h7"], "\(found.out)")
        // 3 levels of metadata, 4 list chunks, 4 documents listed under c1 (h3 among them, not web).
        let queries = try #require(StatsTests.figures(found.stderr, "quer"), "\(found.stderr)")
        #expect(queries[0] <= 3 + 4 + 4 + 1, "\(found.stderr)")

        #expect(try await cli.run("index", "create", "acct/users", "email", "--unique").status == 3, "no such collection")
        #expect(try await cli.run("put", "acct/users/a", #"{"email":"a@example.com"}"#).status == 0)
        #expect(try await cli.run("index", "create", "acct/users", "email", "--unique").status == 0)
        let second = try await cli.run("put", "acct/users/b", #"{"email":"a@example.com"}"#)
        #expect(second.status == 4 && second.err.contains("unique index of 'email' already lists document 'a'"), "\(second.err)")
        #expect(try await cli.run("get", "acct/users/b").status == 3, "nothing written")

        let badField = try await cli.run("index", "create", "inv/hosts", "site..city")
        #expect(badField.status == 2 && badField.err.contains("'site..city' is not a field path"), "\(badField.err)")
        let badChunks = try await cli.run("index", "create", "inv/hosts", "role", "--chunks", "65")
        #expect(badChunks.status == 2, "\(badChunks.err)")
        let uniqueChunks = try await cli.run("index", "create", "inv/hosts", "role", "--unique", "--chunks", "2")
        #expect(uniqueChunks.status == 2 && uniqueChunks.err.contains("one chunk"), "\(uniqueChunks.err)")

        #expect(try await cli.run("index", "drop", "inv/hosts", "site.city").status == 0)
        let again = try await cli.run("index", "drop", "inv/hosts", "site.city")
        #expect(again.status == 3 && again.err.contains("no index of 'site.city'"), "\(again.err)")
        #expect(try await cli.run("index", "list", "inv/hosts", "--compact").out == "[]")
        let check = try await cli.run("fsck", "--compact")
        #expect(check.status == 0 && check.out.contains(#""problems":[]"#), "\(check.out)")
    }

    /// An ordered index answers ranges and prefixes, in the order of their values, and says so.
    @Test func anOrderedIndexAnswersRanges() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        for (i, age) in [45, 12, 30, 67, 29, 30].enumerated() {
            #expect(try await cli.run("put", "inv/people/p\(i)", #"{"age":\#(age),"name":"n\#(i)"}"#).status == 0)
        }
        let created = try await cli.run("index", "create", "inv/people", "age", "--ordered", "--directory-chunks", "2", "--compact")
        #expect(created.status == 0, "\(created.err)")
        let listed = try await cli.run("index", "list", "inv/people", "--compact")
        #expect(listed.out.contains(#""ordered":true"#), "\(listed.out)")
        let explained = try await cli.run("find", "inv/people", "age>=30", "age<60", "--explain", "--compact")
        let plan = try #require(try Self.json(explained.out) as? [String: Any], "\(explained.out) \(explained.err)")
        #expect(plan["index"] as? String == "age" && plan["listQueries"] as? Int == 2 && plan["queriesPerValue"] as? Int == 1, "\(plan)")
        let found = try await cli.run("find", "inv/people", "age>=30", "age<60", "--compact")
        let ages = (try Self.json(found.out) as? [[String: Any]] ?? []).compactMap { ($0["doc"] as? [String: Any])?["age"] as? Int }
        #expect(ages == [30, 30, 45], "in the order of their values: \(found.out)")
        let bad = try await cli.run("find", "inv/people", "age>[1]")
        #expect(bad.status == 2 && bad.err.contains("only numbers and strings have an order"), "\(bad.err)")
        let directoryAlone = try await cli.run("index", "create", "inv/people", "name", "--directory-chunks", "2")
        #expect(directoryAlone.status == 2 && directoryAlone.err.contains("ordered"), "\(directoryAlone.err)")
    }

    /// A build killed (kill -9) twice while it adds documents leaves the index building and kept
    /// by writers; the third run finishes it, and it matches the documents exactly.
    @Test func aBuildKilledTwiceCompletes() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let lines = (0..<5_000).map { #"{"id":"h\#($0)","doc":{"role":"r\#($0 % 10)","n":\#($0)}}"# }.joined(separator: "\n")
        #expect(try await cli.run("import", "inv/hosts", input: lines + "\n").status == 0)
        for round in 0..<2 {
            let build = try cli.start("index", "create", "inv/hosts", "role")
            let started = try await Poll.until(within: .seconds(30), every: .milliseconds(50)) {
                try await cli.run("index", "list", "inv/hosts", "--compact").out.contains("building")
            }
            #expect(started)
            try await Task.sleep(for: .milliseconds(600))
            build.process.end(SIGKILL)
            try await build.waitForExit()
            let state = try await cli.run("index", "list", "inv/hosts", "--compact").out
            #expect(state.contains(#""state":"building""#), "round \(round): the build ended before it was killed: \(state)")
            // Writers keep a building index.
            #expect(try await cli.run("put", "inv/hosts/h\(round)", #"{"role":"moved"}"#).status == 0)
        }
        let finished = try await cli.run("index", "create", "inv/hosts", "role", "--compact")
        #expect(finished.status == 0, "\(finished.err)")
        let added = try #require((try Self.json(finished.out) as? [String: Any])?["added"] as? Int)
        #expect(added > 0 && added < 5_000, "the third run adds only what the first two did not: \(added)")
        #expect(try await cli.run("index", "list", "inv/hosts", "--compact").out.contains("readable"))
        let check = try await cli.run("fsck", "--compact")
        #expect(check.status == 0 && check.out.contains(#""problems":[]"#), "\(check.out)")
        let moved = try await cli.run("find", "inv/hosts", "role=moved", "--compact")
        #expect(try Self.ids(moved.out) == ["h0", "h1"], "\(moved.out)")
        let r3 = try await cli.run("find", "inv/hosts", "role=r3", "--compact")
        #expect(try Self.ids(r3.out).count == 500)
    }
}

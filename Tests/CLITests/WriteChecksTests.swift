import DNSTestSupport
import Foundation
import Testing

/// A write is checked whole before anything is sent, and names follow one rule everywhere.
@Suite("Command line: writes checked first")
struct WriteChecksTests {
    @Test func aWriteThatCannotSucceedLeavesNothingBehind() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        // 63-octet labels under a long domain: the record's name would pass 255 octets.
        let long = (0..<3).map { _ in String(repeating: "d", count: 40) }.joined(separator: ".") + ".localhost"
        let label = String(repeating: "n", count: 63)
        let tooLong = try await cli.run("put", "--domain", long, "\(label)/\(label)/\(label)", "{}")
        #expect(tooLong.status == 2)
        #expect(tooLong.err.contains("makes DNS names too long") || tooLong.err.contains("too long under"), "\(tooLong.err)")
        #expect(try await cli.run("db", "list", "--domain", long).out == "[]")

        // A document that is not JSON does not create its database either.
        let badJSON = try await cli.run("put", "fresh/c/x", "{bad")
        #expect(badJSON.status == 2)
        #expect(try await cli.run("db", "list").out == "[]")
        let tooLarge = try await cli.run("put", "fresh/c/x", "-", input: "\"" + String(repeating: "x", count: 1_048_600) + "\"")
        #expect(tooLarge.status == 2)
        #expect(try await cli.run("db", "list").out == "[]")
    }

    @Test func namesFollowOneRuleEverywhere() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        try #"{"id":"ok","doc":{}}"#.appending("\n").appending(#"{"id":"","doc":{}}"#)
            .write(to: cli.directory.appendingPathComponent("rows.jsonl"), atomically: true, encoding: .utf8)
        let empty = try await cli.run("import", "db/c", "rows.jsonl")
        #expect(empty.status == 2)
        #expect(empty.err == "dnsstore: line 2: invalid name: a name must not be empty")
        #expect(try await cli.run("db", "list").out == "[]")

        // Everything after the second slash is the id, slashes included.
        #expect(try await cli.run("put", "db/c/a/b", #"{"n":1}"#).out == #"{"path":"db/c/a/b","version":1}"#)
        #expect(try await cli.run("get", "db/c/a/b").out == #"{"n":1}"#)
        #expect(try await cli.run("list", "db/c").out == #"["a/b"]"#)
        #expect(try await cli.run("delete", "db/c/a/b").status == 0)
        #expect(try await cli.run("put", "db/c/", "{}").status == 2)
        let slash = try await cli.run("db", "create", "a/b")
        #expect(slash.status == 2)
        #expect(slash.err.contains("cannot contain '/'"))
    }
}

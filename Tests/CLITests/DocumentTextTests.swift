import Foundation
import Testing

/// What the command line stores and prints of a document: strict JSON, one stored form, one printed form.
@Suite("Command line: document text")
struct DocumentTextTests {
    @Test func textThatIsNotStrictJSONIsRefusedAndNothingIsStored() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        try await cli.run("put", "db/c/keep", #"{"v":1}"#)
        let cases = [
            (#"{"a":1,}"#, "a comma before '}' (trailing commas are not JSON) at line 1, column 8"),
            ("\u{FEFF}{}", "the text starts with a UTF-8 byte-order mark"),
            (#"{"a":1,"a":2}"#, #"the member name "a" appears twice"#),
            ("{'a':1}", "expected a member name in double quotes"),
            ("", "no JSON value (the text is empty)"),
        ]
        for (text, why) in cases {
            for path in ["db/c/keep", "db/c/new"] {
                let result = try await cli.run("put", path, text)
                #expect(result.status == 2, "\(text)")
                #expect(result.err.hasPrefix("dnsstore: invalid document: the document is not valid JSON: "), "\(text)")
                #expect(result.err.contains(why), "\(text): \(result.err)")
            }
        }
        #expect(try await cli.run("get", "db/c/keep").out == #"{"v":1}"#)
        #expect(try await cli.run("list", "db/c").out == #"["keep"]"#)
    }

    @Test func oneDocumentIsStoredOneWayAndPrintedOneWay() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let written = "{\n  \"b\": 1,\n  \"a\": [1.50, 2, \"x y\"],\n  \"big\": 12345678901234567890\n}\n"
        let stored = #"{"b":1,"a":[1.50,2,"x y"],"big":12345678901234567890}"#
        #expect(try await cli.run("put", "db/c/x", written).status == 0)
        #expect(try await cli.run("get", "db/c/x").out == stored)
        let line = #"{"id":"x","version":1,"doc":"# + stored + "}"
        #expect(try await cli.run("get", "db/c/x", "--with-version").out == line)
        #expect(try await cli.run("find", "db/c", "b=1").out == "[" + line + "]")
        #expect(try await cli.run("export", "db/c").out == line)

        // A row written by hand, members in another order and spaced out, stores the same octets.
        var fresh = cli
        fresh.environment["DNSSTORE_DATA"] = cli.directory.appendingPathComponent("fresh").path
        try #"{ "doc" : { "b" : 1, "a" : [1.50, 2, "x y"], "big" : 12345678901234567890 }, "id" : "x" }"#
            .write(to: cli.directory.appendingPathComponent("rows.jsonl"), atomically: true, encoding: .utf8)
        #expect(try await fresh.run("import", "db/c", "rows.jsonl").status == 0)
        #expect(try await fresh.run("get", "db/c/x").out == stored)
        #expect(try await fresh.run("export", "db/c").out == line)
    }

    @Test func deletePrintsItsVersionAsANumber() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        try await cli.run("put", "db/c/x", "{}")
        try await cli.run("put", "db/c/x", "[]")
        #expect(try await cli.run("delete", "db/c/x").out == #"{"deleted":"db/c/x","version":2}"#)
    }
}

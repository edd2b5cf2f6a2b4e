import DNSTestSupport
import Foundation
import Testing

/// `dnsstore shell`: one JSON line per request, in order, from command lines or JSON requests,
/// with one store object behind them all.
@Suite("Shell")
struct ShellTests {
    /// The answers to `lines`, one JSON object each.
    static func answers(_ cli: CLI, _ lines: [String], flags: [String] = []) async throws -> [[String: Any]] {
        let result = try await cli.run(["shell"] + flags, input: lines.joined(separator: "\n") + "\n")
        #expect(result.status == 0, "\(result.err)")
        return try result.out.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any], "\($0)")
        }
    }

    @Test func answersEachLineInOrderWithTheCommandsExitCodes() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let out = try await Self.answers(cli, [
            #"put inventory/hosts/web1 {"ip": "10.0.0.5", "tags": ["a b", "c"]}"#,
            "# a comment, and a blank line, get no answer",
            "",
            "get inventory/hosts/web1 --with-version",
            #"{"op": "update", "path": "inventory/hosts/web1", "doc": {"ip": "10.0.0.6"}, "ifVersion": 1, "id": 7}"#,
            #"{"op": "update", "path": "inventory/hosts/web1", "doc": {"ip": "10.0.0.7"}, "ifVersion": 1, "id": "stale"}"#,
            "insert inventory/hosts/web1 '{}'",
            #"{"op": "get", "path": "inventory/hosts/nowhere", "id": [1, 2]}"#,
            "list inventory/hosts",
            "find inventory/hosts ip=10.0.0.6",
            "collection list inventory",
            "put inventory/hosts",
            #"{"op": "get", "path": "inventory/hosts/web1", "colour": "red", "id": 9}"#,
            #"{"op": "get","#,
            "frobnicate now",
            "delete inventory/hosts/web1 --if-version 2",
            "quit",
            "get inventory/hosts/web1",
        ])
        #expect(out.count == 15)
        guard out.count == 15 else { return }
        func ok(_ i: Int) -> Bool { out[i]["ok"] as? Bool == true }
        func error(_ i: Int) -> [String: Any] { out[i]["error"] as? [String: Any] ?? [:] }
        #expect(ok(0) && (out[0]["result"] as? [String: Any])?["version"] as? Int == 1)
        // A document keeps its member order and spelling.
        let got = try JSONSerialization.data(withJSONObject: out[1]["result"] as Any, options: [.sortedKeys])
        #expect(String(decoding: got, as: UTF8.self) == #"{"doc":{"ip":"10.0.0.5","tags":["a b","c"]},"id":"web1","version":1}"#)
        #expect(out[2]["id"] as? Int == 7 && ok(2))
        #expect(out[3]["id"] as? String == "stale" && !ok(3))
        #expect(error(3)["code"] as? String == "conflict" && error(3)["exit"] as? Int == 4 && error(3)["version"] as? Int == 2)
        #expect(error(4)["exit"] as? Int == 4)
        #expect(out[5]["id"] as? [Int] == [1, 2] && error(5)["code"] as? String == "notFound" && error(5)["exit"] as? Int == 3)
        #expect(out[6]["result"] as? [String] == ["web1"])
        #expect((out[7]["result"] as? [[String: Any]])?.count == 1)
        #expect(out[8]["result"] as? [String] == ["hosts"])
        #expect(error(9)["exit"] as? Int == 2 && (error(9)["message"] as? String)?.contains("needs a document") == true)
        #expect(out[10]["id"] as? Int == 9 && (error(10)["message"] as? String)?.contains(#"unknown member "colour""#) == true)
        #expect(error(11)["exit"] as? Int == 2 && (error(11)["message"] as? String)?.contains("not a JSON object") == true)
        #expect((error(12)["message"] as? String)?.contains("unknown operation 'frobnicate'") == true)
        #expect(ok(13) && (out[13]["result"] as? [String: Any])?["version"] as? Int == 2)  // the version deleted
        #expect(ok(14))  // quit answers, and nothing after it runs
        #expect(try await cli.run("get", "inventory/hosts/web1").status == 3)
    }

    /// Reads in one shell see its own writes even from a read server that has not got them, while
    /// `any` from the same server does not: the shell is one session.
    @Test func oneShellIsOneSession() async throws {
        let primary = try await EmbeddedServer.start()
        let stale = try await EmbeddedServer.start()
        var cli = try CLI()
        defer { cli.cleanUp() }
        let keyFile = cli.directory.appendingPathComponent("primary.key").path
        try primary.key.bindKeyFile.write(toFile: keyFile, atomically: true, encoding: .utf8)
        let staleKey = cli.directory.appendingPathComponent("stale.key").path
        try stale.key.bindKeyFile.write(toFile: staleKey, atomically: true, encoding: .utf8)
        cli.environment = ["DNSSTORE_DOMAIN": "example.test"]
        // The read server holds version 1 and never hears of more.
        #expect(try await cli.run("put", "db/c/a", #"{"n":"old"}"#, "--server", "127.0.0.1:\(stale.port)", "--key", staleKey).status == 0)
        let flags = ["--primary", "127.0.0.1:\(primary.port)", "--read-server", "127.0.0.1:\(stale.port)", "--key", keyFile]
        let out = try await Self.answers(cli, [
            #"put db/c/a {"n":"first"}"#, #"put db/c/a {"n":"second"}"#, "get db/c/a --with-version",
        ], flags: flags)
        let read = out.last?["result"] as? [String: Any]
        #expect(read?["version"] as? Int == 2 && (read?["doc"] as? [String: Any])?["n"] as? String == "second", "\(out)")
        let any = try await cli.run(["get", "db/c/a", "--consistency", "any"] + flags)
        #expect(any.out == #"{"n":"old"}"#)
        await primary.stop()
        await stale.stop()
    }
}

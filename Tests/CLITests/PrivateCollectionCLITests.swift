import DNSTestSupport
import Foundation
import Testing

/// Private collections as a user runs them: a key made by keygen, then every command with and
/// without it, on the embedded store.
@Suite("Private collections on the command line")
struct PrivateCollectionCLITests {
    @Test func aPrivateCollectionNeedsItsKeyForEverything() async throws {
        var cli = try CLI()
        defer { cli.cleanUp() }
        let modes = try await SecretFileTests.creationModes(
            of: "cluster.enckey", running: ["keygen", "--encryption", "--output", "cluster.enckey"], in: cli.directory)
        #expect(!modes.isEmpty && modes.allSatisfy { $0 == "0600" }, "created with modes \(modes)")
        let keyText = try String(contentsOfFile: cli.directory.appendingPathComponent("cluster.enckey").path, encoding: .utf8)
        #expect(keyText.split(separator: "\n").contains { $0.hasPrefix("dnsstore-encryption-key ") })

        let made = try await cli.run("collection", "create", "ops/credentials", "--private")
        #expect(made.status == 5 && made.err.contains("needs an encryption key"), "\(made.err)")
        #expect(try await cli.run("collection", "create", "ops/credentials", "--private", "--encryption-key", "cluster.enckey").status == 0)
        let put = try await cli.run("put", "ops/credentials/db-primary", #"{"password":"hunter2"}"#, "--encryption-key", "cluster.enckey")
        #expect(put.status == 0, "\(put.err)")

        // The key from the environment, as a deployment would give it.
        cli.environment["DNSSTORE_ENCRYPTION_KEY_FILE"] = "cluster.enckey"
        #expect(try await cli.run("get", "ops/credentials/db-primary", "--compact").out == #"{"password":"hunter2"}"#)
        #expect(try idList(await cli.run("list", "ops/credentials", "--compact").out) == ["db-primary"])
        let exported = try await cli.run("export", "ops/credentials")
        #expect(exported.status == 0 && exported.out.contains("hunter2"), "\(exported.err)")
        cli.environment = [:]

        // Without it: exit 5 and a message naming the collection, for reads and writes alike.
        for arguments in [["get", "ops/credentials/db-primary"], ["list", "ops/credentials"],
                          ["put", "ops/credentials/other", #"{"a":1}"#], ["delete", "ops/credentials/db-primary"]] {
            let result = try await cli.run(arguments)
            #expect(result.status == 5, "\(arguments): \(result.status) \(result.err)")
            #expect(result.err.contains("'ops/credentials' is private"), "\(arguments): \(result.err)")
        }
        // Nothing readable in the data directory either (the database, its WAL and journal).
        let data = cli.directory.appendingPathComponent("dnsstore-data")
        let files = try FileManager.default.contentsOfDirectory(atPath: data.path)
        #expect(files.contains("zones.sqlite"))
        var sawCollection = false
        for file in files {
            let stored = Data(try readFile(data.appendingPathComponent(file).path))
            sawCollection = sawCollection || stored.range(of: Data("credentials".utf8)) != nil
            #expect(stored.range(of: Data("hunter2".utf8)) == nil && stored.range(of: Data("db-primary".utf8)) == nil, "\(file)")
        }
        #expect(sawCollection, "the search looked where the store writes")

        // Moved to a new key: the new one reads, the old one no longer does.
        #expect(try await cli.run("keygen", "--encryption", "--output", "new.enckey").status == 0)
        let rekeyed = try await cli.run("rekey", "ops/credentials", "--encryption-key", "cluster.enckey", "--new-key", "new.enckey", "--compact")
        #expect(rekeyed.status == 0 && rekeyed.out.contains(#""documents":"1""#), "\(rekeyed.out) \(rekeyed.err)")
        #expect(try await cli.run("get", "ops/credentials/db-primary", "--compact", "--encryption-key", "new.enckey").out == #"{"password":"hunter2"}"#)
        #expect(try await cli.run("get", "ops/credentials/db-primary", "--encryption-key", "cluster.enckey").status == 5)

        // A key file that cannot be used is named, with exit 2.
        try "dnsstore-encryption-key 0000 abc\n".write(to: cli.directory.appendingPathComponent("bad.enckey"), atomically: true, encoding: .utf8)
        let bad = try await cli.run("get", "ops/credentials/db-primary", "--encryption-key", "bad.enckey")
        #expect(bad.status == 2 && bad.err.contains("bad.enckey") && bad.err.contains("line 1"), "\(bad.err)")
    }

    /// A collection once seen private stays private across commands: its `"private"` stripped
    /// from the zone makes every command exit 9 (corrupt), with or without the key, and nothing is
    /// written in the clear. The pins live in a file of mode 0600; a configured pin works alike.
    @Test func aStrippedPrivateMarkFailsEveryLaterCommand() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        #expect(try await cli.run("keygen", "--encryption", "--output", "cluster.enckey").status == 0)
        #expect(try await cli.run("collection", "create", "ops/credentials", "--private", "--encryption-key", "cluster.enckey").status == 0)
        #expect(try await cli.run("put", "ops/credentials/db", #"{"password":"hunter2"}"#, "--encryption-key", "cluster.enckey").status == 0)
        let pinFile = cli.stateDirectory.appendingPathComponent("private-collections.json").path
        let pins = try String(contentsOfFile: pinFile, encoding: .utf8)
        #expect(pins.contains("ops/credentials"), "\(pins)")
        let mode = try FileManager.default.attributesOfItem(atPath: pinFile)[.posixPermissions] as? Int
        #expect(mode == 0o600, "the pin file has mode \(String(mode ?? 0, radix: 8))")

        // The collection's record and its index entry, rewritten without "private".
        let record = try #require(try await cli.run("inspect", "ops/credentials/db", "--encryption-key", "cluster.enckey").out.split(separator: " ").first)
        let labels = record.split(separator: ".")
        let collectionName = labels.dropFirst(2).joined(separator: ".") + "."
        let indexName = labels.dropFirst(3).joined(separator: ".") + "."
        let chunk = try #require(Int(labels[3]))
        let stripped = #"{"chunks":{"total":16},"name":"credentials"}"#
        #expect(try await cli.run("dns", "set", collectionName, stripped).status == 0)
        #expect(try await cli.run("dns", "set", indexName, #"{"collection":{"credentials":\#(stripped)},"id":\#(chunk)}"#).status == 0)

        for arguments in [["put", "ops/credentials/new", #"{"password":"in-the-clear"}"#, "--encryption-key", "cluster.enckey"],
                          ["put", "ops/credentials/new", #"{"password":"in-the-clear"}"#], ["get", "ops/credentials/db"],
                          ["list", "ops/credentials"]] {
            let result = try await cli.run(arguments)
            #expect(result.status == 9, "\(arguments): \(result.status) \(result.err)")
            #expect(result.err.contains("no longer says so"), "\(arguments): \(result.err)")
        }
        // A pin from the configuration, on a machine that never saw the collection.
        var configured = cli
        configured.environment = ["DNSSTORE_STATE_DIR": cli.directory.appendingPathComponent("other-state").path,
                                  "DNSSTORE_PRIVATE_COLLECTIONS": "ops/credentials"]
        let refused = try await configured.run("put", "ops/credentials/new", #"{"password":"in-the-clear"}"#)
        #expect(refused.status == 9, "\(refused.err)")
        let dump = try await cli.run("dns", "query", indexName, "TXT")
        #expect(!dump.out.contains("in-the-clear"))
        #expect(try await cli.run("get", "ops/credentials/new", "--encryption-key", "cluster.enckey").status == 9)
    }
}

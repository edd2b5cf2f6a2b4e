import DNSTestSupport
import Foundation
import Testing

/// What an operator trips on first: a mistyped command or configuration key, and the version.
@Suite("Command line habits")
struct CLIHabitsTests {
    @Test func aMistypedCommandIsNamedWithTheNearestOne() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let result = try await cli.run("gte", "db/c/a")
        #expect(result.status == 2)
        #expect(result.err == "dnsstore: unknown command 'gte'; did you mean 'get'? (see 'dnsstore --help')", "\(result.err)")
        let far = try await cli.run("frobnicate")
        #expect(far.status == 2 && far.err == "dnsstore: unknown command 'frobnicate' (see 'dnsstore --help')", "\(far.err)")
    }

    /// A command's help lists its own options before the thirteen every store command shares.
    @Test func helpListsTheCommandsOwnOptionsFirst() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        for (command, own) in [(["watch"], "--from"), (["find"], "--fields"), (["lease", "keepalive"], "--once"), (["collection", "create"], "--chunks")] {
            let help = try await cli.run(command + ["--help"])
            #expect(help.status == 0)
            let ownAt = try #require(help.out.range(of: own), "\(command): no \(own) in \(help.out)")
            let serverAt = try #require(help.out.range(of: "--server"), "\(command): no --server")
            #expect(ownAt.lowerBound < serverAt.lowerBound, "\(command): \(help.out)")
            // Each default said once.
            #expect(!help.out.contains("(default: 2.0) (default"), "\(help.out)")
        }
    }

    @Test func anUnknownConfigurationKeyIsRefusedByName() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let path = cli.directory.appendingPathComponent("dnsstore.json").path
        try #"{"domian": "example.test"}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try await cli.run("get", "db/c/a", "--config", path)
        #expect(result.status == 2)
        #expect(result.err.contains("config file \(path): unknown key 'domian' (did you mean 'domain'?)"), "\(result.err)")
    }

    /// Connection options before the subcommand work as after it.
    @Test func optionsBeforeTheSubcommandAreTakenAsAfterIt() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let data = cli.directory.appendingPathComponent("elsewhere").path
        #expect(try await cli.run("--data", data, "db", "create", "inventory").status == 0)
        #expect(try await cli.run("--compact", "--data=\(data)", "put", "inventory/hosts/a", "{}").status == 0)
        #expect(try await cli.run("db", "list", "--data", data).out == #"["inventory"]"#)
        #expect(try await cli.run("--data", data, "get", "inventory/hosts/a").out == "{}")
    }

    /// Nothing configured: a command on the embedded store says so when it finds no store.
    @Test func aMissingStoreOnTheEmbeddedDefaultSaysNoServerIsConfigured() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let result = try await cli.run("get", "db/c/a")
        #expect(result.status == 3)
        #expect(result.err.contains("this is the embedded store in dnsstore-data: no server is configured"), "\(result.err)")
    }

    @Test func theVersionSaysTheFormatItWrites() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        for argument in ["--version", "version"] {
            let result = try await cli.run(argument)
            #expect(result.status == 0)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any])
            #expect(object["format"] as? Int == 1 && object["version"] is String, "\(result.out)")
        }
    }

    /// `find --table`: id, version and the fields, the first documents' own or those asked for.
    @Test func findPrintsATableOfTheFieldsAsked() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        #expect(try await cli.run("put", "inv/hosts/web1", #"{"role":"web","ip":"10.0.0.5","site":{"city":"Oslo"}}"#).status == 0)
        #expect(try await cli.run("put", "inv/hosts/db1", #"{"role":"db"}"#).status == 0)
        let own = try await cli.run("find", "inv/hosts", "role=web", "--table")
        #expect(own.out == """
            id    version  ip        role  site
            ----  -------  --------  ----  ---------------
            web1  1        10.0.0.5  web   {"city":"Oslo"}
            (1 row)
            """, "\(own.out)")
        let asked = try await cli.run("find", "inv/hosts", "--table", "--fields", "role,site.city")
        #expect(asked.out.split(separator: "\n").map(String.init) == [
            "id    version  role  site.city", "----  -------  ----  ---------", "db1   1        db", "web1  1        web   Oslo", "(2 rows)",
        ] || asked.out.split(separator: "\n").map(String.init) == [
            "id    version  role  site.city", "----  -------  ----  ---------", "web1  1        web   Oslo", "db1   1        db", "(2 rows)",
        ], "\(asked.out)")
        let alone = try await cli.run("find", "inv/hosts", "--fields", "role")
        #expect(alone.status == 2 && alone.err.hasPrefix("dnsstore: --fields goes with --table"), "\(alone.err)")
    }

    /// A write refused for want of a key says that no key is configured; a key file that is not
    /// there is named as such, without suggesting a new key the server would not know.
    @Test func refusalsNameTheirRealCause() async throws {
        let server = try await EmbeddedServer.start()
        var cli = try CLI()
        defer {
            cli.cleanUp()
            Task { await server.stop() }
        }
        cli.environment = ["DNSSTORE_SERVER": "127.0.0.1:\(server.port)", "DNSSTORE_DOMAIN": "example.test"]
        let unsigned = try await cli.run("put", "db/c/a", "{}")
        #expect(unsigned.status == 5, "\(unsigned.err)")
        #expect(unsigned.err.contains("no TSIG key is configured, and the server accepts only signed writes (--key FILE"), "\(unsigned.err)")
        let missing = try await cli.run("put", "db/c/a", "{}", "--key", "no.key")
        #expect(missing.status == 2)
        #expect(missing.err.hasPrefix("dnsstore: cannot read the key file no.key: it does not exist; give the key file the server accepts"), "\(missing.err)")
        #expect(!missing.err.contains("keygen"))
        // A private collection without encryption keys: the flag that gives them.
        let keyFile = cli.directory.appendingPathComponent("tsig.key").path
        try server.key.bindKeyFile.write(toFile: keyFile, atomically: true, encoding: .utf8)
        let keyless = try await cli.run("collection", "create", "db/secrets", "--private", "--key", keyFile)
        #expect(keyless.status == 5, "\(keyless.err)")
        #expect(keyless.err.contains("(--encryption-key FILE gives it; 'dnsstore keygen --encryption' makes one)"), "\(keyless.err)")
    }
}

import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// Usage errors, configuration and unreachable servers, as a new user meets them.
@Suite("Command line: usage and configuration")
struct CLIConfigTests {
    @Test func usageErrorsExitTwoWithOneLine() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let cases: [([String], String)] = [
            (["list"], "dnsstore: Missing expected argument '<path>' (see 'dnsstore list --help')"),
            (["list", "db/c", "--limit", "-1"], "dnsstore: --limit must be 0 or more, not -1 (see 'dnsstore list --help')"),
            (["get", "db/c/x", "--bogus"], "dnsstore: Unknown option '--bogus' (see 'dnsstore get --help')"),
            (["update", "db/c/x", "{}", "--if-version", "0"], "dnsstore: --if-version must be a version, 1 or more, not 0 (see 'dnsstore update --help')"),
            (["update", "db/c/x", "{}", "--if-version", "two"], "dnsstore: The value 'two' is invalid for '--if-version <if-version>' (see 'dnsstore update --help')"),
            (["collection", "create", "db/c", "--chunks", "0"], "dnsstore: --chunks must be 1 to 4096, not 0 (see 'dnsstore collection create --help')"),
            (["get", "db/c/x", "--timeout", "-2"], "dnsstore: --timeout must be above 0 and at most 600 seconds, not -2.0 (see 'dnsstore get --help')"),
            (["nonsense"], "dnsstore: unknown command 'nonsense' (see 'dnsstore --help')"),
        ]
        for (arguments, message) in cases {
            let result = try await cli.run(arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.err == message, "\(arguments)")
            #expect(result.stdout.isEmpty)
        }
        #expect(try await cli.run("list", "--help").status == 0)
    }

    @Test func dnsCommandsTakeTheSameConfigurationAsTheStore() async throws {
        let server = try await EmbeddedServer.start()
        defer { Task { await server.stop() } }
        var cli = try CLI()
        defer { cli.cleanUp() }
        let keyFile = cli.directory.appendingPathComponent("tsig.key").path
        try server.key.bindKeyFile.write(toFile: keyFile, atomically: true, encoding: .utf8)
        cli.environment = ["DNSSTORE_SERVER": "127.0.0.1:\(server.port)", "DNSSTORE_KEY_FILE": keyFile, "DNSSTORE_ZONE": "example.test"]
        #expect(try await cli.run("dns", "set", "cfg.example.test", "v1").status == 0)
        #expect(try await cli.run("dns", "set", "cfg.example.test", "v2", "--if-value", "v1").status == 0)
        let stale = try await cli.run("dns", "set", "cfg.example.test", "v3", "--if-value", "v1")
        #expect(stale.status == 4)
        #expect(try await cli.run("dns", "query", "cfg.example.test").out == #"cfg.example.test. 300 IN TXT "v2""#)
        #expect(try await cli.run("dns", "delete", "cfg.example.test").status == 0)
        #expect(try await cli.run("dns", "query", "cfg.example.test").status == 3)

        // The same settings from a config file.
        var fromFile = try CLI()
        defer { fromFile.cleanUp() }
        try #"{"server": "127.0.0.1:\#(server.port)", "key": "\#(keyFile)", "domain": "example.test"}"#
            .write(to: fromFile.directory.appendingPathComponent("dnsstore.json"), atomically: true, encoding: .utf8)
        fromFile.environment = [:]
        #expect(try await fromFile.run("dns", "set", "file.example.test", "ok").status == 0)
        #expect(try await fromFile.run("dns", "query", "file.example.test").out.hasSuffix(#"TXT "ok""#))

        // With nothing configured, the embedded store answers.
        let local = try CLI()
        defer { local.cleanUp() }
        try await local.run("put", "db/c/x", "{}")
        #expect(try await local.run("dns", "query", "_dnsstore.dnsstore.localhost").out.contains(#"\"version\":1"#))
    }

    @Test func anUnreachableServerIsCalledSoAndASilentOneTimesOutAsDocumented() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let refused = try await cli.run("get", "db/c/x", "-s", "127.0.0.1:\(Ports.free())", "-d", "example.test")
        #expect(refused.status == 6)
        #expect(refused.err.hasPrefix("dnsstore: unreachable: reading _dnsstore.example.test.: UDP to 127.0.0.1:"))
        #expect(refused.err.hasSuffix(": Connection refused; check that the server is running and its address is right"))
        #expect(!refused.err.contains(")"))
        let dnsRefused = try await cli.run("dns", "query", "-s", "127.0.0.1:\(Ports.free())", "x.example.test")
        #expect(dnsRefused.status == 6 && dnsRefused.err.hasPrefix("dnsstore: unreachable: UDP to 127.0.0.1:"))

        // A socket that takes queries and never answers.
        let silent = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(silent) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(silent, $0, length) == 0 && getsockname(silent, $0, &length) == 0 }
        }
        try #require(bound)
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let start = ContinuousClock.now
        let timedOut = try await cli.run("get", "db/c/x", "-s", "127.0.0.1:\(port)", "-d", "example.test", "--timeout", "0.4")
        let elapsed = ContinuousClock.now - start
        #expect(timedOut.status == 6)
        #expect(timedOut.err.hasPrefix("dnsstore: timeout: reading _dnsstore.example.test.: "))
        #expect(timedOut.err.hasSuffix("(2 tries of 0.4 s each; --timeout and --attempts change it)"))
        // At least the two tries; well under what a hang would take, with room for a loaded machine
        // (a debug build's process took over 10 s to start and end beside the full suite once).
        #expect(elapsed >= .milliseconds(800) && elapsed < .seconds(30), "\(elapsed)")
    }
}

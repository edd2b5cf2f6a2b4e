import DNSTestSupport
import Foundation
import Testing

/// A script tells apart, by exit code alone, whether a write may have happened.
@Suite("Exit codes of faults")
struct ExitCodeTests {
    /// The UPDATE reaches the server and its answer is lost: 7, and the document is there.
    /// Our server behind a relay that can lose answers, and a command line pointed at the relay
    /// with the server's key, after a first write of db/c/a at version 1.
    static func withRelayedServer(_ body: (Relay, CLI) async throws -> Void) async throws {
        let server = try await EmbeddedServer.start()
        let relay = try Relay(to: server.port)
        var cli = try CLI()
        defer {
            relay.stop()
            cli.cleanUp()
        }
        let keyFile = cli.directory.appendingPathComponent("tsig.key").path
        try server.key.bindKeyFile.write(toFile: keyFile, atomically: true, encoding: .utf8)
        cli.environment = ["DNSSTORE_SERVER": "127.0.0.1:\(relay.port)", "DNSSTORE_KEY_FILE": keyFile, "DNSSTORE_DOMAIN": "example.test"]
        #expect(try await cli.run("put", "db/c/a", #"{"n":1}"#).status == 0)
        try await body(relay, cli)
        await server.stop()
    }

    @Test func aWriteWhoseAnswerIsLostExitsSevenAndMayHaveHappened() async throws {
        try await Self.withRelayedServer { relay, cli in
            relay.loseUpdateAnswers()
            let lost = try await cli.run("put", "db/c/a", #"{"n":2}"#, "--timeout", "1", "--attempts", "2")
            #expect(lost.status == 7, "\(lost.err)")
            #expect(lost.err.hasPrefix("dnsstore: outcome unknown: "), "\(lost.err)")
            #expect(lost.err.contains("read the document before writing again"))
            // Reads still pass through: the write was in fact applied.
            #expect(try await cli.run("get", "db/c/a").out == #"{"n":2}"#)

            relay.loseUpdateAnswers(false)
            #expect(try await cli.run("put", "db/c/a", #"{"n":3}"#).status == 0)
        }
    }

    /// The first attempt of a compare-and-swap applies and its answer is lost; the retry then
    /// finds the version moved on. That is not a conflict the caller lost: 7, never 4.
    @Test func aRetriedCompareAndSwapWhoseFirstAnswerWasLostIsUnknownNotAConflict() async throws {
        try await Self.withRelayedServer { relay, cli in
            relay.loseUpdateAnswers(next: 1)
            let retried = try await cli.run("update", "db/c/a", #"{"n":2}"#, "--if-version", "1", "--timeout", "1", "--attempts", "2")
            #expect(retried.status == 7, "\(retried.err)")
            #expect(retried.err.hasPrefix("dnsstore: outcome unknown: "), "\(retried.err)")
            // The first attempt was the one applied.
            #expect(try await cli.run("get", "db/c/a").out == #"{"n":2}"#)
        }
    }

    /// A server that answers SERVFAIL applied nothing: 8, and a read that cannot be served is 8 too.
    @Test func aServerThatFailsExitsEightAndChangesNothing() async throws {
        let failing = try FailingServer()
        var cli = try CLI()
        defer {
            failing.stop()
            cli.cleanUp()
        }
        cli.environment = ["DNSSTORE_SERVER": "127.0.0.1:\(failing.port)", "DNSSTORE_DOMAIN": "example.test"]
        let read = try await cli.run("get", "db/c/a", "--timeout", "0.3", "--attempts", "2")
        #expect(read.status == 8, "\(read.err)")
        #expect(read.err.contains("server failure") || read.err.contains("SERVFAIL"), "\(read.err)")
        let write = try await cli.run("put", "db/c/a", "{}", "--timeout", "0.3", "--attempts", "2")
        #expect(write.status == 8, "\(write.err)")
    }

    /// Nothing listens: 6, quickly, for reads and writes alike (nothing was sent that could apply).
    @Test func noServerExitsSix() async throws {
        var cli = try CLI()
        defer { cli.cleanUp() }
        cli.environment = ["DNSSTORE_SERVER": "127.0.0.1:\(Ports.free())", "DNSSTORE_DOMAIN": "example.test"]
        for arguments in [["get", "db/c/a"], ["put", "db/c/a", "{}"]] {
            let result = try await cli.run(arguments + ["--timeout", "0.3", "--attempts", "2"])
            #expect(result.status == 6, "\(arguments): \(result.err)")
        }
    }
}

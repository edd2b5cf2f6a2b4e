import DNSTestSupport
import Foundation
import Testing

/// Commands run one after another against read servers of which one is silent: only the first
/// waits for it; the rest remember (the cache folder's servers.json) and go to the live one.
@Suite("Real time: a dead read server costs one timeout")
struct RealTimeFailoverTests {
    @Test func twentyReadsWithOneOfTwoReadServersSilent() async throws {
        let server = try await EmbeddedServer.start()
        let silent = try Relay(to: server.port)
        silent.cut()
        var cli = try CLI()
        defer {
            silent.stop()
            cli.cleanUp()
        }
        let keyFile = cli.directory.appendingPathComponent("tsig.key").path
        try server.key.bindKeyFile.write(toFile: keyFile, atomically: true, encoding: .utf8)
        cli.environment = ["DNSSTORE_PRIMARY": "127.0.0.1:\(server.port)", "DNSSTORE_KEY_FILE": keyFile, "DNSSTORE_DOMAIN": "example.test"]
        #expect(try await cli.run("put", "db/c/a", #"{"n":1}"#).status == 0)

        let clock = ContinuousClock()
        func twentyReads(_ readServers: [Int]) async throws -> Duration {
            let flags = readServers.flatMap { ["--read-server", "127.0.0.1:\($0)"] }
            let start = clock.now
            for _ in 0..<20 {
                let read = try await cli.run(["get", "db/c/a", "--consistency", "any", "--timeout", "1", "--attempts", "1"] + flags)
                #expect(read.status == 0 && read.out == #"{"n":1}"#, "\(read.err)")
            }
            return clock.now - start
        }
        let healthy = try await twentyReads([server.port])
        let withSilent = try await twentyReads([silent.port, server.port])
        // One timeout (1 s) for the first read; the others pass the silent server over.
        #expect(withSilent - healthy < .milliseconds(2_500), "20 reads: \(withSilent) with a silent read server, \(healthy) without")
        let remembered = cli.directory.appendingPathComponent("cache/servers.json").path
        let attributes = try FileManager.default.attributesOfItem(atPath: remembered)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try String(contentsOfFile: remembered, encoding: .utf8).contains("127.0.0.1:\(silent.port)"))
        await server.stop()
    }
}

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

/// A lease a shell keeps alive, revoked by another client: the shell says so on a line of its own.
@Suite("Real time: a shell's lease lost")
struct RealTimeShellLeaseTests {
    @Test func aShellSaysWhenALeaseItKeepsAliveIsLost() async throws {
        let server = try await EmbeddedServer.start()
        var cli = try CLI()
        defer { cli.cleanUp() }
        let keyFile = cli.directory.appendingPathComponent("tsig.key").path
        try server.key.bindKeyFile.write(toFile: keyFile, atomically: true, encoding: .utf8)
        cli.environment = ["DNSSTORE_SERVER": "127.0.0.1:\(server.port)", "DNSSTORE_KEY_FILE": keyFile, "DNSSTORE_DOMAIN": "example.test"]
        let granted = try await cli.run("lease", "grant", "3")
        let lease = try #require(try JSONSerialization.jsonObject(with: Data(granted.out.utf8)) as? [String: Any])["lease"] as? String
        let id = try #require(lease)
        let environment = cli.environment.merging(["DNSSTORE_STATE_DIR": cli.stateDirectory.path]) { $1 }
        // The shell's input stays open for 6 s, long enough for a renewal to find the lease gone.
        let script = "(printf 'lease keepalive \(id)\\nput svc/nodes/a {\"up\":true} --lease \(id)\\n'; sleep 6) | '\(cli.binary)' shell"
        let directory = cli.directory
        let shell = Task { try await Subprocess.run("/bin/sh", ["-c", script], environment: environment, directory: directory) }
        // Revoked once the shell's put has landed (a fixed pause lost that race on a loaded machine).
        let putLanded = try await Poll.until(within: .seconds(4)) { try await cli.run("get", "svc/nodes/a").status == 0 }
        #expect(putLanded, "the shell's put did not land within 4 s")
        #expect(try await cli.run("lease", "revoke", id).status == 0)
        let result = try await shell.value
        let lines = result.out.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(lines) \(result.err)")
        #expect(lines.first?.contains(#""ok":true"#) == true)
        #expect(lines.dropFirst().first?.contains(#""ok":true"#) == true)
        #expect(lines.last?.hasPrefix(#"{"event":"lease lost","lease":"\#(id)""#) == true, "\(lines)")
        #expect(lines.last?.contains(#""exit":3"#) == true || lines.last?.contains(#""exit":10"#) == true, "\(lines)")
        await server.stop()
    }
}

import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import NIOCore
import Testing

/// `dnsstore status` on a primary with a BIND 9 and a Knot secondary.
@Suite("Cluster status")
struct StatusTests {
    @Test func aSecondaryBehindOrStoppedIsNamedAndTheExitStatusSaysSo() async throws {
        let bindPort = Ports.free()
        let knotPort = Ports.free()
        // The primary tells BIND of changes and not Knot: Knot stays behind until its SOA refresh.
        let primary = try await EmbeddedServer.start { $0.notify = [try! .init(ipAddress: "127.0.0.1", port: bindPort)] }
        let bind = try await SecondaryServer.start(.bind, port: bindPort, zone: "example.test.", primaryPort: primary.port, key: primary.key)
        let knot = try await SecondaryServer.start(.knot, port: knotPort, zone: "example.test.", primaryPort: primary.port, key: primary.key)
        var cli = try CLI()
        defer {
            knot.resume()
            knot.stop()
            bind.stop()
            cli.cleanUp()
        }
        let keyFile = cli.directory.appendingPathComponent("tsig.key").path
        try primary.key.bindKeyFile.write(toFile: keyFile, atomically: true, encoding: .utf8)
        cli.environment = ["DNSSTORE_PRIMARY": "127.0.0.1:\(primary.port)", "DNSSTORE_READ_SERVERS": "127.0.0.1:\(bindPort),127.0.0.1:\(knotPort)",
                           "DNSSTORE_DOMAIN": "example.test", "DNSSTORE_KEY_FILE": keyFile, "DNSSTORE_CONSISTENCY": "latest"]
        // Both secondaries load the zone at start.
        let loaded = try await Poll.until(within: .seconds(20), every: .milliseconds(200)) {
            let status = try await cli.run("status")
            return status.status == 0
        }
        #expect(loaded)
        let healthy = try await cli.run("status")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(healthy.out.utf8)) as? [String: Any])
        #expect(object["healthy"] as? Bool == true, "\(healthy.out)")
        let servers = try #require(object["servers"] as? [[String: Any]])
        #expect(servers.count == 3 && servers.allSatisfy { $0["transfers"] as? Bool == true && $0["behind"] as? Int == 0 }, "\(healthy.out)")

        // A write: BIND hears of it, Knot does not.
        #expect(try await cli.run("put", "db/c/a", "{}").status == 0)
        #expect(try await Poll.until(within: .seconds(10), every: .milliseconds(100)) {
            let status = try await cli.run("status", "--table")
            return status.out.contains("127.0.0.1:\(bindPort)") && status.status == 11
        })
        let behind = try await cli.run("status", "--table")
        #expect(behind.status == 11, "\(behind.out) \(behind.err)")
        let knotLine = try #require(behind.out.split(separator: "\n").first { $0.hasPrefix("127.0.0.1:\(knotPort)") })
        #expect(knotLine.contains("behind"), "\(behind.out)")
        let bindLine = try #require(behind.out.split(separator: "\n").first { $0.hasPrefix("127.0.0.1:\(bindPort)") })
        #expect(bindLine.contains("current"), "\(behind.out)")
        #expect(behind.out.contains("database db: c"), "\(behind.out)")
        // Allowed that far behind, the status passes.
        #expect(try await cli.run("status", "--max-lag", "100").status == 0)

        // Knot stopped: unreachable, exit 6.
        knot.pause()
        let stopped = try await cli.run("status", "--table", "--timeout", "0.5", "--attempts", "1")
        #expect(stopped.status == 6, "\(stopped.out) \(stopped.err)")
        let stoppedLine = try #require(stopped.out.split(separator: "\n").first { $0.hasPrefix("127.0.0.1:\(knotPort)") })
        #expect(stoppedLine.contains("unreachable"), "\(stopped.out)")
        await primary.stop()
    }
}

import DNSClient
import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// RFC 9664 UPDATE-LEASE: names an UPDATE adds to under a lease are deleted by the server when it
/// ends, in a journaled step that secondaries follow, unless an UPDATE with a lease refreshes them.
@Suite("UPDATE-LEASE")
struct UpdateLeaseTests {
    static func leased(_ name: DNSName, _ text: String, lease: UInt32, zone: DNSName) -> Message {
        var update = UpdateBuilder(zone: zone)
        update.add(.txt(name, TXT(text)))
        var message = update.message()
        message.edns = EDNS(options: [.updateLease(lease)])
        return message
    }

    @Test func aLeaseOptionThatIsNotFourOrEightOctetsIsAFormatError() async throws {
        let server = try await EmbeddedServer.start()
        defer { Task { await server.stop() } }
        let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: server.port, key: server.key))
        defer { Task { await client.shutdown() } }
        var message = Self.leased("x.example.test.", "x", lease: 5, zone: server.zone)
        message.edns = EDNS(options: [EDNSOption(code: EDNSOption.updateLeaseCode, data: [0, 0, 5])])
        #expect(try await client.send(message).rcode == .formErr)
    }
}

/// UPDATE-LEASE in real time (run apart from the other suites: scripts/test).
@Suite("UPDATE-LEASE in real time")
struct RealTimeUpdateLeaseTests {
    /// The TXT records of `name`; none when it does not exist.
    static func txt(_ name: DNSName, _ client: DNSClient) async throws -> Int {
        do {
            return try await client.records(name, type: .txt).count
        } catch DNSError.nxDomain {
            return 0
        }
    }

    @Test func leasedNamesGoWhenTheLeaseEndsUnlessRefreshedAndSecondariesFollow() async throws {
        let secondaryPort = Ports.free()
        let primary = try await EmbeddedServer.start { config in
            config.notify = [try! .init(ipAddress: "127.0.0.1", port: secondaryPort)]
            config.maxUpdateLease = 3_600
        }
        let bind = try await SecondaryServer.start(.bind, port: secondaryPort, zone: primary.zone, primaryPort: primary.port, key: primary.key)
        defer { bind.stop() }
        let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: primary.port, key: primary.key))
        defer { Task { await client.shutdown() } }

        // Granted as asked, and said so in the answer; a lease past the server's maximum is cut to it.
        let answer = try await client.send(UpdateLeaseTests.leased("short.example.test.", "a", lease: 2, zone: primary.zone))
        #expect(answer.rcode == .noError && answer.edns?.options.compactMap(\.updateLease).first?.lease == 2)
        let capped = try await client.send(UpdateLeaseTests.leased("long.example.test.", "b", lease: 100_000, zone: primary.zone))
        #expect(capped.edns?.options.compactMap(\.updateLease).first?.lease == 3_600)
        _ = try await client.send(UpdateLeaseTests.leased("renewed.example.test.", "c", lease: 2, zone: primary.zone))

        // Refreshed every second (the same records again: no change, a new end), "renewed" stays.
        let start = ContinuousClock.now
        while ContinuousClock.now - start < .seconds(4) {
            _ = try await client.send(UpdateLeaseTests.leased("renewed.example.test.", "c", lease: 2, zone: primary.zone))
            try await Task.sleep(for: .seconds(1))
        }
        #expect(try await Self.txt("short.example.test.", client) == 0, "an expired name is still served")
        #expect(try await Self.txt("renewed.example.test.", client) == 1)
        #expect(try await Self.txt("long.example.test.", client) == 1)

        // The deletion was a journaled change: the BIND secondary follows it without a further write.
        let bindClient = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: secondaryPort))
        defer { Task { await bindClient.shutdown() } }
        let gone = try await Poll.until(within: .seconds(20)) {
            let short = try? await Self.txt("short.example.test.", bindClient)
            let renewed = try? await Self.txt("renewed.example.test.", bindClient)
            return short == 0 && renewed == 1
        }
        #expect(gone, "the BIND secondary did not follow the expiry")
    }

}

import DNSClient
import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// Real BIND 9 and Knot secondaries replicating from our server with signed AXFR, then IXFR.
@Suite("Replication to BIND and Knot secondaries", .enabled(if: TestMode.externalServers))
struct ReplicationTests {
    /// The zone's records as a set of presentation lines, from an AXFR signed with `key`.
    static func contents(port: Int, zone: DNSName, key: TSIGKey) async throws -> Set<String> {
        let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port, key: key))
        defer { Task { await client.shutdown() } }
        let transfer = try await client.transfer(zone: zone)
        return Set(transfer.records.map { "\($0.name.lowercased) \($0.type) \($0.rdata.presentation)" })
    }

    static func serial(port: Int, zone: DNSName) async throws -> UInt32? {
        let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port))
        defer { Task { await client.shutdown() } }
        guard let answer = try? await client.query(zone, type: .soa), case .soa(let soa)? = answer.answers.first?.rdata else {
            return nil
        }
        return soa.serial
    }

    static func waitForSerial(_ serial: UInt32, port: Int, zone: DNSName, _ what: String, log: () -> String = { "" }) async throws {
        // Generous: the primary here runs in the test process, whose task pool the suite's many
        // blocking subprocess calls can hold for tens of seconds, delaying its NOTIFY.
        var seen: UInt32?
        let reached = try await Poll.until(within: .seconds(60), every: .milliseconds(100)) {
            seen = try await Self.serial(port: port, zone: zone)
            return seen == serial
        }
        if reached { return }
        // What the secondary said decides whether it was its pacing, a lost NOTIFY or our answer.
        Issue.record("\(what) did not reach serial \(serial) (at \(seen.map(String.init) ?? "none")); its log ends: \(log().suffix(3000))")
    }

    /// A DNAME may not have names below it (RFC 6672): one added above existing names, or a name
    /// added below one, is refused, so a Knot secondary (which refuses such a zone whole) keeps
    /// loading the zone; a DNAME at a leaf is accepted and replicated.
    @Test func aDNAMEOverExistingNamesIsRefusedAndKnotKeepsTheZone() async throws {
        let secondaryPort = Ports.free()
        let primary = try await EmbeddedServer.start { config in
            config.notify = [try! .init(ipAddress: "127.0.0.1", port: secondaryPort)]
        }
        let secondary = try await SecondaryServer.start(.knot, port: secondaryPort, zone: primary.zone, primaryPort: primary.port, key: primary.key)
        defer { secondary.stop() }
        let writer = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: primary.port, key: primary.key))
        defer { Task { await writer.shutdown() } }
        var add = UpdateBuilder(zone: primary.zone)
        add.add(.txt("doc.sub.example.test.", TXT("below")))
        try await writer.update(add)
        func dname(_ owner: DNSName, to target: DNSName) -> ResourceRecord {
            ResourceRecord(name: owner, type: .dname, ttl: 300, rdata: .opaque(target.wire + [0]))
        }
        for (what, update) in [
            ("a DNAME above an existing name", { var u = UpdateBuilder(zone: primary.zone); u.add(dname("sub.example.test.", to: "elsewhere.test.")); return u }()),
            ("a DNAME and a name below it together", { var u = UpdateBuilder(zone: primary.zone); u.add(dname("new.example.test.", to: "elsewhere.test.")); u.add(.txt("x.new.example.test.", TXT("x"))); return u }()),
        ] {
            let answer = try await writer.send(update.message(id: 0))
            #expect(answer.rcode == .refused, "\(what): \(answer.rcode)")
        }
        var leaf = UpdateBuilder(zone: primary.zone)
        leaf.add(dname("leaf.example.test.", to: "elsewhere.test."))
        try await writer.update(leaf)
        var below = UpdateBuilder(zone: primary.zone)
        below.add(.txt("deep.x.leaf.example.test.", TXT("occluded")))
        #expect(try await writer.send(below.message(id: 0)).rcode == .refused, "a name below the DNAME")

        var after = UpdateBuilder(zone: primary.zone)
        after.add(.txt("after.example.test.", TXT("still replicated")))
        try await writer.update(after)
        let serial = try #require(try await Self.serial(port: primary.port, zone: primary.zone))
        try await Self.waitForSerial(serial, port: secondaryPort, zone: primary.zone, "Knot after the refused DNAMEs") { secondary.log }
        #expect(try await Self.contents(port: secondaryPort, zone: primary.zone, key: primary.key)
            == Self.contents(port: primary.port, zone: primary.zone, key: primary.key))
    }

    @Test(arguments: [ServerKind.bind, .knot])
    func secondaryTransfersThenFollowsChanges(_ kind: ServerKind) async throws {
        let secondaryPort = Ports.free()
        let primary = try await EmbeddedServer.start { config in
            config.notify = [try! .init(ipAddress: "127.0.0.1", port: secondaryPort)]
        }
        let secondary = try await SecondaryServer.start(kind, port: secondaryPort, zone: primary.zone, primaryPort: primary.port, key: primary.key)
        defer {
            secondary.stop()
        }
        let writer = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: primary.port, key: primary.key))
        // Initial copy: a full AXFR of a zone spanning several messages.
        var add = UpdateBuilder(zone: primary.zone)
        for i in 0..<300 { add.add(.txt(try DNSName("doc\(i).example.test."), TXT(String(repeating: "d", count: 100)))) }
        try await writer.update(add)
        try await Self.waitForSerial(2, port: secondaryPort, zone: primary.zone, "\(kind) after the first transfer") { secondary.log }
        #expect(try await Self.contents(port: secondaryPort, zone: primary.zone, key: primary.key)
            == Self.contents(port: primary.port, zone: primary.zone, key: primary.key))

        // Then changes: NOTIFY, and the secondary asks for the difference (IXFR).
        for round in 0..<3 {
            var change = UpdateBuilder(zone: primary.zone)
            change.apply(.deleteName(try DNSName("doc\(round).example.test.")))
            change.add(.txt(try DNSName("new\(round).example.test."), TXT("round \(round)")))
            try await writer.update(change)
        }
        try await Self.waitForSerial(5, port: secondaryPort, zone: primary.zone, "\(kind) after the changes") { secondary.log }
        let primaryData = try await Self.contents(port: primary.port, zone: primary.zone, key: primary.key)
        #expect(try await Self.contents(port: secondaryPort, zone: primary.zone, key: primary.key) == primaryData)
        #expect(primaryData.contains("new2.example.test. TXT \"round 2\""))
        #expect(!primaryData.contains { $0.hasPrefix("doc0.example.test.") })
        // The secondary asked for differences, not the whole zone again.
        #expect(primary.server.authority.statistics.incrementalTransfers.load(ordering: .relaxed) >= 2)
        // And it answers reads like the primary.
        let onSecondary = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: secondaryPort))
        #expect(try await onSecondary.records("new1.example.test.", type: .txt).map(\.rdata) == [.txt(TXT("round 1"))])
        await onSecondary.shutdown()
        await writer.shutdown()
        await primary.stop()
    }
}

/// A secondary cut off from its primary in real time (run apart from the other suites: scripts/test).
@Suite("Catching up after a partition, in real time")
struct RealTimeCatchUpTests {
    /// A BIND secondary cut off for 60 s, with one write during the cut and none after, is
    /// current again within 12 s of the link's return (the primary tells it again, backing off
    /// to 10 s), without any further write.
    @Test func aSecondaryCutOffForAMinuteCatchesUpWithoutAnotherWrite() async throws {
        let secondaryPort = Ports.free()
        let toSecondary = try Relay(to: secondaryPort)
        let primary = try await EmbeddedServer.start { config in
            config.notify = [try! .init(ipAddress: "127.0.0.1", port: toSecondary.port)]
        }
        let toPrimary = try Relay(to: primary.port)
        let secondary = try await SecondaryServer.start(.bind, port: secondaryPort, zone: primary.zone, primaryPort: toPrimary.port, key: primary.key)
        defer {
            secondary.stop()
            toSecondary.stop()
            toPrimary.stop()
        }
        let writer = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: primary.port, key: primary.key))
        defer { Task { await writer.shutdown() } }
        var first = UpdateBuilder(zone: primary.zone)
        first.add(.txt("before.example.test.", TXT("1")))
        try await writer.update(first)
        let before = try #require(try await ReplicationTests.serial(port: primary.port, zone: primary.zone))
        try await ReplicationTests.waitForSerial(before, port: secondaryPort, zone: primary.zone, "BIND before the cut") { secondary.log }

        toSecondary.cut()
        toPrimary.cut()
        var during = UpdateBuilder(zone: primary.zone)
        during.add(.txt("during.example.test.", TXT("2")))
        try await writer.update(during)
        let target = try #require(try await ReplicationTests.serial(port: primary.port, zone: primary.zone))
        try await Task.sleep(for: .seconds(60))
        #expect(try await ReplicationTests.serial(port: secondaryPort, zone: primary.zone) == before, "the cut let the change through")

        toSecondary.mend()
        toPrimary.mend()
        let healed = ContinuousClock.now
        let caughtUp = try await Poll.until(within: .seconds(30), every: .milliseconds(100)) {
            try await ReplicationTests.serial(port: secondaryPort, zone: primary.zone) == target
        }
        let took = ContinuousClock.now - healed
        #expect(caughtUp && took < .seconds(12), "current \(took) after the link returned")
    }
}

import DNSClient
import DNSStore
import DNSWire
import Testing

/// The store reaches a server through one requirement, `send`; what it derives from it works the
/// same over the network and in-process, and through a wrapper that forwards only that.
@Suite("Store transport")
struct TransportTests {
    @Test func aWrapperThatForwardsSendKeepsSerialsAndTransfers() async throws {
        try await InProcessFixture.with { fixture in
            let zone = fixture.server.zone
            let wrapped = fixture.transport  // counts, and forwards `send` to the in-process engine
            // Transfers go to holders of the key only.
            let network = DNSClient(
                configuration: try DNSClientConfiguration(host: "127.0.0.1", port: fixture.server.port, key: fixture.server.key))
            defer { Task { await network.shutdown() } }
            #expect(try await fixture.transport.client.changes(of: zone, since: 0) == nil)
            let before = try await wrapped.serial(of: zone)
            #expect(try await network.serial(of: zone) == before)

            let docs = try await fixture.store.createDatabase("app").createCollection("docs")
            try await docs.put("a", ["n": 1])
            let after = try await wrapped.serial(of: zone)
            #expect(SOA.serial(before, isBefore: after))

            // The changes since `before` come as an IXFR of differences, alike both ways.
            let local = try #require(try await wrapped.changes(of: zone, since: before))
            let remote = try #require(try await network.changes(of: zone, since: before))
            #expect(local.isIncremental && remote.isIncremental)
            #expect(local.serial == after)
            #expect(local.records == remote.records)
            #expect(local.records.contains { $0.type == .txt })

            // The whole zone, a record at a time, opens and closes with its SOA.
            let records = try await wrapped.zoneRecords(zone)
            #expect(records.first?.type == .soa && records.last?.type == .soa)
            #expect(records.count == (try await network.zoneRecords(zone)).count)

            // Lookups: a name that is there, and a negative answer with the zone's serial.
            let missing = try await wrapped.lookup(try DNSName("absent." + zone.description))
            #expect(missing.records.isEmpty && missing.serial == after)
            #expect(wrapped.queries > 0 && wrapped.updates > 0)
        }
    }

    @Test func anUpdateThatFailsItsPrerequisiteIsThrownAsItsRCODE() async throws {
        try await InProcessFixture.with { fixture in
            var update = UpdateBuilder(zone: fixture.server.zone)
            update.require(.nameInUse(try DNSName("nowhere." + fixture.server.zone.description)))
            await #expect(throws: DNSError.nxDomain) { try await fixture.transport.apply(update) }
        }
    }
}

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

    /// Every way a DNS exchange fails becomes one store error, the same for the store and the
    /// command line: a failed prerequisite a conflict, an absent name not found (for a read), a
    /// refusal unauthorized, an unanswered UPDATE unknown, and whatever else a server failure.
    @Test func everyDNSErrorHasOneStoreErrorAndExitCode() {
        let cases: [(DNSError, Bool, StoreError.Code, Int32)] = [
            (.nxRRSet, true, .conflict, 4), (.yxRRSet, true, .conflict, 4), (.yxDomain, true, .conflict, 4),
            (.nxDomain, true, .conflict, 4), (.nxDomain, false, .notFound, 3),
            (.refused, true, .unauthorized, 5), (.notAuth, false, .unauthorized, 5), (.tsig(.badSignature), false, .unauthorized, 5),
            (.timeout, false, .timeout, 6), (.connection("refused"), false, .unreachable, 6),
            (.unanswered("lost"), true, .outcomeUnknown, 7),
            (.serverFailure, true, .serverFailure, 8), (.formatError, true, .serverFailure, 8), (.notImplemented, false, .serverFailure, 8),
            (.otherResponse(ResponseCode(rawValue: 23)), false, .serverFailure, 8), (.incompleteTransfer("cut"), false, .serverFailure, 8),
            (.notZone, true, .invalidName, 2),
        ]
        for (error, writing, code, exit) in cases {
            let mapped = StoreError(error, context: "doing it", writing: writing)
            #expect(mapped.code == code, "\(error)")
            #expect(mapped.exitStatus == exit, "\(error)")
            #expect(mapped.detail.hasPrefix("doing it"), "\(mapped.detail)")
        }
        // A write refused says where writes belong; a read refused does not.
        #expect(StoreError(.refused, context: "x", writing: true).detail.contains("primary"))
        #expect(!StoreError(.refused, context: "x", writing: false).detail.contains("primary"))
        // And says so in a field a program (or the command line's hint) can switch on.
        #expect(StoreError(.refused, context: "x", writing: true).missing == .primary)
        #expect(StoreError(.refused, context: "x", writing: false).missing == nil)
        #expect(StoreError(.timeout, context: "x", writing: true).missing == nil)
    }
}

import DNSClient
@testable import DNSStore
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// Leases (docs/FORMAT.md section 13) on our server, BIND 9, Knot and PowerDNS: documents that live
/// while their lease is renewed, gone for every reader once it lapses, reaped without ever
/// deleting a renewed one, and locks whose fencing tokens only grow.
@Suite("Leases")
struct LeaseTests {
    static let servers: [Backend] = TestMode.quick ? [.embedded] : [.embedded, .bind, .knot, .powerdns]

    static func exists(_ collection: DocumentCollection, _ id: String) async throws -> Bool {
        try await collection.get(id) != nil
    }

    /// Checks that `body` fails with a store error of `code`.
    static func expect<T>(_ code: StoreError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T) async {
        do {
            _ = try await body()
            Issue.record("expected \(code), but it succeeded", sourceLocation: sourceLocation)
        } catch let error as StoreError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("expected a store error \(code), got \(error)", sourceLocation: sourceLocation)
        }
    }

    /// A store on the fixture's server whose clock stands at `instant` (milliseconds since
    /// 1970): what every reader and reaper sees at that time, without waiting for it (the test
    /// process's tasks can be held up for seconds by the rest of the suite; the tests in real
    /// time run the renewers in processes of their own, RealTimeLeaseTests).
    static func at(_ fixture: StoreFixture, _ instant: Int64) throws -> DocumentStore {
        var configuration = fixture.store.configuration
        configuration.clock = { instant }
        return try DocumentStore(configuration: configuration, transport: fixture.transport)
    }

    /// The lease's deadline as its record says.
    static func deadline(_ store: DocumentStore, _ lease: Lease) async throws -> Int64 {
        try #require(try await store.readLease(lease.id, route: .primary)).record.deadline
    }

    /// A document attached to a lease is there while the lease lives, gone for get, list, find
    /// and scan once it lapsed (before anything deletes it); the lease cannot be renewed then;
    /// a reaper deletes it once the deadline passed by the clock skew, and not before.
    @Test(arguments: servers)
    func aLapsedLeaseTakesItsDocumentsFromEveryReader(_ backend: Backend) async throws {
        try await StoreFixture.with(backend) { fixture in
            let store = fixture.store
            let nodes = try await store.createDatabase("cluster").createCollection("nodes")
            // Long enough for any machine to set up in; its end is reached by the clocks below.
            let lease = try await store.grant(ttl: 3_600)
            #expect(Lease.isValidID(lease.id) && lease.ttl == 3_600)
            try await nodes.putJSON("web1", Array(#"{"addr":"10.0.0.1"}"#.utf8), lease: lease)
            try await nodes.putJSON("static", Array(#"{"addr":"10.0.0.9"}"#.utf8))
            #expect(try await Self.exists(nodes, "web1"))
            #expect(try await nodes.ids() == ["static", "web1"])
            let status = try await store.leaseStatus(lease.id)
            #expect(status.documents == ["cluster/nodes/web1"] && status.remaining > 3_000 && status.remaining <= 3_600)

            // Just past its deadline: lapsed, gone for every reader, though its records are still in the zone.
            let deadline = try await Self.deadline(store, lease)
            let later = try Self.at(fixture, deadline + 1)
            let laterNodes = later.database("cluster").collection("nodes")
            #expect(try await !Self.exists(laterNodes, "web1"))
            #expect(try await laterNodes.ids() == ["static"])
            #expect(try await laterNodes.find(.equals("addr", .string("10.0.0.1"))).isEmpty)
            var scanned: [String] = []
            for try await page in laterNodes.scan() { scanned += page.map(\.id) }
            #expect(scanned == ["static"])
            await Self.expect(.notFound) { try await later.renew(lease.id) }
            let name = try await nodes.recordName(of: "web1")
            #expect(try await !fixture.transport.client.records(name, type: .txt).isEmpty, "the record is still there before a reaper runs")

            // A reaper within the clock skew of the deadline leaves it; one past it reaps it: the
            // record, the lease and its index entry.
            #expect(try await LeaseReaper(store: Self.at(fixture, deadline + 900)).sweepOnce().isEmpty)
            let reaped = try await LeaseReaper(store: Self.at(fixture, deadline + 1_100)).sweepOnce()
            #expect(reaped.map(\.lease) == [lease.id] && reaped.first?.documents == 1)
            do {
                _ = try await fixture.transport.client.records(name, type: .txt)
                Issue.record("the reaped record is still there")
            } catch DNSError.nxDomain {}
            #expect(try await store.leaseIDs().isEmpty)
            #expect(try await store.check(repair: false).problems.isEmpty)
        }
    }

    /// A renewal moves the deadline; a revoke takes the documents at once, in one UPDATE; after
    /// it the lease can be neither renewed nor written with.
    @Test(arguments: servers)
    func aRenewalMovesTheDeadlineAndARevokeTakesTheDocumentsAtOnce(_ backend: Backend) async throws {
        try await StoreFixture.with(backend) { fixture in
            let store = fixture.store
            let nodes = try await store.createDatabase("cluster").createCollection("nodes")
            let lease = try await store.grant(ttl: 3_600)
            for i in 0..<3 { try await nodes.putJSON("n\(i)", Array(#"{"i":\#(i)}"#.utf8), lease: lease) }
            // Renewed 20 s before its deadline, from a client whose clock says so: it lives an hour on from then.
            let deadline = try await Self.deadline(store, lease)
            let renewed = try await Self.at(fixture, deadline - 20_000).renew(lease.id)
            #expect(renewed.remaining == 3_600 && renewed.documents.count == 3)
            #expect(try await Self.deadline(store, lease) == deadline + 3_580_000)
            #expect(try await Self.at(fixture, deadline + 5_000).database("cluster").collection("nodes").ids().count == 3)
            #expect(try await LeaseReaper(store: Self.at(fixture, deadline + 5_000)).sweepOnce().isEmpty, "a renewed lease was reaped")
            let before = fixture.transport.updates
            #expect(try await store.revoke(lease.id) == 3)
            #expect(fixture.transport.updates - before == 1, "a revoke of three documents took \(fixture.transport.updates - before) UPDATEs")
            #expect(try await nodes.ids().isEmpty)
            await Self.expect(.notFound) { try await store.revoke(lease.id) }
            await Self.expect(.notFound) { try await store.renew(lease.id) }
            await Self.expect(.notFound) { try await nodes.putJSON("late", Array("{}".utf8), lease: lease) }
        }
    }

    /// A lease with more documents than one UPDATE carries: revoked, they all go, the lease last.
    @Test func aLeaseWithManyDocumentsIsRevokedWhole() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let store = fixture.store
            let nodes = try await store.createDatabase("cluster").createCollection("nodes")
            let lease = try await store.grant(ttl: 3_600)
            for i in 0..<60 { try await nodes.putJSON("n\(i)", Array(#"{"i":\#(i)}"#.utf8), lease: lease) }
            let revoked = try await store.revoke(lease.id)
            #expect(revoked == 60)
            #expect(try await nodes.ids().isEmpty)
            #expect(try await store.leaseIDs().isEmpty)
            #expect(try await store.check(repair: false).problems.isEmpty)
        }
    }

    /// A put without a lease detaches a document; with another, moves it; the lease records say so.
    @Test func documentsMoveBetweenLeasesAndDetach() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let store = fixture.store
            let nodes = try await store.createDatabase("cluster").createCollection("nodes")
            let a = try await store.grant(ttl: 3_600)
            let b = try await store.grant(ttl: 3_600)
            try await nodes.putJSON("x", Array("{}".utf8), lease: a)
            try await nodes.putJSON("y", Array("{}".utf8), lease: a)
            try await nodes.putJSON("x", Array(#"{"moved":true}"#.utf8), lease: b)
            try await nodes.putJSON("y", Array(#"{"kept":true}"#.utf8))
            #expect(try await store.leaseStatus(a.id).documents.isEmpty)
            #expect(try await store.leaseStatus(b.id).documents == ["cluster/nodes/x"])
            #expect(try await nodes.get("x")?.lease == b.id)
            #expect(try await nodes.get("y")?.lease == nil)
            #expect(try await store.revoke(a.id) == 0)
            #expect(try await nodes.ids() == ["x", "y"])
            #expect(try await store.revoke(b.id) == 1)
            #expect(try await nodes.ids() == ["y"])
        }
    }

    /// Bad input: a time to live of 0, negative or past the maximum; an id that is not one; an
    /// unknown lease. Each is named, and nothing is written.
    @Test func badLeasesAreRefusedAndNothingIsWritten() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let store = fixture.store
            let nodes = try await store.createDatabase("cluster").createCollection("nodes")
            for ttl in [0, -5, Lease.maxTTL + 1] {
                await Self.expect(.invalidDocument) { try await store.grant(ttl: ttl) }
            }
            let before = fixture.transport.updates
            await expectStoreError(.invalidDocument, path: "cluster/nodes/a") {
                try await nodes.putJSON("a", Array("{}".utf8), lease: Lease(id: "not-a-lease", ttl: 5))
            }
            await expectStoreError(.notFound, path: "cluster/nodes/a") {
                try await nodes.putJSON("a", Array("{}".utf8), lease: Lease(id: "0123456789abcdef", ttl: 5))
            }
            await Self.expect(.notFound) { try await store.renew("0123456789abcdef") }
            await Self.expect(.invalidDocument) { try await store.revoke("XYZ") }
            #expect(fixture.transport.updates == before)
            #expect(try await nodes.ids().isEmpty)
        }
    }

    /// A lock is held by one lease at a time: another is refused while it lives, and takes it
    /// once it lapsed (or was given up), with a larger fencing token each time.
    @Test func aLockPassesWithGrowingTokens() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let store = fixture.store
            let first = try await store.grant(ttl: 600)
            let held = try await store.lock("job", lease: first)
            let second = try await store.grant(ttl: 3_600)
            await Self.expect(.alreadyExists) { try await store.lock("job", lease: second) }
            #expect(try await store.lockHolder("job")?.handle == held)
            // Once the first lease lapsed, the lock passes without anyone unlocking.
            let later = try Self.at(fixture, try await Self.deadline(store, first) + 1)
            let taken = try await later.lock("job", lease: second)
            #expect(taken.token > held.token)
            try await later.unlock(taken)
            let third = try await store.grant(ttl: 3_600)
            let again = try await store.lock("job", lease: third)
            #expect(again.token > taken.token)
            // The first holder, late, gives up what is no longer its own: nothing changes.
            try await store.unlock(held)
            #expect(try await store.lockHolder("job")?.handle == again)
        }
    }

    /// A watch reports a document that went with its lease as a delete with the reason: expired
    /// when the lease had lapsed, revoked when it was revoked while alive.
    @Test func aWatchSaysWhyADocumentWentWithItsLease() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let store = fixture.store
            let nodes = try await store.createDatabase("cluster").createCollection("nodes")
            let lapsing = try await store.grant(ttl: 3_600)
            let revoked = try await store.grant(ttl: 7_200)
            try await nodes.putJSON("web1", Array("{}".utf8), lease: lapsing)
            try await nodes.putJSON("web2", Array("{}".utf8), lease: revoked)
            let deadline = try await Self.deadline(store, lapsing)
            // The watcher's clock is past the first lease's deadline, short of the second's.
            let watcher = try Self.at(fixture, deadline + 5_000)
            var options = WatchOptions()
            options.interval = .milliseconds(50)
            options.includeDocuments = false
            options.server = fixture.transport.client
            let started = Locked(false)
            options.started = { _ in started.withLock { $0 = true } }
            let events = Task {
                var seen: [ChangeEvent] = []
                for try await event in watcher.database("cluster").collection("nodes").watch(options) where event.operation == .delete {
                    seen.append(event)
                    if seen.count == 2 { break }
                }
                return seen
            }
            #expect(try await Poll.until(within: .seconds(30)) { started.withLock { $0 } })
            #expect(try await LeaseReaper(store: Self.at(fixture, deadline + 2_000)).sweepOnce().count == 1)
            try await store.revoke(revoked.id)
            let deletes = try await events.value
            #expect(deletes.map(\.id) == ["web1", "web2"])
            #expect(deletes.map(\.reason) == [.expired, .revoked])
        }
    }
}

#if PostgreSQL
import DNSClient
@testable import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import Synchronization
import Testing

/// Zones in PostgreSQL: what a write leaves behind when its steps are written in one statement, and
/// the round trips a query and an UPDATE cost.
@Suite("PostgreSQL storage", .enabled(if: PostgresServer.isAvailable), .serialized)
struct PostgresStorageTests {
    static let origin: DNSName = "example.test."

    static func withEngine(
        journalMaxOctets: Int? = nil, _ body: (Authority, PostgresZoneStore) throws -> Void
    ) async throws {
        try await withEngine(journalMaxOctets: journalMaxOctets) { engine, store, _ in try body(engine, store) }
    }

    /// An engine on a new PostgreSQL server, its store, and the server's URL (for more engines).
    static func withEngine(
        journalMaxOctets: Int? = nil, _ body: (Authority, PostgresZoneStore, String) throws -> Void
    ) async throws {
        let postgres = try await PostgresServer.start()
        defer { postgres.stop() }
        var configuration = AuthorityConfiguration(zones: [origin], keys: [])
        configuration.journalMaxOctets = journalMaxOctets
        // The database may still be starting up when its port opens.
        let engine = try #require(try await Poll.value(within: .seconds(30), every: .milliseconds(200)) {
            try? Authority(postgresURL: postgres.url, configuration: configuration)
        })
        let store = try #require(engine.store as? PostgresZoneStore)
        try body(engine, store, postgres.url)
    }

    /// One step of a group: the SOA moved on by one, and `changes`.
    static func step(from soa: ResourceRecord, _ changes: [ZoneChange]) throws -> (JournalStep, ResourceRecord) {
        guard case .soa(var fields) = soa.rdata else { throw StorageError.damaged("no SOA") }
        let from = fields.serial
        fields.serial &+= 1
        var next = soa
        next.rdata = .soa(fields)
        let step = JournalStep(
            from: from, to: fields.serial,
            changes: [ZoneChange(action: .delete, record: soa), ZoneChange(action: .add, record: next)] + changes)
        return (step, next)
    }

    static func txt(_ name: DNSName, _ text: String) -> ResourceRecord {
        ResourceRecord(name: name, type: .txt, ttl: 60, rdata: .txt(TXT(text)))
    }

    /// A group of three steps, one statement: a record added by the first step and deleted by the
    /// second is gone; one deleted then added again is there; the journal holds all three steps,
    /// numbered after the ones before, and an IXFR replays them in order.
    @Test func aGroupsStepsLeaveWhatApplyingThemInOrderWould() async throws {
        try await Self.withEngine { engine, store in
            #expect(try StorageTests.update(engine) { $0.add(Self.txt("kept.example.test.", "old")) } == .noError)
            let before = try StorageTests.serial(engine)
            let soa = try #require(try store.read(Self.origin) { try $0.soa()?.record })
            let x = Self.txt("x.example.test.", "short-lived")
            let kept = Self.txt("kept.example.test.", "old")
            let (first, soa1) = try Self.step(from: soa, [ZoneChange(action: .add, record: x)])
            let (second, soa2) = try Self.step(from: soa1, [ZoneChange(action: .delete, record: x), ZoneChange(action: .delete, record: kept)])
            let (third, _) = try Self.step(from: soa2, [ZoneChange(action: .add, record: kept)])
            try store.write(Self.origin) { _ in ZoneWrite(steps: [first, second, third], result: ()) }

            #expect(try StorageTests.serial(engine) == before &+ 3)
            #expect(try StorageTests.query(engine, "x.example.test.").rcode == .nxDomain)
            #expect(StorageTests.text(try StorageTests.query(engine, "kept.example.test.")) == "old")
            let replay = try StorageTests.ixfr(engine, from: before)
            // SOA, then per step: old SOA, deletions, new SOA, additions; then the SOA again.
            let shape = replay.map { record -> String in
                if case .soa(let fields) = record.rdata { return "soa\(fields.serial &- before)" }
                return "\(record.name)"
            }
            #expect(shape == [
                "soa3", "soa0", "soa1", "x.example.test.", "soa1", "x.example.test.", "kept.example.test.", "soa2", "soa2", "soa3",
                "kept.example.test.", "soa3",
            ])
        }
    }

    /// Group commit on PostgreSQL: four UPDATEs in one transaction (one statement for their
    /// changes), failing prerequisites in the middle and at the end.
    @Test func updatesCommittedTogetherAreEachCheckedOnTheirOwn() async throws {
        try await Self.withEngine { _, _, url in
            try AuthorityTests.checkUpdatesCommittedTogether(try AuthorityTests.Engine { try Authority(postgresURL: url, configuration: $0) })
        }
    }

    /// The journal stays within its bound on PostgreSQL as on SQLite, and recent history is kept.
    @Test func theJournalKeepsItsBound() async throws {
        try await Self.withEngine(journalMaxOctets: 8 << 10) { engine, store in
            for i in 0..<100 {
                #expect(try StorageTests.update(engine) { $0.add(Self.txt(try! DNSName("n\(i).example.test."), String(repeating: "j", count: 300))) } == .noError)
            }
            let current = try StorageTests.serial(engine)
            #expect(try StorageTests.ixfr(engine, from: current &- 10).count == 1 + 10 * 3 + 1)
            let journal = try store.withConnection { session in
                try session.rows("SELECT journal_octets, (SELECT sum(octets)::bigint FROM dnsstore_journal_step) FROM dnsstore_zone").first?
                    .decode((Int, Int).self)
            }
            let (kept, summed) = try #require(journal)
            #expect(kept == summed && kept <= 8 << 10, "the journal holds \(summed) octets, the zone row says \(kept)")
        }
    }

    /// Two engines on one database, as two front ends: each write through one is answered by the
    /// other at once, a name it had answered NXDOMAIN for included, though queries are answered
    /// from the cache whenever the look finds nothing changed.
    @Test func aCachedAnswerIsNeverOlderThanAWriteThroughAnotherEngine() async throws {
        try await Self.withEngine { writer, _, url in
            let reader = try Authority(postgresURL: url, configuration: AuthorityConfiguration(zones: [Self.origin], keys: []))
            let kept = try StorageTests.update(writer) { $0.add(Self.txt("untouched.example.test.", "kept")) }
            #expect(kept == .noError)
            for i in 0..<30 {
                let name = try DNSName("n\(i % 3).example.test.")
                if i < 3 { #expect(try StorageTests.query(reader, name).rcode == .nxDomain) }
                let rcode = try StorageTests.update(writer) { $0.replace(name, .txt, with: [.txt(TXT("\(i)"))], ttl: 60) }
                #expect(rcode == .noError)
                #expect(StorageTests.text(try StorageTests.query(reader, name)) == "\(i)", "write \(i) not seen")
                #expect(StorageTests.text(try StorageTests.query(reader, name)) == "\(i)")
                // A name no write touched stays in the cache: catching up forgets only what changed.
                #expect(StorageTests.text(try StorageTests.query(reader, "untouched.example.test.")) == "kept")
            }
            let hits = reader.statistics.cacheHits.load(ordering: .relaxed)
            #expect(hits >= 30 + 29, "\(hits) answers from the cache of 93")
        }
    }

    /// An engine's own commit right after another engine's, with no query between: the other's
    /// change is still read at once (the cache does not move past a commit it has not seen).
    @Test func anOwnCommitDoesNotHideTheOneBeforeItFromAnotherEngine() async throws {
        try await Self.withEngine { first, _, url in
            let second = try Authority(postgresURL: url, configuration: AuthorityConfiguration(zones: [Self.origin], keys: []))
            for i in 0..<5 {
                #expect(try StorageTests.update(second) { $0.replace("x.example.test.", .txt, with: [.txt(TXT("second \(i)"))], ttl: 60) } == .noError)
                #expect(StorageTests.text(try StorageTests.query(second, "x.example.test.")) == "second \(i)")
                #expect(try StorageTests.update(first) { $0.replace("x.example.test.", .txt, with: [.txt(TXT("first \(i)"))], ttl: 60) } == .noError)
                #expect(try StorageTests.update(second) { $0.replace("y.example.test.", .txt, with: [.txt(TXT("\(i)"))], ttl: 60) } == .noError)
                #expect(StorageTests.text(try StorageTests.query(second, "x.example.test.")) == "first \(i)", "round \(i)")
            }
        }
    }

    /// A compare-and-swap UPDATE (a value-dependent prerequisite, a delete and an add) and a query:
    /// the statements each sends to PostgreSQL, each a round trip.
    @Test func roundTripsPerUpdateAndPerQuery() async throws {
        try await Self.withEngine { engine, store in
            let added = try StorageTests.update(engine) { $0.add(Self.txt("doc.example.test.", "v1")) }
            #expect(added == .noError)
            // The journal's age is looked at once a minute: the first write after start did it.
            let before = store.statements.value
            let rcode = try StorageTests.update(engine) {
                $0.require(.rrsetEquals("doc.example.test.", .txt, [.txt(TXT("v1"))]))
                $0.replace("doc.example.test.", .txt, with: [.txt(TXT("v2"))], ttl: 60)
            }
            #expect(rcode == .noError)
            let update = store.statements.value - before
            // A query after a change: the look, the cache catching up (the serial, the journal), the read.
            #expect(StorageTests.text(try StorageTests.query(engine, "doc.example.test.")) == "v2")
            #expect(try StorageTests.query(engine, "other.example.test.").rcode == .nxDomain)
            // The same again, nothing changed: the look alone, the answers from the cache.
            let beforeQuery = store.statements.value
            #expect(StorageTests.text(try StorageTests.query(engine, "doc.example.test.")) == "v2")
            let query = store.statements.value - beforeQuery
            #expect(try StorageTests.query(engine, "other.example.test.").rcode == .nxDomain)
            let negative = store.statements.value - beforeQuery - query
            print("PostgreSQL statements: \(update) per compare-and-swap UPDATE, \(query) per query, \(negative) per negative query")
            // One read (the zone's version, the apex and the name), one write that holds the zone
            // lock only while it runs (6 with BEGIN, the lock, two reads and COMMIT around it, 16
            // when each change and journal row was a statement of its own).
            #expect(update <= 2, "\(update) statements for one UPDATE")
            #expect(query == 1 && negative == 1, "\(query) statements for one query, \(negative) for a name that does not exist")
        }
    }

    /// A write whose zone another front end wrote between its reads and its write plans again
    /// over the newer zone: the other's write is kept, the write lands once, and the journal
    /// chains through both.
    @Test func aWriteThatFindsTheZoneChangedPlansAgain() async throws {
        try await Self.withEngine { engine, store, url in
            let other = try Authority(postgresURL: url, configuration: AuthorityConfiguration(zones: [Self.origin], keys: []))
            let before = try StorageTests.serial(engine)
            var seen: [RRSet?] = []
            try store.write(Self.origin) { zone -> ZoneWrite<Void> in
                guard let soa = try zone.soa()?.record else { throw StorageError.damaged("no SOA") }
                seen.append(try zone.rrset("other.example.test.", .txt))
                if seen.count == 1 {
                    #expect(try StorageTests.update(other) { $0.add(Self.txt("other.example.test.", "theirs")) } == .noError)
                }
                let (step, _) = try Self.step(from: soa, [ZoneChange(action: .add, record: Self.txt("mine.example.test.", "mine"))])
                return ZoneWrite(steps: [step], result: ())
            }
            #expect(seen.count == 2, "planned \(seen.count) times")
            #expect(seen.first == .some(nil) && seen.last != .some(nil), "the second plan saw the other's write")
            #expect(StorageTests.text(try StorageTests.query(engine, "other.example.test.")) == "theirs")
            #expect(StorageTests.text(try StorageTests.query(engine, "mine.example.test.")) == "mine")
            #expect(try StorageTests.serial(engine) == before &+ 2)
            let journal = try #require(try store.journal(Self.origin, after: before))
            #expect(try journal.diffs(from: journal.start, octets: 1 << 20).diffs.count == 2)
        }
    }

    /// Eight writers, four on each of two front ends, each making 15 compare-and-swap increments
    /// of one counter: the counter ends at exactly the increments answered NOERROR (none lost,
    /// none applied twice), and the serial moved once per increment.
    @Test func compareAndSwapAcrossTwoFrontEndsLosesNoIncrement() async throws {
        try await Self.withEngine { first, _, url in
            let second = try Authority(postgresURL: url, configuration: AuthorityConfiguration(zones: [Self.origin], keys: []))
            let name: DNSName = "counter.example.test."
            #expect(try StorageTests.update(first) { $0.add(Self.txt(name, "0")) } == .noError)
            let before = try StorageTests.serial(first)
            let succeeded = Atomic<Int>(0)
            let attempts = Atomic<Int>(0)
            DispatchQueue.concurrentPerform(iterations: 8) { writer in
                let engine = writer % 2 == 0 ? first : second
                var done = 0
                while done < 15, attempts.add(1, ordering: .relaxed).newValue < 5_000 {
                    guard let text = try? StorageTests.text(StorageTests.query(engine, name)), let value = Int(text) else { continue }
                    let rcode = try? StorageTests.update(engine) {
                        $0.require(.rrsetEquals(name, .txt, [.txt(TXT(text))]))
                        $0.replace(name, .txt, with: [.txt(TXT("\(value + 1)"))], ttl: 60)
                    }
                    if rcode == .noError {
                        done += 1
                        succeeded.add(1, ordering: .relaxed)
                    }
                }
            }
            let total = succeeded.load(ordering: .relaxed)
            #expect(total == 120, "\(total) increments in \(attempts.load(ordering: .relaxed)) attempts")
            for engine in [first, second] {
                #expect(StorageTests.text(try StorageTests.query(engine, name)) == "\(total)")
            }
            #expect(try StorageTests.serial(first) == before &+ UInt32(total))
        }
    }

    /// An engine on `postgres` whose zone takes three pages of a full transfer, unsigned
    /// transfers allowed.
    static func bigZone(on postgres: PostgresServer) async throws -> Authority {
        var configuration = AuthorityConfiguration(zones: [origin], keys: [])
        configuration.requireSignedTransfers = false
        let engine = try #require(try await Poll.value(within: .seconds(30), every: .milliseconds(200)) {
            try? Authority(postgresURL: postgres.url, configuration: configuration)
        })
        for batch in 0..<5 {
            #expect(try StorageTests.update(engine) { update in
                for i in 0..<1_000 { update.add(Self.txt(try! DNSName("n\(batch)-\(i).example.test."), "x")) }
            } == .noError)
        }
        return engine
    }

    /// A zone transfer whose database stops answering part way breaks off (the TCP listener then
    /// closes the connection) instead of ending as if it were complete, which left a secondary
    /// waiting on an open connection for its transfer's idle timeout (BIND: an hour).
    @Test func aTransferWhoseDatabaseStopsAnsweringBreaksOff() async throws {
        let postgres = try await PostgresServer.start()
        defer {
            postgres.thaw()
            postgres.stop()
        }
        let engine = try await Self.bigZone(on: postgres)
        guard case .work(let work) = engine.receive(try Message.query(Self.origin, type: .axfr, id: 3).encode(), over: .tcp) else {
            Issue.record("an AXFR over TCP is not work to run")
            return
        }
        let first = work.run()
        #expect(first.next != nil && !first.brokeOff, "the first page")
        postgres.freeze()
        var step = first.next
        var brokeOff = false
        while let current = step {
            let result = current.run()
            brokeOff = result.brokeOff
            step = result.next
        }
        #expect(brokeOff, "the transfer ended as if complete")
    }

    /// The same over TCP: the secondary's connection is closed within the database's statement
    /// timeout, where it stayed open until the client gave up (here 20 s).
    @Test func aTransferThatBreaksOffClosesItsConnection() async throws {
        let postgres = try await PostgresServer.start()
        defer {
            postgres.thaw()
            postgres.stop()
        }
        let engine = try await Self.bigZone(on: postgres)
        let port = Ports.free()
        let server = try await NetworkServer.start(engine, host: "127.0.0.1", port: port)
        var configuration = try DNSClientConfiguration(host: "127.0.0.1", port: port)
        configuration.timeout = .seconds(20)
        let client = DNSClient(configuration: configuration)
        var messages = 0
        let started = ContinuousClock.now
        do {
            try await client.transfer(Message.query(Self.origin, type: .axfr, id: 4)) { _ in
                messages += 1
                if messages == 1 { postgres.freeze() }
            }
            Issue.record("the transfer completed with the database frozen")
        } catch {
            let took = ContinuousClock.now - started
            #expect(took < .seconds(10), "\(error) after \(took), \(messages) messages")
        }
        await client.shutdown()
        postgres.thaw()
        await server.close()
    }
}
#endif

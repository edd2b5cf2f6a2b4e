#if PostgreSQL
import DNSClient
@testable import DNSServer
import DNSStore
import DNSTestSupport
import DNSWire
import Foundation
import Logging
import NIOCore
import Synchronization
import Testing

/// Several `dnsstore serve` processes on one PostgreSQL database act as one primary: the race that
/// loses a quarter of the increments on two PowerDNS front ends loses none here.
@Suite("PostgreSQL front ends", .enabled(if: PostgresServer.isAvailable), .serialized)
struct PostgresFrontEndTests {
    static let zone: DNSName = "example.test."

    /// A `dnsstore serve --storage URL` in its own process, with the shared key.
    final class FrontEnd: @unchecked Sendable {
        let process: ChildProcess
        let port: Int
        let directory: URL

        init(storage: String, keyFile: String, notify: [Int] = []) async throws {
            directory = try TempDirectory.make("frontend")
            port = Ports.free()
            process = try Subprocess.start(
                try BuiltProducts.executable("dnsstore"),
                ["serve", "--data", directory.path] + (storage.isEmpty ? [] : ["--storage", storage]) + ["--key", keyFile, "--zone", "example.test",
                 "--listen", "127.0.0.1:\(port)", "--log-level", "warning"] + notify.flatMap { ["--notify", "127.0.0.1:\($0)"] },
                logFile: directory.appendingPathComponent("serve.log").path)
            do {
                try await Ports.waitForTCP(port)
            } catch {
                let log = (try? String(contentsOf: directory.appendingPathComponent("serve.log"), encoding: .utf8)) ?? ""
                stop()
                throw SubprocessError.notReady("dnsstore serve --storage: \(log)")
            }
        }

        func store(_ key: TSIGKey) throws -> (DocumentStore, DNSClient) {
            var config = try DNSClientConfiguration(host: "127.0.0.1", port: port, key: key)
            config.timeout = .seconds(5)
            let client = DNSClient(configuration: config)
            return (try DocumentStore(configuration: StoreConfiguration(domain: PostgresFrontEndTests.zone), transport: client), client)
        }

        func kill9() {
            process.end(SIGKILL)
        }

        func stop() {
            if ProcessInfo.processInfo.environment["DNSSTORE_KEEP_LOGS"] != nil {
                print((try? String(contentsOf: directory.appendingPathComponent("serve.log"), encoding: .utf8)) ?? "")
            }
            if process.isRunning {
                process.end(SIGTERM)
            }
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// Front ends and their key on a new PostgreSQL cluster, with an empty collection db/c.
    static func withCluster(
        frontEnds count: Int = 2, notify: [Int] = [], _ body: (PostgresServer, [FrontEnd], TSIGKey) async throws -> Void
    ) async throws {
        let postgres = try await PostgresServer.start()
        defer { postgres.stop() }
        try await withFrontEnds(count, storage: postgres.url, keyFolder: postgres.directory, notify: notify) { frontEnds, key in
            try await body(postgres, frontEnds, key)
        }
    }

    /// `count` front ends on `storage` with a new shared key (kept in `keyFolder`), and an empty
    /// collection db/c.
    static func withFrontEnds(
        _ count: Int, storage: String, keyFolder: URL, notify: [Int] = [], _ body: ([FrontEnd], TSIGKey) async throws -> Void
    ) async throws {
        let keyFile = keyFolder.appendingPathComponent("shared.key").path
        let keygen = try await Subprocess.run(try BuiltProducts.executable("dnsstore"), ["keygen", "shared-key", "--output", keyFile])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let key = try TSIGKey.parseBINDKeyFile(try String(contentsOfFile: keyFile, encoding: .utf8))[0]
        var frontEnds: [FrontEnd] = []
        defer { for frontEnd in frontEnds { frontEnd.stop() } }
        for _ in 0..<count { frontEnds.append(try await FrontEnd(storage: storage, keyFile: keyFile, notify: notify)) }
        let (store, client) = try frontEnds[0].store(key)
        try await store.initialize()
        _ = try await store.createDatabase("db").createCollection("c")
        await client.shutdown()
        try await body(frontEnds, key)
    }

    static func withFrontEnds(_ body: (FrontEnd, FrontEnd, TSIGKey) async throws -> Void) async throws {
        try await withCluster { _, frontEnds, key in try await body(frontEnds[0], frontEnds[1], key) }
    }

    /// Eight writers, 50 acknowledged compare-and-swap increments each, spread over the front ends;
    /// with three, one is killed with SIGKILL a quarter of the way through and the writers go on
    /// through the others. Every acknowledged increment is there; an increment whose answer was
    /// lost with its front end may be there too, never half.
    @Test(arguments: [2, 3])
    func compareAndSwapIncrementsSplitAcrossFrontEndsAreNeverLost(frontEnds count: Int) async throws {
        try await Self.withCluster(frontEnds: count) { _, frontEnds, key in
            let victim = count == 3 ? frontEnds[2] : nil
            try await Self.checkedRace(frontEnds: frontEnds, survivors: frontEnds.filter { $0 !== victim }, key: key) { total in
                if total == 100, let victim { victim.kill9() }
            }
        }
    }

    /// Runs `race` from a counter at 0 and checks what every increment must leave behind on the
    /// `survivors`: the 400 acknowledged ones and at most the unknown ones beside them, one serial
    /// per committed UPDATE with no gaps or repeats, and the same journal behind every front end.
    static func checkedRace(
        frontEnds: [FrontEnd], survivors: [FrontEnd], key: TSIGKey, whenAcknowledged: @escaping @Sendable (Int) -> Void
    ) async throws {
        let (setup, setupClient) = try frontEnds[0].store(key)
        _ = try await setup.database("db").collection("c").putJSON("counter", Array(#"{"n":0}"#.utf8))
        await setupClient.shutdown()
        let startSerial = try await Self.serial(at: frontEnds[0].port)
        let acknowledged = Tally()
        let (conflicts, unknown) = try await race(frontEnds: frontEnds, key: key, acknowledged: acknowledged, whenAcknowledged: whenAcknowledged)
        var final = 0
        for frontEnd in survivors {
            let (store, client) = try frontEnd.store(key)
            let doc = try #require(try await store.database("db").collection("c").get("counter"))
            await client.shutdown()
            final = try #require((doc.jsonObject as? [String: Any])?["n"] as? Int)
            #expect(doc.version == final + 1)
        }
        #expect(acknowledged.count == 400)
        // An UPDATE whose answer was lost may have landed (its retry through another front end
        // then fails its prerequisite, and reports the outcome unknown, never a conflict), so
        // only the attempts bound what may have landed beyond 400.
        #expect(final >= 400, "final \(final): an acknowledged increment is missing")
        #expect(final <= 400 + unknown + conflicts, "final \(final) is more than every attempt made")
        #expect(conflicts > 0, "the workers never raced: the test proves nothing")

        let endSerial = try await Self.serial(at: survivors[0].port)
        #expect(endSerial == startSerial + UInt32(final))
        for frontEnd in survivors {
            #expect(try await Self.serial(at: frontEnd.port) == endSerial)
            var config = try DNSClientConfiguration(host: "127.0.0.1", port: frontEnd.port, key: key)
            config.timeout = .seconds(5)
            let client = DNSClient(configuration: config)
            let transfer = try await client.transfer(zone: PostgresFrontEndTests.zone, fromSerial: startSerial)
            await client.shutdown()
            #expect(transfer.isIncremental)
            let serials = transfer.records.filter { $0.type == .soa }.compactMap { record -> UInt32? in
                if case .soa(let soa) = record.rdata { return soa.serial }
                return nil
            }
            // Opening SOA, then (from, to) pairs, then the closing SOA.
            let steps = Array(serials.dropFirst().dropLast())
            #expect(steps.count == 2 * final)
            for (i, pair) in stride(from: 0, to: steps.count - 1, by: 2).map({ (steps[$0], steps[$0 + 1]) }).enumerated() {
                #expect(pair.0 == startSerial + UInt32(i) && pair.1 == pair.0 + 1)
            }
        }
    }

    /// Eight writers each make 50 acknowledged compare-and-swap increments of db/c/counter, each
    /// preferring its own front end and failing over to the others in turn; `whenAcknowledged`
    /// hears the running total. Returns the conflicts lost and the attempts whose outcome is unknown.
    static func race(
        frontEnds: [FrontEnd], key: TSIGKey, acknowledged: Tally, whenAcknowledged: @escaping @Sendable (Int) -> Void
    ) async throws -> (conflicts: Int, unknown: Int) {
        let count = frontEnds.count
        return try await withThrowingTaskGroup(of: (Int, Int).self) { group in
            for worker in 0..<8 {
                let order = (0..<count).map { frontEnds[(worker + $0) % count] }
                group.addTask {
                    var config = try DNSClientConfiguration(
                        servers: order.map { try SocketAddress(ipAddress: "127.0.0.1", port: $0.port) }, key: key)
                    config.timeout = .seconds(1)
                    config.attempts = 2
                    let client = DNSClient(configuration: config)
                    defer { Task { await client.shutdown() } }
                    let store = try DocumentStore(configuration: StoreConfiguration(domain: PostgresFrontEndTests.zone), transport: client)
                    let docs = store.database("db").collection("c")
                    var conflicts = 0
                    var unknown = 0
                    var lastError = ""
                    for _ in 0..<50 {
                        // A writer that gets nowhere for three minutes ends the test rather than hang
                        // it; one held up for over 10 s says so, with what each front end answers.
                        let started = ContinuousClock.now
                        var told = false
                        var streak = 0
                        while true {
                            let waited = started.duration(to: .now)
                            if waited > .seconds(180) {
                                throw Stalled(description: "writer \(worker): no increment acknowledged for 180 s (\(acknowledged.count) in all; \(conflicts) conflicts, \(unknown) failures, the last: \(lastError))")
                            }
                            if waited > .seconds(10) && !told {
                                told = true
                                // What each front end answers for the document's name, asked directly.
                                var seen: [String] = []
                                for frontEnd in frontEnds {
                                    let (direct, directClient) = try frontEnd.store(key)
                                    let doc = try? await direct.database("db").collection("c").get("counter")
                                    await directClient.shutdown()
                                    seen.append("\(frontEnd.port): v\(doc?.version ?? 0)")
                                }
                                print("writer \(worker): no increment acknowledged for 10 s (\(acknowledged.count) in all), the last: \(lastError); front ends: \(seen.joined(separator: ", "))")
                            }
                            do {
                                let doc = try #require(try await docs.get("counter"))
                                let n = try #require((doc.jsonObject as? [String: Any])?["n"] as? Int)
                                _ = try await docs.updateJSON("counter", Array(#"{"n":\#(n + 1)}"#.utf8), ifVersion: doc.version)
                                whenAcknowledged(acknowledged.add())
                                break
                            } catch let error as StoreError where error.code == .conflict {
                                conflicts += 1
                                lastError = "\(error)"
                                // A random pause that grows while the writer keeps losing, as the
                                // library's `modify` takes: without it, writers that retry at once
                                // under a loaded machine were seen to lose every race for a minute.
                                streak += 1
                                try await Task.sleep(for: .milliseconds(Int.random(in: 0...min(50, 1 + 2 * streak))))
                            } catch let error as StoreError where [.timeout, .unreachable, .serverFailure, .outcomeUnknown].contains(error.code) {
                                lastError = "\(error)"
                                // The front end or its database went away: this increment may or
                                // may not have landed. A moment's rest keeps an outage from
                                // becoming a busy loop.
                                unknown += 1
                                try await Task.sleep(for: .milliseconds(20))
                            }
                        }
                    }
                    return (conflicts, unknown)
                }
            }
            return try await group.reduce((0, 0)) { ($0.0 + $1.0, $0.1 + $1.1) }
        }
    }

    /// PostgreSQL stopping under the front ends: they answer SERVFAIL meanwhile, never a wrong
    /// answer, and serve again once it is back, without a restart of their own.
    @Test func frontEndsRideOutAPostgreSQLRestart() async throws {
        try await Self.withCluster { postgres, frontEnds, key in
            let stores = try frontEnds.map { try $0.store(key) }
            defer { Task { for (_, client) in stores { await client.shutdown() } } }
            let docs = stores.map { $0.0.database("db").collection("c") }
            _ = try await docs[0].putJSON("doc", Array(#"{"up":true}"#.utf8))
            postgres.halt()
            for collection in docs {
                do {
                    let doc = try await collection.get("doc")
                    Issue.record("a read while PostgreSQL is down answered \(String(describing: doc))")
                } catch let error as StoreError where error.code == .serverFailure {
                } catch {
                    Issue.record("a read while PostgreSQL is down failed with \(error), not a server failure")
                }
                await #expect(throws: StoreError.self) { _ = try await collection.putJSON("other", Array(#"{"x":1}"#.utf8)) }
            }
            try await postgres.resume()
            let written = try await Poll.value(within: .seconds(20), every: .milliseconds(200)) {
                try? await docs[1].putJSON("doc", Array(#"{"up":"again"}"#.utf8))
            }
            let version = try #require(written, "no write went through after PostgreSQL came back")
            for collection in docs {
                let doc = try #require(try await collection.get("doc"))
                #expect(doc.version == version && String(decoding: doc.json, as: UTF8.self) == #"{"up":"again"}"#)
            }
        }
    }

    /// A BIND 9 secondary of the front ends follows updates that arrive through any of them.
    @Test func aBindSecondaryFollowsUpdatesThroughEveryFrontEnd() async throws {
        let bindPort = Ports.free()
        try await Self.withCluster(notify: [bindPort]) { _, frontEnds, key in
            let bind = try await SecondaryServer.start(
                .bind, port: bindPort, zone: PostgresFrontEndTests.zone, primaryPort: frontEnds[0].port, key: key)
            defer { bind.stop() }
            let stores = try frontEnds.map { try $0.store(key) }
            defer { Task { for (_, client) in stores { await client.shutdown() } } }
            for i in 0..<20 {
                _ = try await stores[i % 2].0.database("db").collection("c").putJSON("doc-\(i % 5)", Array(#"{"i":\#(i)}"#.utf8))
            }
            try await Self.expectSecondary(at: bindPort, reaches: frontEnds[1])
            // It holds what the front ends hold.
            let reader = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: bindPort))
            defer { Task { await reader.shutdown() } }
            let fromBind = try DocumentStore(configuration: StoreConfiguration(domain: PostgresFrontEndTests.zone), transport: reader)
            for id in 0..<5 {
                let expected = try await stores[0].0.database("db").collection("c").get("doc-\(id)")
                let got = try await fromBind.database("db").collection("c").get("doc-\(id)")
                #expect(got == expected)
            }
        }
    }

    @Test func aWriteAnsweredByOneFrontEndIsReadAtOnceFromTheOther() async throws {
        try await Self.withFrontEnds { a, b, key in
            let (writer, writerClient) = try a.store(key)
            let (reader, readerClient) = try b.store(key)
            defer {
                Task {
                    await writerClient.shutdown()
                    await readerClient.shutdown()
                }
            }
            let written = writer.database("db").collection("c")
            let read = reader.database("db").collection("c")
            for i in 0..<20 {
                let json = #"{"i":\#(i)}"#
                let version = try await written.putJSON("doc", Array(json.utf8))
                let seen = try #require(try await read.get("doc"))
                #expect(seen.version == version && String(decoding: seen.json, as: UTF8.self) == json)
            }
            // A document created on one front end, then deleted on the other.
            _ = try await read.delete("doc")
            #expect(try await written.get("doc") == nil)
        }
    }

    struct Stalled: Error, CustomStringConvertible {
        var description: String
    }

    /// Acknowledged increments, counted across the writers.
    final class Tally: Sendable {
        private let value = Locked(0)
        var count: Int { value.withLock { $0 } }
        func add() -> Int {
            value.withLock { total in
                total += 1
                return total
            }
        }
    }

    /// Waits up to 20 s for the secondary on `port` to reach the front end's serial.
    static func expectSecondary(at port: Int, reaches frontEnd: FrontEnd) async throws {
        let target = try await serial(at: frontEnd.port)
        var seen: UInt32?
        _ = try await Poll.until(within: .seconds(20)) {
            seen = try? await serial(at: port)
            return seen == target
        }
        #expect(seen == target, "BIND stayed at \(seen.map(String.init) ?? "nothing") of \(target)")
    }

    static func serial(at port: Int) async throws -> UInt32 {
        let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port))
        defer { Task { await client.shutdown() } }
        return try await client.serial(of: PostgresFrontEndTests.zone)
    }
}
/// A front end whose PostgreSQL stops answering, in real time (run apart: scripts/test).
@Suite("A front end cut off from PostgreSQL, in real time", .serialized, .enabled(if: PostgresServer.isAvailable))
struct RealTimePostgresOutageTests {
    /// A front end that stalls inside a write (cut off, paused, stuck) while holding the zone's
    /// row lock (a write that took the lock after losing to other writers, `optimisticAttempts`
    /// 0 here): the database ends its session within 2 s, so another front end's write goes
    /// through within 3 s, and the stalled write is not reported as done. A write planned without
    /// the lock (the first tries) holds nothing while it stalls: the other goes through meanwhile,
    /// and the stalled one, finding the zone changed, plans again and keeps the other's change.
    @Test func aWriterStalledInsideItsTransactionHoldsTheZoneForAtMostTwoSeconds() async throws {
        let postgres = try await PostgresServer.start()
        defer { postgres.stop() }
        let origin: DNSName = "example.test."
        let logger = Logger(label: "test")
        // The database may still be starting up when its port opens.
        let stalling = try #require(try await Poll.value(within: .seconds(30), every: .milliseconds(200)) {
            try? PostgresZoneStore(url: postgres.url, optimisticAttempts: 0, logger: logger)
        })
        let other = try PostgresZoneStore(url: postgres.url, logger: logger)
        _ = try stalling.createZoneIfMissing(origin, records: Authority.emptyZone(origin))

        let stalled = Task.detached { () -> String in
            do {
                try stalling.write(origin) { _ in
                    Thread.sleep(forTimeInterval: 5)
                    return ZoneWrite(steps: [], result: ())
                }
                return "stored"
            } catch {
                return "\(error)"
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        let asked = ContinuousClock.now
        let wrote = try await Poll.until(within: .seconds(10), every: .milliseconds(100)) {
            (try? other.write(origin) { _ in ZoneWrite(steps: [], result: ()) }) != nil
        }
        let took = ContinuousClock.now - asked
        #expect(wrote && took < .seconds(3), "the other writer waited \(took)")
        let outcome = await stalled.value
        #expect(outcome.contains("may have been applied") || outcome.contains("terminat"), "the stalled write: \(outcome)")

        // Without the lock: the stalled plan writes a record, the other one another meanwhile.
        let optimistic = try PostgresZoneStore(url: postgres.url, logger: logger)
        let plans = Atomic<Int>(0)
        let planning = Task.detached {
            try optimistic.write(origin) { zone -> ZoneWrite<Void> in
                let step = try Self.step(zone, adding: "stalled.example.test.")
                if plans.add(1, ordering: .relaxed).newValue == 1 { Thread.sleep(forTimeInterval: 3) }
                return ZoneWrite(steps: [step], result: ())
            }
        }
        try await Task.sleep(for: .milliseconds(500))
        let meanwhile = ContinuousClock.now
        try other.write(origin) { zone in ZoneWrite(steps: [try Self.step(zone, adding: "other.example.test.")], result: ()) }
        let waited = ContinuousClock.now - meanwhile
        try await planning.value
        #expect(waited < .seconds(2), "the other writer waited \(waited) for a plan that holds no lock")
        #expect(plans.load(ordering: .relaxed) == 2, "the stalled write planned \(plans.load(ordering: .relaxed)) times")
        let kept = try other.read(origin) { zone in
            (try zone.node("stalled.example.test.").isEmpty, try zone.node("other.example.test.").isEmpty)
        }
        #expect(kept == (false, false), "both writes are in the zone")
    }

    /// One journal step after the zone as `zone` reads it: the SOA's serial moved on by one and a
    /// TXT record added at `name`.
    static func step(_ zone: any ZoneReading, adding name: DNSName) throws -> JournalStep {
        guard let soa = try zone.soa()?.record, case .soa(var fields) = soa.rdata else { throw StorageError.damaged("no SOA") }
        let from = fields.serial
        fields.serial &+= 1
        var next = soa
        next.rdata = .soa(fields)
        let record = ResourceRecord(name: name, type: .txt, ttl: 60, rdata: .txt(TXT("x")))
        return JournalStep(
            from: from, to: fields.serial,
            changes: [ZoneChange(action: .delete, record: soa), ZoneChange(action: .add, record: next), ZoneChange(action: .add, record: record)])
    }

    /// The machine of the front ends' PostgreSQL dies (primary and backends SIGKILLed) a quarter
    /// of the way through the race of eight writers; the synchronous standby is promoted a second
    /// later. The front ends, given both hosts, write to the promoted standby within 10 s of the
    /// promotion without a restart; every acknowledged increment is there, serials and IXFR have no
    /// gaps, and a BIND secondary of the front ends follows.
    @Test func frontEndsFollowAFailoverToThePromotedStandbyLosingNoAcknowledgedWrite() async throws {
        let primary = try await PostgresServer.start()
        defer { primary.stop() }
        let standby = try await primary.startStandby()
        defer { standby.stop() }
        try await primary.requireSynchronousStandby()
        let bindPort = Ports.free()
        try await PostgresFrontEndTests.withFrontEnds(
            2, storage: PostgresServer.url(of: [primary, standby]), keyFolder: primary.directory, notify: [bindPort]
        ) { frontEnds, key in
            let bind = try await SecondaryServer.start(
                .bind, port: bindPort, zone: PostgresFrontEndTests.zone, primaryPort: frontEnds[0].port, key: key)
            defer { bind.stop() }
            let promoted = Locked<ContinuousClock.Instant?>(nil)
            let resumed = Locked<Duration?>(nil)
            let failover = Locked<Task<Void, any Error>?>(nil)
            try await PostgresFrontEndTests.checkedRace(frontEnds: frontEnds, survivors: frontEnds, key: key) { total in
                if total == 100 {
                    primary.killMachine()
                    failover.withLock {
                        $0 = Task {
                            try await Task.sleep(for: .seconds(1))
                            try await standby.promote()
                            promoted.withLock { $0 = .now }
                        }
                    }
                }
                if total > 100, let at = promoted.withLock({ $0 }) {
                    resumed.withLock { $0 = $0 ?? at.duration(to: .now) }
                }
            }
            try await failover.withLock { $0 }?.value
            let after = try #require(resumed.withLock { $0 }, "no write was acknowledged after the promotion")
            #expect(after < .seconds(10), "writes resumed \(after) after the promotion")
            print("failover: the first write acknowledged \(after) after the promotion")

            try await PostgresFrontEndTests.expectSecondary(at: bindPort, reaches: frontEnds[1])
        }
    }

    /// PostgreSQL frozen (SIGSTOP): the front end answers SERVFAIL within 2 s, a command against
    /// it alone exits 8, one given a second primary (a server on SQLite) goes on there within the
    /// same command; thawed, the front end answers again within a second.
    @Test func aFrozenDatabaseIsAServerFailureAndTheClientFailsOver() async throws {
        try await PostgresFrontEndTests.withCluster(frontEnds: 1) { postgres, frontEnds, key in
            let keyFile = postgres.directory.appendingPathComponent("shared.key").path
            let other = try await PostgresFrontEndTests.FrontEnd(storage: "", keyFile: keyFile)
            defer { other.stop() }
            let front = frontEnds[0]
            let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: front.port))
            defer { Task { await client.shutdown() } }

            postgres.freeze()
            defer { postgres.thaw() }
            let asked = ContinuousClock.now
            let answer = try await client.send(Message.query(PostgresFrontEndTests.zone, type: .soa))
            let took = ContinuousClock.now - asked
            #expect(answer.rcode == .servFail && took < .seconds(2), "\(answer.rcode) after \(took)")

            let cli = try await Subprocess.run(
                try BuiltProducts.executable("dnsstore"),
                ["put", "db/c/x", "{}", "--primary", "127.0.0.1:\(front.port)", "--domain", "example.test", "--key", keyFile],
                environment: ["DNSSTORE_CACHE_DIR": postgres.directory.appendingPathComponent("cache").path])
            #expect(cli.status == 8 && cli.stderr.contains("SERVFAIL"), "\(cli.status): \(cli.stderr)")

            let failover = try await Subprocess.run(
                try BuiltProducts.executable("dnsstore"),
                ["put", "db/c/x", "{}", "--primary", "127.0.0.1:\(front.port)", "--primary", "127.0.0.1:\(other.port)",
                 "--domain", "example.test", "--key", keyFile],
                environment: ["DNSSTORE_CACHE_DIR": postgres.directory.appendingPathComponent("cache-2").path])
            #expect(failover.status == 0, "\(failover.stderr)")

            postgres.thaw()
            let thawed = ContinuousClock.now
            let back = try await Poll.until(within: .seconds(10), every: .milliseconds(50)) {
                (try? await client.send(Message.query(PostgresFrontEndTests.zone, type: .soa)).rcode) == .noError
            }
            #expect(back && ContinuousClock.now - thawed < .seconds(1), "answering again \(ContinuousClock.now - thawed) after the thaw")
        }
    }
}
#endif

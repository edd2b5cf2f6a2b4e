import DNSClient
import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import NIOCore
import Testing

/// `dnsstore serve` under the attacks the issue reproduced: while each runs, a prober's queries
/// keep being answered and the server's memory stays under a ceiling. One attack at a time: run
/// side by side, each server's answers measured the CPU the others' floods took.
@Suite("Server under abuse", .serialized)
struct AbuseTests {
    /// A sanitizer's shadow memory and quarantine raise every figure about threefold.
    static let memoryCeiling = (Slowdown.sanitizer == nil ? 200 : 600) << 20

    /// `dnsstore serve` in its own process on a free port, with its key.
    final class Served: @unchecked Sendable {
        let process: ChildProcess
        let port: Int
        let key: TSIGKey
        let directory: URL

        init(_ flags: [String] = []) async throws {
            directory = try TempDirectory.make("abuse")
            port = Ports.free()
            process = try Subprocess.start(
                try BuiltProducts.executable("dnsstore"),
                ["serve", "--data", directory.path, "--zone", "example.test", "--listen", "127.0.0.1:\(port)", "--log-level", "warning"] + flags,
                logFile: directory.appendingPathComponent("serve.log").path)
            try await Ports.waitForTCP(port)
            key = try TSIGKey.parseBINDKeyFile(try String(contentsOf: directory.appendingPathComponent("tsig.key"), encoding: .utf8))[0]
        }

        var memory: Int { ProcessWatch.residentBytes(process.processIdentifier) ?? 0 }

        func client(timeout: Duration = .seconds(2), attempts: Int = 3) throws -> DNSClient {
            var config = try DNSClientConfiguration(host: "127.0.0.1", port: port, key: key)
            config.timeout = timeout
            config.attempts = attempts
            return DNSClient(configuration: config)
        }

        func stop() {
            process.end(SIGTERM)
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// Asks for the zone's SOA over UDP every 20 ms and samples memory. A probe is answered when
    /// one of three tries of a second each is: a stub resolver waits longer (two tries of five
    /// seconds); fewer tries made the share hang on the CPU the rest of the suite left the server.
    final class Prober: @unchecked Sendable {
        private let state = Locked((asked: 0, answered: 0, peakMemory: 0, running: true))
        private let done = DispatchSemaphore(value: 0)

        init(_ served: Served) {
            let query = Array(try! Message.query("example.test.", type: .soa, id: 7).encode().readableBytesView)
            let thread = Thread { [self] in
                while state.withLock({ $0.running }) {
                    let answered = (0..<3).contains { _ in RawDNS.udp(query, port: served.port, timeout: 1) != nil }
                    let memory = served.memory
                    state.withLock {
                        $0.asked += 1
                        if answered { $0.answered += 1 }
                        $0.peakMemory = max($0.peakMemory, memory)
                    }
                    Thread.sleep(forTimeInterval: 0.02)
                }
                done.signal()
            }
            thread.start()
        }

        /// Stops probing; returns the share answered and the peak memory seen.
        func finish() async -> (share: Double, asked: Int, peakMemory: Int) {
            state.withLock { $0.running = false }
            // Waited for off the test process's small pool, which every other test shares.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                DispatchQueue.global().async {
                    self.done.wait()
                    continuation.resume()
                }
            }
            return state.withLock { (Double($0.answered) / Double(max(1, $0.asked)), $0.asked, $0.peakMemory) }
        }
    }

    /// Runs `body` on `count` threads of its own until `seconds` pass. It is awaited, not waited
    /// for: blocking a thread of the test process's pool for the whole attack would stall every
    /// other test in the process meanwhile.
    static func attack(threads count: Int, seconds: Double, _ body: @escaping @Sendable (_ until: Date) -> Void) async {
        let until = Date().addingTimeInterval(seconds)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let group = DispatchGroup()
            for _ in 0..<count {
                group.enter()
                Thread {
                    body(until)
                    group.leave()
                }.start()
            }
            group.notify(queue: .global()) { continuation.resume() }
        }
    }

    @Test func unreadTCPAnswersDoNotGrowMemory() async throws {
        let served = try await Served(["--tcp-stall-timeout", "3"])
        defer { served.stop() }
        var big = UpdateBuilder(zone: "example.test.")
        big.add(.txt("big.example.test.", TXT(splitting: [UInt8](repeating: 66, count: 15_500))))
        let writer = try served.client()
        try await writer.update(big)
        await writer.shutdown()

        let prober = Prober(served)
        let query = RawDNS.framed(Array(try Message.query("big.example.test.", type: .txt, id: 9).encode().readableBytesView))
        let closedAfter = Locked<Double?>(nil)
        let start = Date()
        // Pipelines queries for the 15.5 KB record as fast as the server takes them, reading nothing.
        await Self.attack(threads: 1, seconds: 10) { until in
            guard let connection = RawDNS.Connection(port: served.port, timeout: 1) else { return }
            let burst = Array(repeating: query, count: 64).flatMap { $0 }
            while Date() < until {
                if connection.write(burst) == .closed {
                    closedAfter.withLock { $0 = Date().timeIntervalSince(start) }
                    return
                }
            }
        }
        let (share, asked, peak) = await prober.finish()
        #expect(share >= 0.99, "\(asked) probes, \(share * 100)% answered")
        #expect(peak < Self.memoryCeiling, "peak memory \(peak >> 20) MB")
        let closed = try #require(closedAfter.withLock { $0 }, "the server never closed the connection that did not read")
        #expect(closed < 9, "closed after \(closed) s")
    }

    /// Sixteen signed IXFRs of a 50 MB journal that nobody reads: each transfer holds about one
    /// page of the journal, not the whole answer, so the server stays under 100 MB.
    @Test func unreadIncrementalTransfersOfALongJournalHoldLittleMemory() async throws {
        let served = try await Served(["--journal-mib", "80", "--tcp-stall-timeout", "60"])
        defer { served.stop() }
        let writer = try served.client(timeout: .seconds(10))
        let start = try await writer.serial(of: "example.test.")
        // 420 steps, each replacing a 60 KB record of random octets (a 120 KB change): 50 MB,
        // written by 8 writers at once.
        let filler = (0..<60_000).map { _ in UInt8.random(in: 0x21...0x7E) }
        let clock = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<8 {
                group.addTask {
                    for i in stride(from: w, to: 420, by: 8) {
                        var update = UpdateBuilder(zone: "example.test.")
                        var octets = filler
                        octets.replaceSubrange(0..<8, with: Array(String(format: "%08d", i).utf8))
                        update.replace(try DNSName("r\(w).example.test."), .txt, with: [.txt(TXT(splitting: octets))], ttl: 30)
                        try await writer.update(update)
                    }
                }
            }
            try await group.waitForAll()
        }
        print("wrote the journal in \(ContinuousClock.now - clock)")
        await writer.shutdown()
        let before = served.memory

        var request = Message.query("example.test.", type: .ixfr, id: 77, payloadSize: nil)
        let soa = SOA(mname: .root, rname: .root, serial: start, refresh: 0, retry: 0, expire: 0, minimum: 0)
        request.authority = [ResourceRecord(name: "example.test.", type: .soa, ttl: 0, rdata: .soa(soa))]
        let signed = try TSIGSigner.sign(try request.encode(), key: served.key, timeSigned: WallClock.seconds()).message
        let framed = RawDNS.framed(Array(signed.readableBytesView))
        var connections: [RawDNS.Connection] = []
        for _ in 0..<16 {
            // The first answer waits on sixteen transfers starting at once, beside the rest of the
            // suite: what is bounded here is memory, so a slow first message is no failure.
            let connection = try #require(RawDNS.Connection(port: served.port, timeout: 20))
            #expect(connection.write(framed) == .written)
            connections.append(connection)
        }
        // One of them reads its first message: the answer is an IXFR, so the journal reached back.
        let first = try #require(connections[0].readMessage())
        let answer = try Message(decoding: ByteBuffer(bytes: first))
        #expect(answer.rcode == .noError && answer.answers.count > 2 && answer.answers.first?.type == .soa, "\(answer.rcode)")
        var peak = 0
        for _ in 0..<30 {
            peak = max(peak, served.memory)
            try await Task.sleep(for: .milliseconds(100))
        }
        print("peak \(peak >> 20) MB with 16 unread transfers, \(before >> 20) MB before them")
        #expect(peak < (Slowdown.sanitizer == nil ? 100 : 300) << 20, "peak \(peak >> 20) MB, \(before >> 20) MB before the transfers")
        _ = connections
    }

    @Test func slowClientsCannotHoldEveryTCPSlot() async throws {
        let served = try await Served(["--max-tcp-connections", "40", "--tcp-message-timeout", "3"])
        defer { served.stop() }
        let prober = Prober(served)
        // 60 connections, each sending one octet of a length prefix and nothing more.
        var slow: [RawDNS.Connection] = []
        for _ in 0..<60 {
            if let connection = RawDNS.Connection(port: served.port, timeout: 1) {
                connection.write([0])
                slow.append(connection)
            }
        }
        // A fresh client is still answered: the longest idle connection makes room.
        let query = RawDNS.framed(Array(try Message.query("example.test.", type: .soa, id: 11).encode().readableBytesView))
        let fresh = try #require(RawDNS.Connection(port: served.port, timeout: 2))
        fresh.write(query)
        let answer = try #require(fresh.readMessage(), "no answer to a fresh TCP query")
        #expect(try Message(decoding: answer).rcode == .noError)
        // And the trickling ones are cut off once their message is overdue.
        try await Task.sleep(for: .seconds(4))
        #expect(slow.filter(\.isClosedByPeer).count == slow.count, "\(slow.filter(\.isClosedByPeer).count) of \(slow.count) closed")
        let (share, asked, peak) = await prober.finish()
        #expect(share >= 0.99, "\(asked) probes, \(share * 100)% answered")
        #expect(peak < Self.memoryCeiling)
    }

    @Test func aFloodOfBadlySignedUpdatesAndNotifiesQueuesNoWork() async throws {
        let served = try await Served()
        defer { served.stop() }
        let impostor = TSIGKey.generate(name: served.key.name)
        var update = UpdateBuilder(zone: "example.test.")
        update.add(.txt("flood.example.test.", TXT("x")))
        let badlySigned = Array(try TSIGSigner.sign(try update.message(id: 1).encode(), key: impostor, timeSigned: WallClock.seconds()).message.readableBytesView)
        var notify = Message(opcode: .notify, authoritative: true, questions: [Question(name: "example.test.", type: .soa)])
        notify.id = 2
        let notifyBytes = Array(try notify.encode().readableBytesView)
        let prober = Prober(served)
        // A valid signed UPDATE a second into the flood, sent and timed from a thread of its own so
        // that what is timed is the server, not this test process's scheduling.
        var good = UpdateBuilder(zone: "example.test.")
        good.add(.txt("valid.example.test.", TXT("made it")))
        let goodBytes = Array(try TSIGSigner.sign(try good.message(id: 3).encode(), key: served.key, timeSigned: WallClock.seconds()).message.readableBytesView)
        let answeredIn = Locked<(seconds: Double, rcode: ResponseCode?)?>(nil)
        let validDone = DispatchSemaphore(value: 0)
        Thread {
            Thread.sleep(forTimeInterval: 1)
            let start = Date()
            var rcode: ResponseCode?
            if let connection = RawDNS.Connection(port: served.port, timeout: 30) {
                _ = connection.write(RawDNS.framed(goodBytes))
                rcode = connection.readMessage().flatMap { try? Message(decoding: $0) }?.rcode
            }
            answeredIn.withLock { $0 = (Date().timeIntervalSince(start), rcode) }
            validDone.signal()
        }.start()
        // About 2,000 packets a second, well within what even a debug build answers: the point is
        // that none of them queues work, not raw speed (the benchmarks measure that).
        await Self.attack(threads: 2, seconds: 5) { until in
            let sender = RawDNS.Sender(port: served.port)
            while Date() < until {
                for _ in 0..<5 {
                    sender.send(badlySigned)
                    sender.send(notifyBytes)
                }
                Thread.sleep(forTimeInterval: 0.01)
            }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async {
                validDone.wait()
                continuation.resume()
            }
        }
        let (share, asked, peak) = await prober.finish()
        let (elapsed, rcode) = try #require(answeredIn.withLock { $0 })
        #expect(rcode == .noError, "the valid UPDATE was answered \(rcode.map { "\($0)" } ?? "not at all")")
        #expect(elapsed < 8, "the valid UPDATE took \(elapsed) s")  // it took 22.9 s when junk queued work
        // At most 1% of the probes unanswered after three tries, or one when fewer than 200 ran: on a
        // loaded machine the prober asked only 33 times, and one probe lost was 3%.
        let unanswered = Int((Double(asked) * (1 - share)).rounded())
        #expect(unanswered <= max(1, asked / 100), "\(asked) probes, \(share * 100)% answered")
        #expect(peak < Self.memoryCeiling, "peak memory \(peak >> 20) MB")
    }

    @Test func largeRRsetsAreLinearCappedAndSurviveARestart() async throws {
        let served = try await Served(["--max-records-per-rrset", "1000"])
        defer { served.stop() }
        let client = try served.client(timeout: .seconds(10), attempts: 1)
        defer { Task { await client.shutdown() } }
        func add(_ count: Int, at name: DNSName) throws -> UpdateBuilder {
            var update = UpdateBuilder(zone: "example.test.")
            for i in 0..<count {
                update.add(ResourceRecord(name: name, type: .a, ttl: 300, rdata: .a(IPv4Address(10, UInt8(i >> 16 & 0xFF), UInt8(i >> 8 & 0xFF), UInt8(i & 0xFF)))))
            }
            return update
        }
        try await client.update(try add(1_000, at: "thousand.example.test."))
        let refused = try await client.send(try add(1_001, at: "more.example.test.").message())
        #expect(refused.rcode == .refused)
        #expect(refused.edns?.options.compactMap(\.extendedError).first?.text == "more.example.test. A would hold 1001 records; the limit is 1000")
        // 4,000 records in one message: refused at once, the connection answered, not dropped.
        let huge = try await client.send(try add(4_000, at: "huge.example.test.").message(), overTCP: true)
        #expect(huge.rcode == .refused)
        #expect(try await client.records("thousand.example.test.", type: .a).count == 1_000)

        // Another server process on the same data answers for the large RRset at once.
        let port = Ports.free()
        let second = try Subprocess.start(
            try BuiltProducts.executable("dnsstore"),
            ["serve", "--data", served.directory.path, "--zone", "example.test", "--listen", "127.0.0.1:\(port)"],
            logFile: served.directory.appendingPathComponent("second.log").path)
        defer {
            second.end(SIGTERM)
        }
        try await Ports.waitForTCP(port)
        let reader = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port))
        defer { Task { await reader.shutdown() } }
        #expect(try await reader.query("thousand.example.test.", type: .a, overTCP: true).answers.count == 1_000)
    }

    @Test func twoServersOnOneDataDirectoryDoNotStallEachOther() async throws {
        let a = try await Served()
        defer { a.stop() }
        let writer = try a.client(timeout: .seconds(10), attempts: 1)
        for batch in 0..<10 {
            var update = UpdateBuilder(zone: "example.test.")
            for i in 0..<500 { update.add(.txt(try DNSName("n\(batch * 500 + i).example.test."), TXT("value \(i)"))) }
            try await writer.update(update)
        }
        await writer.shutdown()
        // B shares A's data directory and takes updates several times a second while A is probed.
        let portB = Ports.free()
        let b = try Subprocess.start(
            try BuiltProducts.executable("dnsstore"),
            ["serve", "--data", a.directory.path, "--zone", "example.test", "--listen", "127.0.0.1:\(portB)", "--log-level", "warning"],
            logFile: a.directory.appendingPathComponent("b.log").path)
        defer {
            b.end(SIGTERM)
        }
        try await Ports.waitForTCP(portB)
        let prober = Prober(a)
        let throughB = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: portB, key: a.key))
        for i in 0..<20 {
            var change = UpdateBuilder(zone: "example.test.")
            change.replace("live.example.test.", .txt, with: [.txt(TXT("\(i)"))], ttl: 30)
            try await throughB.update(change)
            try await Task.sleep(for: .milliseconds(150))
        }
        await throughB.shutdown()
        let (share, asked, peak) = await prober.finish()
        #expect(share >= 0.99, "\(asked) probes, \(share * 100)% answered")
        #expect(peak < Self.memoryCeiling)
        // A answers what B last wrote, at once.
        let reader = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: a.port))
        defer { Task { await reader.shutdown() } }
        #expect(try await reader.records("live.example.test.", type: .txt).first?.rdata == .txt(TXT("19")))
    }

    @Test func concurrentTransfersOfALargeZoneAllFinish() async throws {
        // A short idle timeout: a connection whose transfer is being built must not be taken for idle.
        // (A long stall timeout: on a busy machine the test's own clients may read slowly.)
        let served = try await Served(["--tcp-idle-timeout", "2", "--tcp-stall-timeout", "120"])
        defer { served.stop() }
        // Setting up: on a busy machine a pooled connection may sit past the 2 s idle timeout
        // between two UPDATEs and be closed; adding the same records again is harmless.
        let client = try served.client(timeout: .seconds(10), attempts: 3)
        for batch in 0..<10 {
            var update = UpdateBuilder(zone: "example.test.")
            for i in 0..<500 { update.add(.txt(try DNSName("n\(batch * 500 + i).example.test."), TXT("value \(i)"))) }
            do { try await client.update(update) } catch { Issue.record("update \(batch): \(error)"); throw error }
        }
        await client.shutdown()
        let counts = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<10 {
                group.addTask {
                    let c = try served.client(timeout: .seconds(10), attempts: 1)
                    defer { Task { await c.shutdown() } }
                    do { return try await c.transfer(zone: "example.test.").records.count } catch { Issue.record("transfer: \(error)"); throw error }
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(counts.count == 10)
        #expect(counts.allSatisfy { $0 == 5_000 + 3 }, "\(counts)")
    }
}

/// What the authority queues, seen without a network.
@Suite("Work admission")
struct WorkAdmissionTests {
    static func authority(_ configure: (inout AuthorityConfiguration) -> Void = { _ in }) throws -> (Authority, TSIGKey, URL) {
        let dir = try TempDirectory.make("admission")
        let key = TSIGKey.generate(name: "dnsstore-key.")
        var config = AuthorityConfiguration(zones: ["example.test."], keys: [key])
        configure(&config)
        return (try Authority(databasePath: dir.appendingPathComponent("zones.sqlite").path, configuration: config), key, dir)
    }

    static func update(_ i: Int) -> ByteBuffer {
        var update = UpdateBuilder(zone: "example.test.")
        update.add(.txt(try! DNSName("n\(i).example.test."), TXT("x")))
        return try! update.message(id: UInt16(i)).encode()
    }

    @Test func requestsThatFailTheirChecksNeverBecomeWork() throws {
        let (authority, key, dir) = try Self.authority()
        defer { try? FileManager.default.removeItem(at: dir) }
        let impostor = TSIGKey.generate(name: key.name)
        var notify = Message(opcode: .notify, authoritative: true, questions: [Question(name: "example.test.", type: .soa)])
        notify.id = 9
        let now = WallClock.seconds()
        let refused: [ByteBuffer] = [
            try TSIGSigner.sign(Self.update(1), key: impostor, timeSigned: now).message,  // bad MAC
            try TSIGSigner.sign(Self.update(2), key: key, timeSigned: now - 3600).message,  // bad time
            Self.update(3),  // unsigned
            try notify.encode(),
        ]
        for request in refused {
            guard case .answered(let answers) = authority.receive(request, over: .udp) else {
                Issue.record("a request that fails its checks became work")
                continue
            }
            #expect(answers.count == 1)
        }
        guard case .deferred = authority.receive(try TSIGSigner.sign(Self.update(4), key: key, timeSigned: now).message, over: .udp) else {
            Issue.record("a valid signed UPDATE was not admitted")
            return
        }
    }

    /// Sixty secondaries told of one change ask for it at once: every IXFR is admitted to wait for
    /// a thread, none answered SERVFAIL (which makes Knot fetch the whole zone, then rest); past
    /// the bound, a transfer is shed with SERVFAIL.
    @Test func transfersOfSixtySecondariesAskingAtOnceAllWait() throws {
        for (limit, admittedCount) in [(nil, 60), (Optional(40), 40)] {
            let (authority, key, dir) = try Self.authority { config in if let limit { config.maxPendingTransfers = limit } }
            defer { try? FileManager.default.removeItem(at: dir) }
            var ixfr = Message.query("example.test.", type: .ixfr, id: 5, payloadSize: nil)
            let soa = SOA(mname: .root, rname: .root, serial: 0, refresh: 0, retry: 0, expire: 0, minimum: 0)
            ixfr.authority = [ResourceRecord(name: "example.test.", type: .soa, ttl: 0, rdata: .soa(soa))]
            var admitted: [BlockingWork] = []
            var shed = 0
            for _ in 0..<60 {
                let request = try TSIGSigner.sign(try ixfr.encode(), key: key, timeSigned: WallClock.seconds()).message
                switch authority.receive(request, over: .tcp) {
                case .work(let work): admitted.append(work)
                case .answered(let answers): if try Message(decoding: answers[0]).rcode == .servFail { shed += 1 }
                case .deferred: Issue.record("a transfer was deferred")
                }
            }
            #expect(admitted.count == admittedCount && shed == 60 - admittedCount, "limit \(String(describing: limit)): \(admitted.count) admitted, \(shed) shed")
            // Each admitted one is answered (the whole zone: the journal does not reach serial 0).
            for work in admitted {
                var step: BlockingWork? = work
                var first: ByteBuffer?
                while let current = step {
                    let (answers, next, _) = current.run()
                    first = first ?? answers.first
                    step = next
                }
                #expect(try first.map { try Message(decoding: $0).rcode } == .noError)
            }
        }
    }

    @Test func workBeyondTheQueueIsShedBeforeItStarts() throws {
        let (authority, key, dir) = try Self.authority { $0.maxPendingUpdates = 4 }
        defer { try? FileManager.default.removeItem(at: dir) }
        let now = WallClock.seconds()
        var admitted: [DeferredWork] = []
        for i in 0..<6 {
            let request = try TSIGSigner.sign(Self.update(i), key: key, timeSigned: now).message
            switch authority.receive(request, over: i == 5 ? .tcp : .udp) {
            case .work: Issue.record("an UPDATE became blocking work")
            case .deferred(let work): admitted.append(work)
            case .answered(let answers):
                // Shed: dropped over UDP, SERVFAIL over TCP.
                if i == 5 {
                    #expect(try Message(decoding: answers[0]).rcode == .servFail)
                } else {
                    #expect(answers.isEmpty && i == 4)
                }
            }
        }
        #expect(admitted.count == 4)
        // Once work finishes, its place is free again.
        let answers = admitted.removeFirst().wait(on: .singleton)
        #expect(try answers.map { try Message(decoding: $0).rcode } == [.noError])
        guard case .deferred = authority.receive(try TSIGSigner.sign(Self.update(9), key: key, timeSigned: now).message, over: .udp) else {
            Issue.record("the place of finished work was not given back")
            return
        }
    }
}

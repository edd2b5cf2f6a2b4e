import DNSClient
import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import NIOCore
import Testing

/// Engines read zones by name from storage they may share with other processes, and refuse
/// storage that is damaged.
@Suite("Zone storage")
struct StorageTests {
    static func engine(_ path: String, zone: DNSName = "example.test.") throws -> Authority {
        try Authority(databasePath: path, configuration: AuthorityConfiguration(zones: [zone], keys: []))
    }

    static func query(_ engine: Authority, _ name: DNSName, _ type: RRType = .txt) throws -> Message {
        try Message(decoding: engine.handle(try Message.query(name, type: type, id: 1).encode(), over: .local)[0])
    }

    static func update(_ engine: Authority, _ build: (inout UpdateBuilder) -> Void) throws -> ResponseCode {
        var update = UpdateBuilder(zone: "example.test.")
        build(&update)
        return try Message(decoding: engine.handle(try update.message(id: 2).encode(), over: .local)[0]).rcode
    }

    /// The zone's SOA serial as the engine answers it.
    static func serial(_ engine: Authority) throws -> UInt32 {
        guard case .soa(let soa)? = try query(engine, "example.test.", .soa).answers.first?.rdata else { return 0 }
        return soa.serial
    }

    /// The records of an IXFR from `serial`, every message's answers in order.
    static func ixfr(_ engine: Authority, from serial: UInt32) throws -> [ResourceRecord] {
        var soa = try #require(try query(engine, "example.test.", .soa).answers.first)
        guard case .soa(var fields) = soa.rdata else { return [] }
        fields.serial = serial
        soa.rdata = .soa(fields)
        let request = Message(id: 3, questions: [Question(name: "example.test.", type: .ixfr)], authority: [soa])
        return try engine.handle(try request.encode(), over: .local).flatMap { try Message(decoding: $0).answers }
    }

    static func text(_ message: Message) -> String? {
        guard case .txt(let txt)? = message.answers.first?.rdata else { return nil }
        return String(decoding: txt.joined, as: UTF8.self)
    }

    @Test func theJournalKeepsItsBoundAndAnIXFRFromBeforeItGetsTheWholeZone() throws {
        let dir = try TempDirectory.make("storage")
        defer { try? FileManager.default.removeItem(at: dir) }
        var configuration = AuthorityConfiguration(zones: ["example.test."], keys: [])
        configuration.journalMaxOctets = 8 << 10
        let engine = try Authority(databasePath: dir.appendingPathComponent("zones.sqlite").path, configuration: configuration)
        let start = try Self.serial(engine)
        // 100 steps of about 400 octets each: five times what the journal may keep.
        for i in 0..<100 {
            #expect(try Self.update(engine) { $0.add(.txt(try! DNSName("n\(i).example.test."), TXT(String(repeating: "j", count: 300)))) } == .noError)
        }
        let current = try Self.serial(engine)
        #expect(current == start &+ 100)
        // Recent history is kept, as differences: SOA, then per step the old SOA, deletions,
        // the new SOA and additions, then the SOA again.
        let recent = try Self.ixfr(engine, from: current &- 10)
        #expect(recent.count == 1 + 10 * 3 + 1)
        #expect(engine.statistics.incrementalTransfers.load(ordering: .relaxed) == 1)
        // From before the journal's start: the whole zone, as AXFR sends it.
        let old = try Self.ixfr(engine, from: start)
        #expect(old.count == 1 + 1 + 100 + 1)  // SOA, NS, the 100 names, SOA
        #expect(old.dropFirst().first?.type == .ns)
        #expect(engine.statistics.fullTransfers.load(ordering: .relaxed) == 1)
    }

    @Test func enginesSharingAFileSeeEachOthersCommitsAtOnce() throws {
        let dir = try TempDirectory.make("storage")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("zones.sqlite").path
        let a = try Self.engine(path)
        let b = try Self.engine(path)
        #expect(try Self.query(a, "x.example.test.").rcode == .nxDomain)  // now in a's cache
        #expect(try Self.update(b) { $0.add(.txt("x.example.test.", TXT("from b"))) } == .noError)
        #expect(try Self.text(Self.query(a, "x.example.test.")) == "from b")
        #expect(try Self.update(b) { $0.apply(.deleteName("x.example.test.")) } == .noError)
        #expect(try Self.query(a, "x.example.test.").rcode == .nxDomain)
        // A name that comes to exist because a name below it does.
        #expect(try Self.query(a, "c.example.test.").rcode == .nxDomain)
        #expect(try Self.update(b) { $0.add(.txt("a.b.c.example.test.", TXT("deep"))) } == .noError)
        let ent = try Self.query(a, "c.example.test.")
        #expect(ent.rcode == .noError && ent.answers.isEmpty)
        // Each of a's answers after one of b's commits came from storage, none from a stale cache.
        #expect(a.statistics.cacheMisses.load(ordering: .relaxed) == 5)
        #expect(a.statistics.cacheHits.load(ordering: .relaxed) == 0)
    }

    @Test func anotherProcessCommitBetweenTwoOfOursIsNotSwallowed() throws {
        let dir = try TempDirectory.make("storage")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("zones.sqlite").path
        let a = try Self.engine(path)
        let b = try Self.engine(path)
        #expect(try Self.update(a) { $0.add(.txt("y.example.test.", TXT("v1"))) } == .noError)
        #expect(try Self.text(Self.query(a, "y.example.test.")) == "v1")
        // b commits, then a commits something else: a must not take its own commit as the last word.
        #expect(try Self.update(b) { $0.replace("y.example.test.", .txt, with: [.txt(TXT("v2"))], ttl: 300) } == .noError)
        #expect(try Self.update(a) { $0.add(.txt("z.example.test.", TXT("other"))) } == .noError)
        #expect(try Self.text(Self.query(a, "y.example.test.")) == "v2")
        // And an update of a's that depends on b's value succeeds, first time.
        #expect(try Self.update(a) { u in
            u.require(.rrsetEquals("y.example.test.", .txt, [.txt(TXT("v2"))]))
            u.replace("y.example.test.", .txt, with: [.txt(TXT("v3"))], ttl: 300)
        } == .noError)
        #expect(try Self.text(Self.query(b, "y.example.test.")) == "v3")
    }

    @Test func interleavedCompareAndSwapThroughTwoEnginesLosesNothing() async throws {
        let dir = try TempDirectory.make("storage")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("zones.sqlite").path
        let engines = [try Self.engine(path), try Self.engine(path)]
        #expect(try Self.update(engines[0]) { $0.add(.txt("n.example.test.", TXT("0"))) } == .noError)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                let engine = engines[worker % 2]
                group.addTask {
                    var done = 0
                    while done < 25 {
                        let current = try Self.text(Self.query(engine, "n.example.test.")) ?? "0"
                        let rcode = try Self.update(engine) { u in
                            u.require(.rrsetEquals("n.example.test.", .txt, [.txt(TXT(current))]))
                            u.replace("n.example.test.", .txt, with: [.txt(TXT(String(Int(current)! + 1)))], ttl: 300)
                        }
                        #expect(rcode == .noError || rcode == .nxRRSet, "\(rcode)")
                        if rcode == .noError { done += 1 }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(try Self.text(Self.query(engines[1], "n.example.test.")) == "100")
    }

    /// An engine checks an UPDATE against what the file holds, not against what its own last
    /// UPDATE left: another engine may have written between them.
    @Test func anUpdateSeesWhatAnotherEngineWroteSinceItsOwnLastUpdate() throws {
        let dir = try TempDirectory.make("storage")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("zones.sqlite").path
        let a = try Self.engine(path)
        let b = try Self.engine(path)
        let start = try Self.serial(a)
        #expect(try Self.update(a) { $0.replace("n.example.test.", .txt, with: [.txt(TXT("from a"))], ttl: 300) } == .noError)
        #expect(try Self.update(b) { $0.replace("n.example.test.", .txt, with: [.txt(TXT("from b"))], ttl: 300) } == .noError)
        // What a last wrote is gone; what b wrote is there.
        #expect(try Self.update(a) { u in
            u.require(.rrsetEquals("n.example.test.", .txt, [.txt(TXT("from a"))]))
            u.add(.txt("m.example.test.", TXT("lost")))
        } == .nxRRSet)
        #expect(try Self.update(a) { u in
            u.require(.rrsetEquals("n.example.test.", .txt, [.txt(TXT("from b"))]))
            u.replace("n.example.test.", .txt, with: [.txt(TXT("from a again"))], ttl: 300)
        } == .noError)
        // Each engine raised the serial from where the other left it, and the zone has one SOA.
        #expect(try Self.serial(b) == start &+ 3)
        #expect(try Self.query(b, "example.test.", .soa).answers.count == 1)
        #expect(try Self.text(Self.query(b, "n.example.test.")) == "from a again")
    }

    @Test func anEngineReadsOnlyWhatItIsAskedFor() throws {
        let dir = try TempDirectory.make("storage")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("zones.sqlite").path
        let writer = try Self.engine(path)
        for batch in 0..<4 {
            #expect(try Self.update(writer) { u in
                for i in 0..<500 { u.add(.txt(try! DNSName("n\(batch * 500 + i).example.test."), TXT("v"))) }
            } == .noError)
        }
        // A fresh engine answers without having read the 2,000 names.
        let reader = try Self.engine(path)
        #expect(try Self.text(Self.query(reader, "n1234.example.test.")) == "v")
        #expect(reader.statistics.cacheMisses.load(ordering: .relaxed) == 1)
        #expect(try Self.text(Self.query(reader, "n1234.example.test.")) == "v")
        #expect(reader.statistics.cacheHits.load(ordering: .relaxed) == 1)
    }

    @Test func queriesThatMissTheCacheAreReadWhereTheyArriveOnceStorageProvesQuick() throws {
        let dir = try TempDirectory.make("storage")
        defer { try? FileManager.default.removeItem(at: dir) }
        var configuration = AuthorityConfiguration(zones: ["example.test."], keys: [])
        // Generous, so that a debug build on a busy machine counts as quick too.
        configuration.quickReadMicroseconds = 20_000
        let engine = try Authority(databasePath: dir.appendingPathComponent("zones.sqlite").path, configuration: configuration)
        #expect(try Self.update(engine) { u in for i in 0..<100 { u.add(.txt(try! DNSName("n\(i).example.test."), TXT("v"))) } } == .noError)
        func ask(_ i: Int) throws -> RequestOutcome {
            engine.receive(try Message.query(try DNSName("n\(i).example.test."), type: .txt, id: UInt16(i)).encode(), over: .udp)
        }
        // A fresh engine does not yet know its storage: the first misses go to the thread pool.
        guard case .work(let first) = try ask(0) else {
            Issue.record("the first read from storage did not go to the thread pool")
            return
        }
        #expect(try Message(decoding: first.runToEnd()[0]).answers.count == 1)
        var inPlace = 0
        for i in 1..<60 {
            switch try ask(i) {
            case .answered(let answers):
                inPlace += 1
                #expect(try Message(decoding: answers[0]).answers.count == 1)
            case .work(let work): _ = work.runToEnd()
            case .deferred: Issue.record("a query was deferred")
            }
        }
        #expect(inPlace > 40)
    }
}

/// A damaged data file is noticed and named, and what can be read is saved.
@Suite("Damaged storage")
struct DamagedStorageTests {
    static func sqlite(_ path: String, _ statements: String) async throws {
        let script = "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nc.executescript(sys.argv[2])\nc.commit()"
        let result = try await Subprocess.run("python3", ["-c", script, path, statements])
        try #require(result.status == 0, "\(result.stderr)")
    }

    /// A data directory with a zone of `count` names, its write-ahead log folded into the file.
    static func dataDirectory(names count: Int) async throws -> URL {
        let dir = try TempDirectory.make("damaged")
        let path = dir.appendingPathComponent("zones.sqlite").path
        do {
            let engine = try StorageTests.engine(path)
            for start in stride(from: 0, to: count, by: 500) {
                _ = try StorageTests.update(engine) { u in
                    for i in start..<min(count, start + 500) { u.add(.txt(try! DNSName("n\(i).example.test."), TXT(String(repeating: "v", count: 100)))) }
                }
            }
        }
        try await sqlite(path, "PRAGMA wal_checkpoint(TRUNCATE);")
        return dir
    }

    static func serve(_ dir: URL, _ extra: [String] = []) async throws -> Subprocess.Result {
        try await Subprocess.run(
            try BuiltProducts.executable("dnsstore"),
            ["serve", "--data", dir.path, "--zone", "example.test", "--listen", "127.0.0.1:\(Ports.free())"] + extra)
    }

    @Test func overwrittenPagesAreFoundAtStartAndWhatCanBeReadIsSaved() async throws {
        let dir = try await Self.dataDirectory(names: 3_000)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("zones.sqlite")
        var bytes = Data(try readFile(file.path))
        let pageSize = 4096
        try #require(bytes.count > 40 * pageSize)
        for page in [20, 21, 22] {
            bytes.replaceSubrange((page * pageSize)..<((page + 1) * pageSize), with: Data(repeating: 0xA5, count: pageSize))
        }
        try bytes.write(to: file)

        let started = try await Self.serve(dir)
        #expect(started.status == 1)
        #expect(started.stderr.contains("refusing to serve \(file.path)"), "\(started.stderr)")
        #expect(started.stderr.contains("serve --salvage"))
        let checked = try await Self.serve(dir, ["--check"])
        #expect(checked.status == 1 && checked.stdout.contains("damaged"))
        let salvaged = try await Self.serve(dir, ["--salvage", dir.appendingPathComponent("saved.zone").path])
        #expect(salvaged.stdout.contains("salvaged 1 zone(s)"), "\(salvaged.stdout) \(salvaged.stderr)")
        let saved = try String(contentsOf: dir.appendingPathComponent("saved.zone"), encoding: .utf8)
        #expect(saved.contains("example.test. 300 IN SOA"))
    }

    @Test func aRecordThatDoesNotDecodeIsNamedAndAnsweredSERVFAIL() async throws {
        let dir = try await Self.dataDirectory(names: 10)
        defer { try? FileManager.default.removeItem(at: dir) }
        // A TXT record whose first character-string claims more octets than it has.
        try await Self.sqlite(
            dir.appendingPathComponent("zones.sqlite").path,
            "INSERT INTO record VALUES ((SELECT id FROM zone), x'62616400', 16, x'00', NULL, 300, x'05616263', NULL);")
        let port = Ports.free()
        let server = try Subprocess.start(
            try BuiltProducts.executable("dnsstore"),
            ["serve", "--data", dir.path, "--zone", "example.test", "--listen", "127.0.0.1:\(port)"],
            logFile: dir.appendingPathComponent("serve.log").path)
        defer {
            server.end(SIGTERM)
        }
        try await Ports.waitForTCP(port)
        let reply = try Message(decoding: try #require(RawDNS.udp(Array(try Message.query("bad.example.test.", type: .txt, id: 5).encode().readableBytesView), port: port)))
        #expect(reply.rcode == .servFail)
        #expect(reply.edns?.options.compactMap(\.extendedError).first?.text.contains("bad.example.test.") == true)
        let good = try Message(decoding: try #require(RawDNS.udp(Array(try Message.query("n3.example.test.", type: .txt, id: 6).encode().readableBytesView), port: port)))
        #expect(good.rcode == .noError && good.answers.count == 1)
        let log = try String(contentsOf: dir.appendingPathComponent("serve.log"), encoding: .utf8)
        #expect(log.contains("bad.example.test.") && log.contains("does not decode"))
    }

    @Test func aZoneWithoutItsSOAIsNotServed() async throws {
        let dir = try await Self.dataDirectory(names: 10)
        defer { try? FileManager.default.removeItem(at: dir) }
        try await Self.sqlite(dir.appendingPathComponent("zones.sqlite").path, "DELETE FROM record WHERE type = 6;")
        let started = try await Self.serve(dir)
        #expect(started.status == 1)
        #expect(started.stderr.contains("refusing to serve example.test.: damaged storage: zone example.test. has no SOA record"), "\(started.stderr)")
    }
}

import DNSServer
import DNSWire
import Foundation
import NIOCore
import NIOPosix
import Testing

/// The engine's rules driven with DNS messages directly: no sockets, no other program. The
/// suites that run BIND and Knot beside it check that the same rules hold on the wire.
@Suite("Authority without sockets")
struct AuthorityTests {
    static let zone: DNSName = "example.test."

    /// An in-memory authority for `example.test.` with one key, and ways to talk to it.
    struct Engine {
        let authority: Authority
        let key = TSIGKey.generate(name: "writer.")
        var now: UInt64 = UInt64(Date().timeIntervalSince1970)

        init(configure: (inout AuthorityConfiguration) -> Void = { _ in }) throws {
            try self.init(configure: configure) { try Authority(inMemory: $0) }
        }

        /// An engine on the storage `open` gives it.
        init(configure: (inout AuthorityConfiguration) -> Void = { _ in }, open: (AuthorityConfiguration) throws -> Authority) throws {
            var configuration = AuthorityConfiguration(zones: [AuthorityTests.zone], keys: [])
            configuration.keys = [key]
            configure(&configuration)
            authority = try open(configuration)
            // After the authority exists: its replay cache refuses requests signed before it was
            // made, and opening one (on PostgreSQL, under load) can take past a second boundary.
            now = UInt64(Date().timeIntervalSince1970)
        }

        /// Sends `message` signed with `key` (or unsigned), over UDP unless told; the answers.
        func send(_ message: Message, key: TSIGKey? = nil, over transport: RequestTransport = .udp) throws -> [Message] {
            var octets = try message.encode()
            if let key { octets = try TSIGSigner.sign(octets, key: key, timeSigned: now).message }
            return try authority.handle(octets, over: transport).map { try Message(decoding: $0) }
        }

        func update(_ build: (inout UpdateBuilder) throws -> Void, key: TSIGKey? = nil) throws -> ResponseCode {
            var update = UpdateBuilder(zone: AuthorityTests.zone)
            try build(&update)
            return try #require(try send(update.message(id: 7), key: key ?? self.key).first).rcode
        }

        func query(_ name: DNSName, _ type: RRType) throws -> Message {
            try #require(try send(.query(name, type: type, id: 9)).first)
        }

        /// The zone's records as an in-process AXFR sees them, SOA last one dropped.
        func records() throws -> [ResourceRecord] {
            let messages = try send(.query(AuthorityTests.zone, type: .axfr, id: 11, payloadSize: nil), over: .local)
            return Array(messages.flatMap(\.answers).dropLast())
        }

        func serial() throws -> UInt32 {
            guard case .soa(let soa) = try query(AuthorityTests.zone, .soa).answers.first?.rdata else { throw DNSWireError.truncated("no SOA") }
            return soa.serial
        }

        func lines(_ name: DNSName) throws -> Set<String> {
            Set(try records().filter { $0.name == name && $0.type != .soa && $0.type != .ns }.map { "\($0.type) \($0.rdata.presentation.lowercased())" })
        }
    }

    @Test func updateRulesMatchWhatSecondariesAccept() throws {
        let engine = try Engine()
        for c in UpdateRulesTests.cases + [UpdateRulesTests.badNSEC3] {
            #expect(try engine.update(c.update) == c.rcode, "\(c.what)")
        }
        // CNAME exclusivity as RFC 2136 section 3.4.1.2 applies it: the later record is ignored,
        // and of two CNAMEs the last one stays.
        #expect(try engine.lines("both.example.test.") == ["A 10.0.0.1"])
        #expect(try engine.lines("two.example.test.") == ["CNAME t2.example.test."])
        #expect(try engine.lines("caa.example.test.").count == 1)  // the whole CAA, not the 1-octet one
        #expect(try engine.records().allSatisfy { $0.type != RRType(0) && $0.type != RRType(128) })
    }

    @Test func prerequisitesAreCompareAndSwap() throws {
        let engine = try Engine()
        let name: DNSName = "doc.example.test."
        let v1 = RData.txt(TXT("v1"))
        #expect(try engine.update { $0.require(.nameNotInUse(name)); $0.add(.txt(name, TXT("v1"))) } == .noError)
        // A second create loses, and so does a replace against a value that is gone.
        #expect(try engine.update { $0.require(.nameNotInUse(name)); $0.add(.txt(name, TXT("other"))) } == .yxDomain)
        #expect(try engine.update {
            $0.require(.rrsetEquals(name, .txt, [.txt(TXT("stale"))]))
            $0.apply(.deleteRRset(name, .txt))
            $0.add(.txt(name, TXT("lost")))
        } == .nxRRSet)
        #expect(try engine.update { $0.require(.rrsetDoesNotExist(name, .txt)); $0.add(.txt(name, TXT("x"))) } == .yxRRSet)
        #expect(try engine.update { $0.require(.nameInUse("absent.example.test.")); $0.add(.txt(name, TXT("x"))) } == .nxDomain)
        #expect(try engine.lines(name) == ["TXT \"v1\""])
        // The swap that read the current value wins, whole.
        #expect(try engine.update {
            $0.require(.rrsetEquals(name, .txt, [v1]))
            $0.apply(.deleteRRset(name, .txt))
            $0.add(.txt(name, TXT("v2")))
        } == .noError)
        #expect(try engine.lines(name) == ["TXT \"v2\""])
    }

    @Test func everyCommittedUpdateRaisesTheSerialOnceAndRefusalsLeaveIt() throws {
        let engine = try Engine()
        let start = try engine.serial()
        #expect(try engine.update { $0.add(.txt("a.example.test.", TXT("1"))) } == .noError)
        #expect(try engine.serial() == start &+ 1)
        #expect(try engine.update { $0.require(.nameInUse("none.example.test.")); $0.add(.txt("a.example.test.", TXT("2"))) } == .nxDomain)
        #expect(try engine.update { $0.add(.txt("outside.example.org.", TXT("1"))) } == .notZone)
        #expect(try engine.serial() == start &+ 1)
    }

    @Test func updatesCommittedTogetherAreEachCheckedOnTheirOwn() throws {
        try Self.checkUpdatesCommittedTogether(try Engine())
    }

    /// Four UPDATEs in one transaction, the second and fourth failing their prerequisites: the
    /// others land, each as its own journal step.
    static func checkUpdatesCommittedTogether(_ engine: Engine) throws {
        let start = try engine.serial()
        let x: DNSName = "x.example.test."
        func signed(_ id: UInt16, _ build: (inout UpdateBuilder) -> Void) throws -> ByteBuffer {
            var update = UpdateBuilder(zone: AuthorityTests.zone)
            build(&update)
            return try TSIGSigner.sign(try update.message(id: id).encode(), key: engine.key, timeSigned: engine.now).message
        }
        // Two writers race to create x, a third swaps the winner's value, a fourth asks for a
        // name that is not there.
        let requests = [
            try signed(1) { $0.require(.rrsetDoesNotExist(x, .txt)); $0.add(.txt(x, TXT("first"))) },
            try signed(2) { $0.require(.rrsetDoesNotExist(x, .txt)); $0.add(.txt(x, TXT("second"))) },
            try signed(3) {
                $0.require(.rrsetEquals(x, .txt, [.txt(TXT("first"))]))
                $0.replace(x, .txt, with: [.txt(TXT("third"))], ttl: 60)
            },
            try signed(4) { $0.require(.nameInUse("none.example.test.")); $0.add(.txt(x, TXT("fourth"))) },
        ]
        let works = try requests.map { request in
            guard case .deferred(let work) = engine.authority.receive(request, over: .udp) else {
                throw DNSWireError.truncated("an UPDATE was not queued for storage")
            }
            return work
        }
        // Hold the pool's one thread until all four wait, so that they go in one transaction.
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        defer { try? pool.syncShutdownGracefully() }
        let gate = DispatchSemaphore(value: 0)
        pool.submit { _ in gate.wait() }
        let answers = Locked<[Int: ResponseCode]>([:])
        let done = DispatchGroup()
        for (i, work) in works.enumerated() {
            done.enter()
            work.start(on: pool) { octets in
                let rcode = octets.first.flatMap { try? Message(decoding: $0).rcode }
                answers.withLock { $0[i] = rcode }
                done.leave()
            }
        }
        gate.signal()
        done.wait()
        #expect(answers.withLock { $0 } == [0: .noError, 1: .yxRRSet, 2: .noError, 3: .nxDomain])
        #expect(engine.authority.statistics.updateCommits.load(ordering: .relaxed) == 1)
        #expect(try engine.lines(x) == ["TXT \"third\""])
        // Each committed UPDATE is its own step: its own serial, its own IXFR difference.
        #expect(try engine.serial() == start &+ 2)
        var soa = try #require(try engine.query(AuthorityTests.zone, .soa).answers.first)
        guard case .soa(var fields) = soa.rdata else { throw DNSWireError.truncated("no SOA") }
        fields.serial = start
        soa.rdata = .soa(fields)
        let ixfr = try engine.send(Message(id: 5, questions: [Question(name: AuthorityTests.zone, type: .ixfr)], authority: [soa]), key: engine.key, over: .tcp)
        let serials = ixfr.flatMap(\.answers).compactMap { record -> UInt32? in
            if case .soa(let soa) = record.rdata { return soa.serial }
            return nil
        }
        #expect(serials == [start &+ 2, start, start &+ 1, start &+ 1, start &+ 2, start &+ 2])
    }

    @Test func unsignedForgedAndReplayedUpdatesChangeNothing() throws {
        let engine = try Engine()
        let name: DNSName = "r.example.test."
        var update = UpdateBuilder(zone: Self.zone)
        update.add(.txt(name, TXT("unsigned")))
        #expect(try engine.send(update.message(id: 1)).first?.rcode == .refused)
        let forger = try TSIGKey(name: engine.key.name, algorithm: engine.key.algorithm, secret: engine.key.secret.map { $0 ^ 1 })
        #expect(try engine.send(update.message(id: 2), key: forger).first?.rcode == .notAuth)
        #expect(try engine.lines(name).isEmpty)

        // The same signed octets twice: applied once, the second answered as the first was.
        var add = UpdateBuilder(zone: Self.zone)
        add.add(.txt(name, TXT("once")))
        let signed = try TSIGSigner.sign(try add.message(id: 3).encode(), key: engine.key, timeSigned: engine.now).message
        let first = try engine.authority.handle(signed, over: .udp).map { try Message(decoding: $0) }
        #expect(try engine.update { $0.apply(.deleteRRset(name, .txt)) } == .noError)
        let replayed = try engine.authority.handle(signed, over: .udp).map { try Message(decoding: $0) }
        #expect(first.first?.rcode == .noError)
        #expect(replayed.first?.rcode == first.first?.rcode)
        #expect(try engine.lines(name).isEmpty)
    }

    @Test func anUpdateWithAnUnknownEDNSVersionIsRefusedBeforeAnythingIsDone() throws {
        let engine = try Engine()
        var update = UpdateBuilder(zone: Self.zone)
        update.add(.txt("v.example.test.", TXT("x")))
        var message = update.message(id: 5)
        message.edns = EDNS(udpPayloadSize: 1232, version: 1)
        #expect(try engine.send(message, key: engine.key).first?.rcode == .badVers)
        #expect(try engine.lines("v.example.test.").isEmpty)
    }

    @Test func aKeyUpdatesOnlyItsSubtrees() throws {
        var engine = try Engine()
        let limited = TSIGKey.generate(name: "app-writer.")
        engine = try Engine { configuration in
            configuration.keys.append(limited)
            configuration.updateSubtrees[limited.name] = ["app.example.test."]
        }
        #expect(try engine.update({ $0.add(.txt("x.app.example.test.", TXT("in"))) }, key: limited) == .noError)
        #expect(try engine.update({ $0.add(.txt("x.other.example.test.", TXT("out"))) }, key: limited) == .refused)
        // A prerequisite outside is as much out of bounds as a change.
        #expect(try engine.update({
            $0.require(.nameInUse("other.example.test."))
            $0.add(.txt("y.app.example.test.", TXT("in")))
        }, key: limited) == .refused)
        #expect(try engine.lines("x.other.example.test.").isEmpty)
        #expect(try engine.lines("y.app.example.test.").isEmpty)
        #expect(try engine.update { $0.add(.txt("x.other.example.test.", TXT("zone key"))) } == .noError)
    }

    @Test func anRRsetPastItsCapIsRefusedWhole() throws {
        let engine = try Engine { $0.maxRecordsPerRRset = 10 }
        let name: DNSName = "many.example.test."
        #expect(try engine.update { u in for i in 0..<10 { u.add(.txt(name, TXT("\(i)"))) } } == .noError)
        #expect(try engine.update { u in u.add(.txt(name, TXT("eleventh"))) } != .noError)
        #expect(try engine.lines(name).count == 10)
    }

    @Test func answersCarryTheirAuthority() throws {
        let engine = try Engine()
        #expect(try engine.update { $0.add(.txt("Here.example.test.", TXT("x"))) } == .noError)
        let present = try engine.query("here.EXAMPLE.test.", .txt)
        #expect(present.authoritative && present.rcode == .noError && present.answers.count == 1)
        #expect(present.questions.first?.name.description == "here.EXAMPLE.test.")  // asked as asked

        let nodata = try engine.query("here.example.test.", .a)
        #expect(nodata.rcode == .noError && nodata.answers.isEmpty && nodata.authority.first?.type == .soa)

        let absent = try engine.query("gone.example.test.", .txt)
        #expect(absent.rcode == .nxDomain && absent.authority.first?.type == .soa)

        let outside = try engine.query("example.org.", .txt)
        #expect(outside.rcode == .refused && !outside.authoritative)
    }
}

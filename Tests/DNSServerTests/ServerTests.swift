import DNSClient
import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import NIOCore
import NIOPosix
import Testing

/// Runs `dig` against the server and returns its whole output.
func dig(_ port: Int, _ args: [String]) async throws -> String {
    let result = try await Subprocess.run("dig", ["@127.0.0.1", "-p", "\(port)", "+norecurse", "+tries=1", "+time=2"] + args)
    return result.stdout
}

func client(_ server: EmbeddedServer, key: TSIGKey?, tcp: Bool = false) throws -> DNSClient {
    var config = try DNSClientConfiguration(host: "127.0.0.1", port: server.port, key: key)
    config.alwaysTCP = tcp
    return DNSClient(configuration: config)
}

func withEmbedded<T>(
    configure: (inout AuthorityConfiguration) -> Void = { _ in }, _ body: (EmbeddedServer) async throws -> T
) async throws -> T {
    let server = try await EmbeddedServer.start(configure: configure)
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

@Suite("Embedded server")
struct ServerTests {
    @Test func answersAuthoritativelyAsDigAndKdigSee() async throws {
        try await withEmbedded { server in
            let writer = try client(server, key: server.key)
            var add = UpdateBuilder(zone: server.zone)
            add.add(.txt("a.example.test.", TXT("hello")))
            add.add(.txt("x.y.example.test.", TXT("deep")))
            try await writer.update(add)

            let found = try await dig(server.port, ["a.example.test", "TXT"])
            #expect(found.contains("status: NOERROR"))
            #expect(found.contains("flags: qr aa"))
            #expect(found.contains("\"hello\""))
            let missing = try await dig(server.port, ["nope.example.test", "TXT"])
            #expect(missing.contains("status: NXDOMAIN"))
            #expect(missing.contains("AUTHORITY: 1"))
            #expect(missing.contains("IN\tSOA"))
            let nodata = try await dig(server.port, ["a.example.test", "A"])
            #expect(nodata.contains("status: NOERROR") && nodata.contains("ANSWER: 0") && nodata.contains("AUTHORITY: 1"))
            // An empty non-terminal exists: NODATA, not NXDOMAIN.
            await #expect(try dig(server.port, ["y.example.test", "TXT"]).contains("status: NOERROR"))
            await #expect(try dig(server.port, ["elsewhere.org", "TXT"]).contains("status: REFUSED"))
            // EDNS0 is answered with EDNS0.
            await #expect(try dig(server.port, ["+edns=0", "a.example.test", "TXT"]).contains("OPT PSEUDOSECTION"))

            let kdig = try await Subprocess.run("kdig", ["@127.0.0.1", "-p", "\(server.port)", "+tcp", "+short", "a.example.test", "TXT"])
            #expect(kdig.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\"hello\"")
            await writer.shutdown()
        }
    }

    @Test func truncatesOverUDPAndServesTheRestOverTCP() async throws {
        try await withEmbedded { server in
            let writer = try client(server, key: server.key)
            var add = UpdateBuilder(zone: server.zone)
            for i in 0..<40 { add.add(.txt("big.example.test.", TXT("\(i) " + String(repeating: "x", count: 200)))) }
            try await writer.update(add)
            let udp = try await dig(server.port, ["+ignore", "+bufsize=1232", "big.example.test", "TXT"])
            #expect(udp.contains(" tc"))
            let records = try await writer.records("big.example.test.", type: .txt)
            #expect(records.count == 40)
            await writer.shutdown()
        }
    }

    @Test func readsLargeDatagramsAndBurstsOverUDP() async throws {
        try await withEmbedded { server in
            // One signed UPDATE of about 40 KB in one datagram: read whole (the server reads
            // many datagrams per system call, each into a slot of its own).
            let name = try DNSName("big.\(server.zone)")
            let text = TXT(strings: (0..<160).map { i in Array(repeating: UInt8(ascii: "a") + UInt8(i % 26), count: 250) })
            var update = UpdateBuilder(zone: server.zone)
            update.add(.txt(name, text))
            let signed = try TSIGSigner.sign(try update.message(id: 1).encode(), key: server.key, timeSigned: WallClock.seconds()).message
            #expect(signed.readableBytes > 40_000)
            let reply = try #require(RawDNS.udp(Array(signed.readableBytesView), port: server.port))
            #expect(try Message(decoding: reply).rcode == .noError)
            let reader = try client(server, key: nil, tcp: true)
            let stored = try await reader.query(name, type: .txt).answers.map(\.rdata)
            await reader.shutdown()
            #expect(stored == [.txt(text)])

            // A burst of queries from one socket, all sent before any reply is read: each is answered.
            let sender = RawDNS.Sender(port: server.port)
            for id in 0..<200 { sender.send(Array(try Message.query(name, type: .a, id: UInt16(id)).encode().readableBytesView)) }
            var answered = Set<UInt16>()
            while answered.count < 200, let reply = sender.receive(timeout: 2) {
                answered.insert(try Message(decoding: reply).id)
            }
            #expect(answered.count == 200)
        }
    }

    @Test func carriesManyQueriesOnOneTCPConnection() async throws {
        try await withEmbedded { server in
            let tcp = try client(server, key: nil, tcp: true)
            let answers = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<100 { group.addTask { try await tcp.query(server.zone, type: .soa).answers.count } }
                return try await group.reduce(0, +)
            }
            #expect(answers == 100)
            await tcp.shutdown()
        }
    }

    @Test func nsupdateAndKnsupdateWriteWithTheKeyAndNothingElseDoes() async throws {
        try await withEmbedded { server in
            let keyFile = server.directory.appendingPathComponent("client.key").path
            try server.key.bindKeyFile.write(toFile: keyFile, atomically: true, encoding: .utf8)
            let script = "server 127.0.0.1 \(server.port)\nzone example.test\nupdate add ns.example.test 60 TXT \"by nsupdate\"\nsend\n"
            let signed = try await Subprocess.run("nsupdate", ["-k", keyFile], input: script)
            #expect(signed.status == 0, "\(signed.stderr)")
            let knotKey = "hmac-sha256:dnsstore-key:\(server.key.secretBase64)"
            let kscript = "server 127.0.0.1 \(server.port)\nzone example.test\nupdate add kn.example.test 60 TXT \"by knsupdate\"\nsend\n"
            let ksigned = try await Subprocess.run("knsupdate", ["-y", knotKey], input: kscript)
            #expect(ksigned.status == 0, "\(ksigned.stderr)\(ksigned.stdout)")
            await #expect(try dig(server.port, ["+short", "ns.example.test", "TXT"]).contains("by nsupdate"))
            await #expect(try dig(server.port, ["+short", "kn.example.test", "TXT"]).contains("by knsupdate"))

            let unsignedScript = "server 127.0.0.1 \(server.port)\nzone example.test\nupdate add u.example.test 60 TXT \"no\"\nsend\n"
            let unsigned = try await Subprocess.run("nsupdate", [], input: unsignedScript)
            #expect(unsigned.status != 0)
            #expect(unsigned.stderr.contains("REFUSED"))

            var add = UpdateBuilder(zone: server.zone)
            add.add(.txt("u.example.test.", TXT("no")))
            let refusedClient = try client(server, key: nil)
            await #expect(throws: DNSError.refused) { try await refusedClient.update(add) }
            var wrong = server.key
            wrong.secret = wrong.secret.map { $0 ^ 1 }
            await #expect(throws: DNSError.tsig(.badSignature)) { try await client(server, key: wrong).update(add) }
            let stranger = TSIGKey.generate(name: "stranger.")
            await #expect(throws: DNSError.tsig(.badKey)) { try await client(server, key: stranger).update(add) }
            // Signed an hour ago: BADTIME, signed, with the server's clock in Other Data.
            let old = try TSIGSigner.sign(try add.message(id: 5).encode(), key: server.key, timeSigned: WallClock.seconds() - 3600).message
            let connection = try #require(RawDNS.Connection(port: server.port, timeout: 5))
            #expect(connection.write(RawDNS.framed(Array(old.readableBytesView))) == .written)
            let answer = try Message(decoding: ByteBuffer(bytes: try #require(connection.readMessage())))
            #expect(answer.rcode == .notAuth && answer.tsig?.error == .badTime && answer.tsig?.otherData.count == 6)
            await #expect(try dig(server.port, ["u.example.test", "TXT"]).contains("NXDOMAIN"))
        }
    }

    @Test func everyPrerequisiteFormAndAtomicity() async throws {
        try await withEmbedded { server in
            let c = try client(server, key: server.key)
            let name: DNSName = "cas.example.test."
            var create = UpdateBuilder(zone: server.zone)
            create.require(.rrsetDoesNotExist(name, .txt))
            create.add(.txt(name, TXT("v1")))
            try await c.update(create)
            await #expect(throws: DNSError.yxRRSet) { try await c.update(create) }
            var swap = UpdateBuilder(zone: server.zone)
            swap.require(.rrsetEquals(name, .txt, [.txt(TXT("v0"))]))
            swap.replace(name, .txt, with: [.txt(TXT("v2"))], ttl: 60)
            swap.add(.txt("side.example.test.", TXT("must not appear")))
            await #expect(throws: DNSError.nxRRSet) { try await c.update(swap) }
            await #expect(throws: DNSError.nxDomain) { try await c.records("side.example.test.", type: .txt) }
            swap.prerequisites = [.rrsetEquals(name, .txt, [.txt(TXT("v1"))]), .rrsetExists(name, .txt), .nameInUse(name)]
            try await c.update(swap)
            #expect(try await c.records(name, type: .txt).map(\.rdata) == [.txt(TXT("v2"))])
            var notInUse = UpdateBuilder(zone: server.zone)
            notInUse.require(.nameNotInUse(name))
            await #expect(throws: DNSError.yxDomain) { try await c.update(notInUse) }
            var inUse = UpdateBuilder(zone: server.zone)
            inUse.require(.nameInUse("ghost.example.test."))
            await #expect(throws: DNSError.nxDomain) { try await c.update(inUse) }
            var outside = UpdateBuilder(zone: server.zone)
            outside.add(.txt("a.other.org.", TXT("x")))
            await #expect(throws: DNSError.notZone) { try await c.update(outside) }
            var wrongZone = UpdateBuilder(zone: "other.org.")
            wrongZone.add(.txt("a.other.org.", TXT("x")))
            await #expect(throws: DNSError.notAuth) { try await c.update(wrongZone) }
            // The serial moved once per successful UPDATE: create, swap, plus the side effects of none.
            let soa = try await c.query(server.zone, type: .soa).answers.first
            guard case .soa(let record)? = soa?.rdata else { Issue.record("no SOA"); return }
            #expect(record.serial == 3)
            await c.shutdown()
        }
    }

    @Test func aKeyLimitedToASubtreeWritesOnlyThere() async throws {
        let limited = TSIGKey.generate(name: "limited.")
        try await withEmbedded(configure: {
            $0.keys.append(limited)
            $0.updateSubtrees[limited.name] = ["_dnsstore.example.test."]
        }) { server in
            let c = try client(server, key: limited)
            var inside = UpdateBuilder(zone: server.zone)
            inside.add(.txt("x._dnsstore.example.test.", TXT("ok")))
            try await c.update(inside)
            var outside = UpdateBuilder(zone: server.zone)
            outside.add(.txt("www.example.test.", TXT("no")))
            await #expect(throws: DNSError.refused) { try await c.update(outside) }
            await c.shutdown()
        }
    }

    @Test func refusesAnRRsetLargerThanOneMessage() async throws {
        try await withEmbedded { server in
            let c = try client(server, key: server.key)
            let piece = TXT(strings: (0..<200).map { _ in [UInt8](repeating: 65, count: 250) })
            var first = UpdateBuilder(zone: server.zone)
            first.add(.txt("huge.example.test.", piece))
            try await c.update(first)
            var second = UpdateBuilder(zone: server.zone)
            second.add(.txt("huge.example.test.", TXT(strings: (0..<100).map { _ in [UInt8](repeating: 66, count: 250) })))
            await #expect(throws: DNSError.refused) { try await c.update(second) }
            #expect(try await c.records("huge.example.test.", type: .txt).count == 1)
            await c.shutdown()
        }
    }

    @Test func transfersSignedAXFRAndIXFR() async throws {
        try await withEmbedded { server in
            let c = try client(server, key: server.key)
            for batch in 0..<3 {
                var add = UpdateBuilder(zone: server.zone)
                for i in 0..<150 { add.add(.txt(try DNSName("r\(batch)-\(i).example.test."), TXT(String(repeating: "y", count: 150)))) }
                try await c.update(add)
            }
            let axfr = try await c.transfer(zone: server.zone)
            #expect(axfr.messageCount > 1)
            #expect(axfr.records.filter { $0.type == .txt }.count == 450)
            #expect(axfr.serial == 4)
            var change = UpdateBuilder(zone: server.zone)
            change.apply(.deleteName("r0-0.example.test."))
            change.add(.txt("fresh.example.test.", TXT("new")))
            try await c.update(change)
            let ixfr = try await c.transfer(zone: server.zone, fromSerial: 4)
            #expect(ixfr.isIncremental)
            #expect(ixfr.serial == 5)
            #expect(ixfr.records.count == 6)  // SOA 5, SOA 4, deleted, SOA 5, added, SOA 5
            let upToDate = try await c.transfer(zone: server.zone, fromSerial: 5)
            #expect(upToDate.records.count == 1)
            // Unsigned transfers are refused.
            await #expect(throws: DNSError.refused) { try await client(server, key: nil).transfer(zone: server.zone) }
            await c.shutdown()
        }
    }

    /// Secondaries told of a change together ask for the same IXFR: the journal is read for the
    /// first, the others get the same records from memory; the next change retires that answer.
    @Test func secondariesAskingForTheSameIXFRShareOneReadOfTheJournal() async throws {
        try await withEmbedded { server in
            let c = try client(server, key: server.key)
            let statistics = server.server.authority.statistics
            let start = try await c.serial(of: server.zone)
            var first = UpdateBuilder(zone: server.zone)
            first.add(.txt("a.example.test.", TXT("one")))
            try await c.update(first)
            _ = try await c.serial(of: server.zone)
            let before = statistics.transfersFromMemory.load(ordering: .relaxed)
            var answers: [[ResourceRecord]] = []
            for _ in 0..<6 {
                let ixfr = try await c.transfer(zone: server.zone, fromSerial: start)
                #expect(ixfr.isIncremental && ixfr.serial == start &+ 1)
                answers.append(ixfr.records)
            }
            #expect(statistics.transfersFromMemory.load(ordering: .relaxed) - before == 5)
            #expect(answers.allSatisfy { $0 == answers[0] } && answers[0].count == 5)  // SOA, SOA, SOA, added, SOA

            var second = UpdateBuilder(zone: server.zone)
            second.add(.txt("b.example.test.", TXT("two")))
            try await c.update(second)
            _ = try await c.serial(of: server.zone)
            let both = try await c.transfer(zone: server.zone, fromSerial: start)
            #expect(both.isIncremental && both.serial == start &+ 2)
            #expect(both.records.filter { $0.type == .txt }.count == 2)
            let again = try await c.transfer(zone: server.zone, fromSerial: start)
            #expect(again.records == both.records)
            #expect(statistics.transfersFromMemory.load(ordering: .relaxed) - before == 6)
            await c.shutdown()
        }
    }

    @Test func keepsAnsweringThroughABurstOfMalformedPackets() async throws {
        try await withEmbedded { server in
            // One attempt with a generous timeout: a valid query lost in the burst fails the test.
            var config = try DNSClientConfiguration(host: "127.0.0.1", port: server.port)
            config.attempts = 1
            config.timeout = .seconds(5)
            let c = DNSClient(configuration: config)
            let junk = try await DatagramBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
            let target = try SocketAddress(ipAddress: "127.0.0.1", port: server.port)
            var rng = SystemRandomNumberGenerator()
            let valid = try Message.query("a.example.test.", type: .txt).encode()
            var answered = 0
            for round in 0..<40 {
                for i in 0..<100 {
                    var bytes: [UInt8]
                    switch i % 5 {
                    case 0: bytes = Array(valid.readableBytesView.prefix(Int.random(in: 0..<valid.readableBytes, using: &rng)))
                    case 1: bytes = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xC0, 12, 0, 16, 0, 1]  // pointer loop
                    case 2: bytes = [0, 2, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0]  // counts past the end
                    case 3: bytes = [0, 3, 0x28, 0, 0, 1, 0, 0, 0, 0, 0, 0] + [UInt8](repeating: 0xFF, count: 40)  // UPDATE of junk
                    default: bytes = (0..<Int.random(in: 0..<600, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                    }
                    junk.write(AddressedEnvelope(remoteAddress: target, data: ByteBuffer(bytes: bytes)), promise: nil)
                }
                junk.flush()
                if round % 4 == 0 {
                    _ = try await c.query(server.zone, type: .soa)
                    answered += 1
                }
            }
            #expect(answered == 10)
            // TCP junk: a frame of garbage, then a valid query on a new connection still works.
            let raw = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).connect(host: "127.0.0.1", port: server.port).get()
            var frame = ByteBuffer()
            frame.writeInteger(UInt16(5))
            frame.writeBytes([1, 2, 3, 4, 5])
            frame.writeInteger(UInt16(60000))
            try await raw.writeAndFlush(frame)
            try await raw.close()
            #expect(try await client(server, key: nil, tcp: true).query(server.zone, type: .soa).answers.count == 1)
            try await junk.close()
            await c.shutdown()
        }
    }
}

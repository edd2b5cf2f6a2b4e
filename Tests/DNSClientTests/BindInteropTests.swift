import DNSClient
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// Our client against a real BIND 9 on loopback: what we write, dig reads; what nsupdate writes, we read.
@Suite("Client against BIND 9", .enabled(if: TestMode.externalServers))
struct BindInteropTests {
    static func client(_ bind: BindServer, key: TSIGKey? = nil, configure: (inout DNSClientConfiguration) -> Void = { _ in })
        throws -> DNSClient
    {
        var config = try DNSClientConfiguration(host: "127.0.0.1", port: bind.port, key: key ?? bind.key)
        config.timeout = .seconds(3)
        configure(&config)
        return DNSClient(configuration: config)
    }

    /// TXT RDATA of `name` as `dig +short` prints it, one line per record, sorted.
    static func dig(_ bind: BindServer, _ name: DNSName, tcp: Bool = false) async throws -> [String] {
        var args = ["@127.0.0.1", "-p", "\(bind.port)", "+short", "+norecurse", name.description, "TXT"]
        if tcp { args.append("+tcp") }
        let result = try await Subprocess.run("dig", args)
        guard result.status == 0 else { throw SubprocessError.failed("dig", result) }
        return result.stdout.split(separator: "\n").map(String.init).sorted()
    }

    @Test func addReplaceAndDeleteAsDigSees() async throws {
        try await BindServer.with { bind in
            let client = try Self.client(bind)
            defer { Task { await client.shutdown() } }
            let name: DNSName = "doc.example.test."
            let binary = TXT(strings: [[0, 1, 2, 34, 92, 255], Array("with space".utf8)])

            var add = UpdateBuilder(zone: bind.zone)
            add.add(.txt(name, TXT("first")))
            add.add(.txt(name, binary))
            try await client.update(add)
            await #expect(try Self.dig(bind, name) == [RData.txt(TXT("first")).presentation, RData.txt(binary).presentation].sorted())
            #expect(Set(try await client.records(name, type: .txt).map(\.rdata)) == [.txt(TXT("first")), .txt(binary)])

            var replace = UpdateBuilder(zone: bind.zone)
            replace.replace(name, .txt, with: [.txt(TXT("second"))], ttl: 60)
            try await client.update(replace)
            await #expect(try Self.dig(bind, name) == ["\"second\""])

            var deleteOne = UpdateBuilder(zone: bind.zone)
            deleteOne.add(.txt(name, TXT("third")))
            deleteOne.apply(.deleteRecord(name, .txt, .txt(TXT("second"))))
            try await client.update(deleteOne)
            await #expect(try Self.dig(bind, name) == ["\"third\""])

            var deleteName = UpdateBuilder(zone: bind.zone)
            deleteName.apply(.deleteName(name))
            try await client.update(deleteName)
            await #expect(try Self.dig(bind, name) == [])
            await #expect(throws: DNSError.nxDomain) { try await client.query(name, type: .txt) }
        }
    }

    @Test func readsWhatNsupdateWrote() async throws {
        try await BindServer.with { bind in
            let script = """
                server 127.0.0.1 \(bind.port)
                zone \(bind.zone)
                update add written.by.nsupdate.\(bind.zone) 120 TXT "hello" "world\\"quoted\\""
                send

                """
            let result = try await Subprocess.run("nsupdate", ["-k", bind.keyFile], input: script)
            #expect(result.status == 0, "\(result.stderr)")
            let client = try Self.client(bind)
            let records = try await client.records(try DNSName("written.by.nsupdate.\(bind.zone)"), type: .txt)
            #expect(records.map(\.rdata) == [.txt(TXT(strings: [Array("hello".utf8), Array("world\"quoted\"".utf8)]))])
            #expect(records.first?.ttl == 120)
            await client.shutdown()
        }
    }

    @Test func largeRRsetTravelsOverTCP() async throws {
        try await BindServer.with { bind in
            let client = try Self.client(bind)
            let name: DNSName = "big.example.test."
            // 255 strings of 250 octets: about 64 KB in one record, far past UDP's 1232.
            let strings = (0..<255).map { i in [UInt8](repeating: UInt8(i % 251), count: 250) }
            var add = UpdateBuilder(zone: bind.zone)
            add.add(.txt(name, TXT(strings: strings)))
            try await client.update(add)
            let records = try await client.records(name, type: .txt)
            #expect(records.count == 1)
            #expect(records.first?.rdata == .txt(TXT(strings: strings)))
            await #expect(try Self.dig(bind, name, tcp: true).first?.count ?? 0 > 64_000)
            await client.shutdown()
        }
    }

    @Test func createIfAbsentFailsTheSecondTime() async throws {
        try await BindServer.with { bind in
            let client = try Self.client(bind)
            let name: DNSName = "cas.example.test."
            var create = UpdateBuilder(zone: bind.zone)
            create.require(.rrsetDoesNotExist(name, .txt))
            create.add(.txt(name, TXT("v1")))
            try await client.update(create)
            await #expect(throws: DNSError.yxRRSet) { try await client.update(create) }
            await #expect(try Self.dig(bind, name) == ["\"v1\""])

            // A value-dependent prerequisite that does not match changes nothing.
            var swap = UpdateBuilder(zone: bind.zone)
            swap.require(.rrsetEquals(name, .txt, [.txt(TXT("v0"))]))
            swap.replace(name, .txt, with: [.txt(TXT("v2"))], ttl: 300)
            await #expect(throws: DNSError.nxRRSet) { try await client.update(swap) }
            await #expect(try Self.dig(bind, name) == ["\"v1\""])

            // The matching one swaps.
            swap.prerequisites = [.rrsetEquals(name, .txt, [.txt(TXT("v1"))])]
            try await client.update(swap)
            await #expect(try Self.dig(bind, name) == ["\"v2\""])

            // Name-level prerequisites.
            var nameFree = UpdateBuilder(zone: bind.zone)
            nameFree.require(.nameNotInUse(name))
            nameFree.add(.txt(name, TXT("never")))
            await #expect(throws: DNSError.yxDomain) { try await client.update(nameFree) }
            var nameUsed = UpdateBuilder(zone: bind.zone)
            nameUsed.require(.nameInUse("absent.example.test."))
            await #expect(throws: DNSError.nxDomain) { try await client.update(nameUsed) }
            var rrsetThere = UpdateBuilder(zone: bind.zone)
            rrsetThere.require(.rrsetExists("absent.example.test.", .txt))
            await #expect(throws: DNSError.nxRRSet) { try await client.update(rrsetThere) }
            await #expect(try Self.dig(bind, name) == ["\"v2\""])
            await client.shutdown()
        }
    }

    @Test func unsignedAndWronglySignedUpdatesAreRefused() async throws {
        try await BindServer.with { bind in
            let name: DNSName = "refused.example.test."
            var add = UpdateBuilder(zone: bind.zone)
            add.add(.txt(name, TXT("x")))

            var unsignedConfig = try DNSClientConfiguration(host: "127.0.0.1", port: bind.port)
            unsignedConfig.timeout = .seconds(3)
            let unsigned = DNSClient(configuration: unsignedConfig)
            await #expect(throws: DNSError.refused) { try await unsigned.update(add) }

            var wrongSecret = bind.key
            wrongSecret.secret = wrongSecret.secret.map { $0 ^ 0x5A }
            let forged = try Self.client(bind, key: wrongSecret)
            await #expect(throws: DNSError.tsig(.badSignature)) { try await forged.update(add) }

            let unknown = try Self.client(bind, key: try TSIGKey(name: "no-such-key.", algorithm: .hmacSHA256, secret: bind.key.secret))
            await #expect(throws: DNSError.tsig(.badKey)) { try await unknown.update(add) }

            await #expect(try Self.dig(bind, name) == [])

            // A clock an hour slow: BIND answers BADTIME, signed, with its time; the client signs
            // again with that time and the update lands.
            let skewed = try Self.client(bind) { $0.clock = { WallClock.seconds() - 3600 } }
            try await skewed.update(add)
            #expect(try await Self.dig(bind, name) == ["\"x\""])
        }
    }

    @Test func verifiesSignedAnswersAndTransfers() async throws {
        try await BindServer.with { bind in
            let client = try Self.client(bind)
            for batch in 0..<2 {
                var add = UpdateBuilder(zone: bind.zone)
                for i in (batch * 200)..<(batch * 200 + 200) {
                    add.add(.txt(try DNSName("r\(i).\(bind.zone)"), TXT(String(repeating: "x", count: 200))))
                }
                try await client.update(add)
            }
            // A signed query's answer is verified (a failure would throw).
            let soa = try await client.query(bind.zone, type: .soa)
            #expect(soa.tsig != nil)
            #expect(soa.answers.first?.type == .soa)

            // AXFR: over 80 KB, so several messages, each MAC chained from the one before.
            let axfr = try await client.transfer(zone: bind.zone)
            #expect(axfr.messageCount > 1)
            #expect(axfr.records.filter { $0.type == .txt }.count == 400)
            #expect(axfr.records.first?.type == .soa && axfr.records.last?.type == .soa)

            // IXFR from the serial before the update: differences only.
            var change = UpdateBuilder(zone: bind.zone)
            change.add(.txt("ixfr.example.test.", TXT("new")))
            try await client.update(change)
            let ixfr = try await client.transfer(zone: bind.zone, fromSerial: axfr.serial!)
            #expect(ixfr.isIncremental)
            #expect(ixfr.records.contains { $0.name == "ixfr.example.test." })
            #expect(ixfr.serial == axfr.serial! &+ 1)

            // A transfer checked with the wrong secret fails on the first MAC.
            var wrong = bind.key
            wrong.secret = wrong.secret.map { $0 ^ 1 }
            let forged = try Self.client(bind, key: wrong)
            await #expect(throws: DNSError.tsig(.badSignature)) { try await forged.transfer(zone: bind.zone) }
            await client.shutdown()
        }
    }

    @Test func pipelinesManyRequestsOverOneTCPConnection() async throws {
        try await BindServer.with { bind in
            let writer = try Self.client(bind)
            var add = UpdateBuilder(zone: bind.zone)
            for i in 0..<64 { add.add(.txt(try DNSName("p\(i).\(bind.zone)"), TXT("value \(i)"))) }
            try await writer.update(add)
            await writer.shutdown()
            // Reads, as a store's readers send them: unsigned, all in flight on one connection.
            var config = try DNSClientConfiguration(host: "127.0.0.1", port: bind.port)
            config.alwaysTCP = true
            let client = DNSClient(configuration: config)
            let values = try await withThrowingTaskGroup(of: (Int, [ResourceRecord]).self) { group in
                for i in 0..<64 {
                    group.addTask { (i, try await client.records(try DNSName("p\(i).\(bind.zone)"), type: .txt)) }
                }
                var all: [Int: [ResourceRecord]] = [:]
                for try await (i, records) in group { all[i] = records }
                return all
            }
            for i in 0..<64 {
                #expect(values[i]?.map(\.rdata) == [.txt(TXT("value \(i)"))])
            }
            await client.shutdown()
        }
    }

    @Test func failsOverToTheNextServer() async throws {
        try await BindServer.with { bind in
            // Nothing listens on the first port: ICMP unreachable, then the next server answers.
            var config = DNSClientConfiguration(
                servers: [
                    try .init(ipAddress: "127.0.0.1", port: Ports.free()),
                    try .init(ipAddress: "127.0.0.1", port: bind.port),
                ], key: bind.key)
            config.timeout = .milliseconds(500)
            let client = DNSClient(configuration: config)
            let answer = try await client.query(bind.zone, type: .soa)
            #expect(answer.answers.count == 1)
            await client.shutdown()
        }
    }
}

import DNSClient
import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import NIOCore
import Testing

/// `dnsstore serve --allow KEY=SUBTREE`: a key writes only inside its subtrees, however the names
/// are spelled on the wire.
@Suite("Per-key subtrees")
struct KeyPolicyTests {
    static let admin = TSIGKey.generate(name: "admin-key.")
    static let app = TSIGKey.generate(name: "app-key.")
    static let allow = ["app-key=app._dnsstore.example.test", "app-key=shared.example.test"]

    @Test func serveLimitsEachNamedKeyToItsSubtrees() async throws {
        let data = try TempDirectory.make("policy")
        defer { try? FileManager.default.removeItem(at: data) }
        for key in [Self.admin, Self.app] {
            try key.bindKeyFile.write(to: data.appendingPathComponent("\(key.name).key"), atomically: true, encoding: .utf8)
        }
        let port = Ports.free()
        var arguments = ["serve", "--data", data.path, "--zone", "example.test", "--listen", "127.0.0.1:\(port)",
                         "--key", data.appendingPathComponent("admin-key..key").path, "--key", data.appendingPathComponent("app-key..key").path]
        for rule in Self.allow { arguments += ["--allow", rule] }
        let server = try Subprocess.start(try BuiltProducts.executable("dnsstore"), arguments, logFile: data.appendingPathComponent("serve.log").path)
        defer {
            server.end(SIGTERM)
        }
        try await Ports.waitForTCP(port)

        func client(_ key: TSIGKey) throws -> DNSClient {
            DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port, key: key))
        }
        func add(_ name: String, by key: TSIGKey, requiring: String? = nil) async throws -> DNSError? {
            var update = UpdateBuilder(zone: "example.test.")
            if let requiring { update.require(.nameNotInUse(try DNSName(requiring))) }
            update.add(.txt(try DNSName(name), TXT("v")))
            let c = try client(key)
            defer { Task { await c.shutdown() } }
            do {
                try await c.update(update)
                return nil
            } catch let error as DNSError {
                return error
            }
        }
        #expect(try await add("doc.app._dnsstore.example.test", by: Self.app) == nil)
        #expect(try await add("app._dnsstore.example.test", by: Self.app) == nil)
        #expect(try await add("cfg.shared.example.test", by: Self.app) == nil)
        // The same names in other case are the same names.
        #expect(try await add("DOC2.App._DNSSTORE.Example.TEST", by: Self.app) == nil)
        // Outside, by a suffix that is not on a label boundary, or by an escaped dot: refused.
        #expect(try await add("www.example.test", by: Self.app) == .refused)
        #expect(try await add("evilapp._dnsstore.example.test", by: Self.app) == .refused)
        #expect(try await add(#"x.app\._dnsstore.example.test"#, by: Self.app) == .refused)
        #expect(try await add(#"app\._dnsstore.example.test"#, by: Self.app) == .refused)
        #expect(try await add("_dnsstore.example.test", by: Self.app) == .refused)
        // A prerequisite outside counts too.
        #expect(try await add("doc3.app._dnsstore.example.test", by: Self.app, requiring: "www.example.test") == .refused)
        // A key given no --allow writes anywhere in its zone.
        #expect(try await add("www.example.test", by: Self.admin) == nil)
    }

    /// A captured admin UPDATE sent again is not applied again: not after another key (limited
    /// to a subtree) sent 16,500 UPDATEs the server refused, nor after the server restarted.
    @Test func aCapturedUpdateIsNotAppliedAgainAfterAFloodFromAnotherKeyOrARestart() async throws {
        let data = try TempDirectory.make("replay")
        defer { try? FileManager.default.removeItem(at: data) }
        for key in [Self.admin, Self.app] {
            try key.bindKeyFile.write(to: data.appendingPathComponent("\(key.name).key"), atomically: true, encoding: .utf8)
        }
        let port = Ports.free()
        var arguments = ["serve", "--data", data.path, "--zone", "example.test", "--listen", "127.0.0.1:\(port)", "--log-level", "error",
                         "--key", data.appendingPathComponent("admin-key..key").path, "--key", data.appendingPathComponent("app-key..key").path]
        for rule in Self.allow { arguments += ["--allow", rule] }
        func start() async throws -> ChildProcess {
            let server = try Subprocess.start(try BuiltProducts.executable("dnsstore"), arguments, logFile: data.appendingPathComponent("serve.log").path)
            try await Ports.waitForTCP(port)
            return server
        }
        var server = try await start()
        defer { server.end(SIGTERM) }

        func signed(_ update: UpdateBuilder, by key: TSIGKey, id: UInt16) throws -> [UInt8] {
            RawDNS.framed(Array(try TSIGSigner.sign(try update.message(id: id).encode(), key: key, timeSigned: WallClock.seconds()).message.readableBytesView))
        }
        func exchange(_ framed: [UInt8]) throws -> Message {
            let connection = try #require(RawDNS.Connection(port: port, timeout: 5))
            #expect(connection.write(framed) == .written)
            return try Message(decoding: ByteBuffer(bytes: try #require(connection.readMessage())))
        }
        func value() async throws -> String {
            let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port))
            defer { Task { await client.shutdown() } }
            guard case .txt(let txt)? = try await client.records("x.example.test.", type: .txt).first?.rdata else { return "" }
            return String(decoding: txt.joined, as: UTF8.self)
        }
        func set(_ text: String) -> UpdateBuilder {
            var update = UpdateBuilder(zone: "example.test.")
            update.replace("x.example.test.", .txt, with: [.txt(TXT(text))], ttl: 30)
            return update
        }
        let captured = try signed(set("v1"), by: Self.admin, id: 1)
        #expect(try exchange(captured).rcode == .noError)
        #expect(try exchange(try signed(set("v2"), by: Self.admin, id: 2)).rcode == .noError)
        #expect(try await value() == "v2")

        // The limited key's refused UPDATEs, pipelined on one connection, each answered.
        let flood = try #require(RawDNS.Connection(port: port, timeout: 5))
        var outside = UpdateBuilder(zone: "example.test.")
        outside.add(.txt("www.example.test.", TXT("no")))
        var refused = 0
        for batch in 0..<33 {
            let requests = try (0..<500).map { try signed(outside, by: Self.app, id: UInt16(batch * 500 + $0)) }
            #expect(flood.write(requests.flatMap { $0 }) == .written)
            for _ in 0..<500 {
                let answer = try Message(decoding: ByteBuffer(bytes: try #require(flood.readMessage())))
                if answer.rcode == .refused { refused += 1 }
            }
        }
        #expect(refused == 16_500)
        let again = try exchange(captured)
        #expect(again.rcode == .noError, "the captured UPDATE is answered as it was the first time")
        #expect(try await value() == "v2", "the captured UPDATE was applied again after the flood")

        // A restart: the captured UPDATE was signed before this process started.
        server.end(SIGTERM)
        await server.exited()
        try await Task.sleep(for: .milliseconds(1100))
        server = try await start()
        let afterRestart = try exchange(captured)
        #expect(afterRestart.rcode == .notAuth && afterRestart.tsig?.error == .badTime, "\(afterRestart.rcode)")
        #expect(try await value() == "v2", "the captured UPDATE was applied again after a restart")
        // A client that signs now is not held up by the restart.
        let admin = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port, key: Self.admin))
        defer { Task { await admin.shutdown() } }
        try await admin.update(set("v3"))
        #expect(try await value() == "v3")
    }

    /// A client whose clock is off by more than the fudge gets a signed BADTIME with the
    /// server's time, signs again with it, and its UPDATE lands once.
    @Test func aClientWithALaggingClockSignsAgainWithTheServersTime() async throws {
        let server = try await EmbeddedServer.start()
        defer { Task { await server.stop() } }
        var configuration = try DNSClientConfiguration(host: "127.0.0.1", port: server.port, key: server.key)
        configuration.clock = { WallClock.seconds() - 3_600 }
        let client = DNSClient(configuration: configuration)
        defer { Task { await client.shutdown() } }
        var update = UpdateBuilder(zone: server.zone)
        update.add(.txt("late.example.test.", TXT("on time")))
        try await client.update(update)
        #expect(try await client.records("late.example.test.", type: .txt).count == 1)
    }

    @Test func compressionPointersCannotSmuggleANameOut() throws {
        let dir = try TempDirectory.make("policy")
        defer { try? FileManager.default.removeItem(at: dir) }
        var config = AuthorityConfiguration(zones: ["example.test."], keys: [Self.app])
        config.updateSubtrees[Self.app.name] = ["app._dnsstore.example.test."]
        let authority = try Authority(databasePath: dir.appendingPathComponent("zones.sqlite").path, configuration: config)

        // An UPDATE whose first record is y.app._dnsstore.example.test written out, and whose
        // second owner is the label x and a pointer into the first: to its `app` label (inside)
        // or to its `_dnsstore` label (outside).
        func update(pointingAt label: String) throws -> ByteBuffer {
            var bytes: [UInt8] = [0x12, 0x34, 0x28, 0x00, 0, 1, 0, 0, 0, 2, 0, 0]
            bytes += [7] + Array("example".utf8) + [4] + Array("test".utf8) + [0, 0, 6, 0, 1]
            let firstName = bytes.count
            let labels = ["y", "app", "_dnsstore"]
            for l in labels { bytes += [UInt8(l.utf8.count)] + Array(l.utf8) }
            bytes += [0xC0, 12]  // example.test, in the question
            let txt: [UInt8] = [0, 16, 0, 1, 0, 0, 0, 30, 0, 2, 1, UInt8(ascii: "v")]
            bytes += txt
            let target = firstName + (label == "app" ? 2 : 6)
            bytes += [1, UInt8(ascii: "x"), 0xC0, UInt8(target)]
            bytes += txt
            return try TSIGSigner.sign(ByteBuffer(bytes: bytes), key: Self.app, timeSigned: WallClock.seconds()).message
        }
        let inside = try Message(decoding: authority.handle(try update(pointingAt: "app"), over: .tcp)[0])
        #expect(inside.rcode == .noError)
        let outside = try Message(decoding: authority.handle(try update(pointingAt: "_dnsstore"), over: .tcp)[0])
        #expect(outside.rcode == .refused)
        let check = try Message(decoding: authority.handle(try Message.query("x._dnsstore.example.test.", type: .txt, id: 1).encode(), over: .tcp)[0])
        #expect(check.rcode == .nxDomain)
    }

    @Test func badAllowRulesAreRefusedAtStart() async throws {
        let data = try TempDirectory.make("policy")
        defer { try? FileManager.default.removeItem(at: data) }
        let keyFile = data.appendingPathComponent("app.key")
        try Self.app.bindKeyFile.write(to: keyFile, atomically: true, encoding: .utf8)
        let base = ["serve", "--data", data.path, "--zone", "example.test", "--listen", "127.0.0.1:\(Ports.free())", "--key", keyFile.path]
        let unknown = try await Subprocess.run(try BuiltProducts.executable("dnsstore"), base + ["--allow", "nobody=example.test"])
        #expect(unknown.status == 2 && unknown.stderr.contains("--allow names the key nobody., which no key file holds"))
        let outside = try await Subprocess.run(try BuiltProducts.executable("dnsstore"), base + ["--allow", "app-key=other.test"])
        #expect(outside.status == 2 && outside.stderr.contains("which is in no zone served"))
        let malformed = try await Subprocess.run(try BuiltProducts.executable("dnsstore"), base + ["--allow", "app-key"])
        #expect(malformed.status == 2 && malformed.stderr.contains("--allow takes KEY=SUBTREE"))
    }
}

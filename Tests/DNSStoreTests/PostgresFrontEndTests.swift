#if PostgreSQL
import DNSClient
import DNSServer
import DNSStore
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// Several `dnsstore serve` processes on one PostgreSQL database act as one primary: the race that
/// loses a quarter of the increments on two PowerDNS front ends loses none here.
@Suite("PostgreSQL front ends", .enabled(if: PostgresServer.isAvailable), .serialized)
struct PostgresFrontEndTests {
    static let zone: DNSName = "example.test."

    /// A `dnsstore serve --storage URL` in its own process, with the shared key.
    final class FrontEnd: @unchecked Sendable {
        let process: Process
        let port: Int
        let directory: URL

        init(storage: String, keyFile: String) async throws {
            directory = try TempDirectory.make("frontend")
            port = Ports.free()
            process = try Subprocess.start(
                try BuiltProducts.executable("dnsstore"),
                ["serve", "--data", directory.path, "--storage", storage, "--key", keyFile, "--zone", "example.test",
                 "--listen", "127.0.0.1:\(port)", "--log-level", "warning"],
                logFile: directory.appendingPathComponent("serve.log").path)
            do {
                try await Ports.waitForTCP(port)
            } catch {
                let log = (try? String(contentsOf: directory.appendingPathComponent("serve.log"), encoding: .utf8)) ?? ""
                stop()
                throw SubprocessError.notReady("dnsstore serve --storage: \(log)")
            }
        }

        func store(_ key: TSIGKey) throws -> (DNSStore, DNSClient) {
            var config = try DNSClientConfiguration(host: "127.0.0.1", port: port, key: key)
            config.timeout = .seconds(5)
            let client = DNSClient(configuration: config)
            return (try DNSStore(configuration: StoreConfiguration(domain: PostgresFrontEndTests.zone), transport: client), client)
        }

        func stop() {
            if process.isRunning {
                kill(process.processIdentifier, SIGTERM)
                process.waitUntilExit()
            }
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// Two front ends and their key, on a new PostgreSQL cluster.
    static func withFrontEnds(_ body: (FrontEnd, FrontEnd, TSIGKey) async throws -> Void) async throws {
        let postgres = try await PostgresServer.start()
        defer { postgres.stop() }
        let keyFile = postgres.directory.appendingPathComponent("shared.key").path
        let keygen = try Subprocess.run(try BuiltProducts.executable("dnsstore"), ["keygen", "shared-key", "--output", keyFile])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let key = try TSIGKey.parseBINDKeyFile(try String(contentsOfFile: keyFile, encoding: .utf8))[0]
        let a = try await FrontEnd(storage: postgres.url, keyFile: keyFile)
        defer { a.stop() }
        let b = try await FrontEnd(storage: postgres.url, keyFile: keyFile)
        defer { b.stop() }
        let (store, client) = try a.store(key)
        try await store.initialize()
        _ = try await store.createDatabase("db").createCollection("c")
        await client.shutdown()
        try await body(a, b, key)
    }

    @Test func compareAndSwapIncrementsSplitAcrossFrontEndsAreNeverLost() async throws {
        try await Self.withFrontEnds { a, b, key in
            let (setup, setupClient) = try a.store(key)
            _ = try await setup.database("db").collection("c").putJSON("counter", Array(#"{"n":0}"#.utf8))
            await setupClient.shutdown()
            let startSerial = try await serial(at: a.port)

            // Four workers, two on each front end, 25 successful compare-and-swap increments each.
            let conflicts = try await withThrowingTaskGroup(of: Int.self) { group in
                for worker in 0..<4 {
                    let frontEnd = worker % 2 == 0 ? a : b
                    group.addTask {
                        let (store, client) = try frontEnd.store(key)
                        defer { Task { await client.shutdown() } }
                        let docs = store.database("db").collection("c")
                        var conflicts = 0
                        for _ in 0..<25 {
                            while true {
                                let doc = try #require(try await docs.get("counter"))
                                let n = try #require((doc.jsonObject as? [String: Any])?["n"] as? Int)
                                do {
                                    _ = try await docs.updateJSON("counter", Array(#"{"n":\#(n + 1)}"#.utf8), ifVersion: doc.version)
                                    break
                                } catch StoreError.conflict {
                                    conflicts += 1
                                }
                            }
                        }
                        return conflicts
                    }
                }
                return try await group.reduce(0, +)
            }
            // Both front ends read the same final count.
            for frontEnd in [a, b] {
                let (store, client) = try frontEnd.store(key)
                let doc = try #require(try await store.database("db").collection("c").get("counter"))
                #expect(String(decoding: doc.json, as: UTF8.self) == #"{"n":100}"#)
                #expect(doc.version == 101)
                await client.shutdown()
            }
            #expect(conflicts > 0, "the workers never raced: the test proves nothing")

            // One serial per committed UPDATE, no gaps or repeats, the same journal behind both.
            let endSerial = try await serial(at: b.port)
            #expect(endSerial == startSerial + 100)
            #expect(try await serial(at: a.port) == endSerial)
            for frontEnd in [a, b] {
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
                #expect(steps.count == 200)
                for (i, pair) in stride(from: 0, to: steps.count - 1, by: 2).map({ (steps[$0], steps[$0 + 1]) }).enumerated() {
                    #expect(pair.0 == startSerial + UInt32(i) && pair.1 == pair.0 + 1)
                }
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

    private func serial(at port: Int) async throws -> UInt32 {
        let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port))
        defer { Task { await client.shutdown() } }
        return try await client.serial(of: PostgresFrontEndTests.zone)
    }
}
#endif

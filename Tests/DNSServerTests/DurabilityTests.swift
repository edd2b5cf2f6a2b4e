import DNSClient
import DNSServer
import DNSStore
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// `dnsstore serve` as a separate process, killed with SIGKILL mid-load, and data directories
/// shared by several servers.
@Suite("Durability")
struct DurabilityTests {
    /// Starts `dnsstore serve` on `port` over `data`; returns the process.
    static func serve(data: URL, port: Int) async throws -> ChildProcess {
        let binary = try BuiltProducts.executable("dnsstore")
        let process = try Subprocess.start(
            binary, ["serve", "--data", data.path, "--zone", "example.test", "--listen", "127.0.0.1:\(port)"],
            logFile: data.appendingPathComponent("serve-\(port)-\(UUID().uuidString.prefix(4)).log").path)
        try await Ports.waitForTCP(port)
        return process
    }

    static func store(port: Int, keyFile: URL) throws -> DocumentStore {
        let key = try TSIGKey.parseBINDKeyFile(try String(contentsOf: keyFile, encoding: .utf8))[0]
        var config = try DNSClientConfiguration(host: "127.0.0.1", port: port, key: key)
        // Long enough that a write on a loaded machine is answered rather than abandoned: an
        // abandoned write proves nothing, and too few answered ones leave nothing to check.
        config.timeout = .seconds(5)
        config.attempts = 1
        return try DocumentStore(configuration: StoreConfiguration(domain: "example.test."), transport: DNSClient(configuration: config))
    }

    @Test func everyAcknowledgedWriteSurvivesKillDashNine() async throws {
        let data = try TempDirectory.make("durable")
        defer { try? FileManager.default.removeItem(at: data) }
        let port = Ports.free()
        let server = try await Self.serve(data: data, port: port)
        let keyFile = data.appendingPathComponent("tsig.key")
        let docs = try await Self.store(port: port, keyFile: keyFile).createDatabase("d").createCollection("docs")

        // Writers put documents (small and chunked) as fast as they can; each records what was acknowledged.
        let acknowledged = Acknowledged()
        let writers = Task {
            await withTaskGroup(of: Void.self) { group in
                for w in 0..<4 {
                    group.addTask {
                        for i in 0..<10_000 where !acknowledged.stopped {
                            let id = "w\(w)-\(i % 25)"
                            let size = i % 10 == 0 ? 70_000 : 300
                            let body = Array(("\"" + String(repeating: Character(Unicode.Scalar(UInt8(97 + i % 26))), count: size) + "\"").utf8)
                            do {
                                let version = try await docs.putJSON(id, body)
                                acknowledged.record(id, version)
                            } catch {
                                continue  // not acknowledged: no promise to keep
                            }
                        }
                    }
                }
            }
        }
        // Kill mid-load once enough writes are acknowledged (however slow the machine is).
        let deadline = ContinuousClock.now + .seconds(180)
        while acknowledged.count < 40 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        server.signal(SIGKILL)
        acknowledged.stop()
        await server.exited()
        await writers.value
        let expected = acknowledged.all
        #expect(acknowledged.count >= 10, "too few writes acknowledged to test anything")

        let restarted = try await Self.serve(data: data, port: port)
        defer {
            restarted.end(SIGTERM)
        }
        let reader = try Self.store(port: port, keyFile: keyFile).database("d").collection("docs")
        for (id, version) in expected {
            // Every acknowledged write is there (a later unacknowledged one may be too), and whole.
            let document = try await reader.get(id)
            #expect(document != nil, "\(id) lost")
            #expect((document?.version ?? 0) >= version, "\(id) went back from version \(version)")
            if let text = document?.json.dropFirst().dropLast() {
                #expect(Set(text).count == 1, "\(id) is torn")
            }
        }
        // The index agrees with the records.
        #expect(Set(try await reader.ids()).isSuperset(of: expected.keys))
    }

    @Test func twoServersOnOneDataDirectoryLoseNothing() async throws {
        let data = try TempDirectory.make("shared")
        defer { try? FileManager.default.removeItem(at: data) }
        let portA = Ports.free()
        let a = try await Self.serve(data: data, port: portA)
        let portB = Ports.free()
        let b = try await Self.serve(data: data, port: portB)
        defer {
            for p in [a, b] {
                p.end(SIGTERM)
            }
        }
        let keyFile = data.appendingPathComponent("tsig.key")
        let storeA = try Self.store(port: portA, keyFile: keyFile)
        try await storeA.createDatabase("d").createCollection("c")
        try await storeA.database("d").collection("c").insert("counter", ["n": 0])
        // Both processes take increments through compare-and-swap; none may be lost.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for port in [portA, portB, portA, portB] {
                let collection = try Self.store(port: port, keyFile: keyFile).database("d").collection("c")
                group.addTask {
                    for _ in 0..<25 {
                        try await collection.modify("counter", as: [String: Int].self) { $0["n", default: 0] += 1 }
                    }
                }
            }
            try await group.waitForAll()
        }
        for port in [portA, portB] {
            let value = try await Self.store(port: port, keyFile: keyFile).database("d").collection("c").get("counter", as: [String: Int].self)
            #expect(value?.value["n"] == 100)
        }
    }
}

/// Versions the server acknowledged, by document id.
final class Acknowledged: Sendable {
    private let state = Locked<(versions: [String: Int], count: Int, stopped: Bool)>(([:], 0, false))
    func record(_ id: String, _ version: Int) {
        state.withLock {
            $0.versions[id] = max($0.versions[id] ?? 0, version)
            $0.count += 1
        }
    }
    var all: [String: Int] { state.withLock { $0.versions } }
    var count: Int { state.withLock { $0.count } }
    var stopped: Bool { state.withLock { $0.stopped } }
    func stop() { state.withLock { $0.stopped = true } }
}

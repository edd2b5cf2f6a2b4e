import DNSClient
import DNSTestSupport
import DNSWire
import Foundation
import Synchronization
import Testing

/// `dnsstore serve --fsync` killed with SIGKILL while sixteen writers keep its group commit busy:
/// UPDATEs that arrive during a commit go to storage together in the next one, so each kill
/// lands with a group being written and more waiting.
@Suite("Group commit under kill -9")
struct GroupCommitKillTests {
    /// What the writers were told, by UPDATE (writer and number).
    final class Outcomes: Sendable {
        private struct State {
            var applied: Set<String> = []
            var refused: Set<String> = []
            var stopped = false
        }
        private let state = Mutex(State())
        /// UPDATEs sent and not yet answered (nor failed).
        let inFlight = Atomic<Int>(0)

        func applied(_ id: String) { state.withLock { _ = $0.applied.insert(id) } }
        func refused(_ id: String) { state.withLock { _ = $0.refused.insert(id) } }
        func stop() { state.withLock { $0.stopped = true } }
        var stopped: Bool { state.withLock { $0.stopped } }
        var appliedCount: Int { state.withLock { $0.applied.count } }
        var all: (applied: Set<String>, refused: Set<String>) { state.withLock { ($0.applied, $0.refused) } }
    }

    static func serve(_ data: URL, port: Int, metricsPort: Int) async throws -> ChildProcess {
        let process = try Subprocess.start(
            try BuiltProducts.executable("dnsstore"),
            ["serve", "--data", data.path, "--zone", "example.test", "--listen", "127.0.0.1:\(port)", "--fsync",
             "--metrics", "127.0.0.1:\(metricsPort)", "--log-level", "warning"],
            logFile: data.appendingPathComponent("serve-\(UUID().uuidString.prefix(4)).log").path)
        do {
            try await Ports.waitForTCP(port)
            try await Ports.waitForTCP(metricsPort)
            return process
        } catch {
            process.end(SIGKILL)
            throw error
        }
    }

    /// UPDATEs applied, and storage transactions that wrote them, since the server started.
    static func appliedAndCommits(metricsPort: Int) async throws -> (applied: Double, commits: Double) {
        let samples = MetricsTests.samples(try await HTTP.get("http://127.0.0.1:\(metricsPort)/metrics").body)
        func value(_ name: String, _ label: (String, String)) -> Double {
            samples.first { $0.name == name && $0.labels[label.0] == label.1 }?.value ?? 0
        }
        return (value("dnsstore_updates_total", ("outcome", "applied")),
                value("dnsstore_storage_duration_seconds_count", ("operation", "commit")))
    }

    /// One UPDATE: both names of pair `id` added at once, on condition that the first is absent;
    /// every seventh also requires a name that never exists, so that it fails in its group.
    static func update(_ id: String, failing: Bool) -> UpdateBuilder {
        var update = UpdateBuilder(zone: "example.test.")
        let a = try! DNSName("a-\(id).example.test."), b = try! DNSName("b-\(id).example.test.")
        update.require(.nameNotInUse(a))
        if failing { update.require(.nameInUse(try! DNSName("never-\(id).example.test."))) }
        update.add(.txt(a, TXT(id)))
        update.add(.txt(b, TXT(id)))
        return update
    }

    @Test func killedMidGroupLosesNoAcknowledgedUpdateAndLeavesNoPartialGroup() async throws {
        let data = try TempDirectory.make("groupkill")
        defer { try? FileManager.default.removeItem(at: data) }
        let (port, metricsPort) = (Ports.free(), Ports.free())
        var server = try await Self.serve(data, port: port, metricsPort: metricsPort)
        defer { server.end(SIGKILL) }
        let key = try TSIGKey(contentsOfFile: data.appendingPathComponent("tsig.key").path)
        func client() throws -> DNSClient {
            var config = try DNSClientConfiguration(host: "127.0.0.1", port: port, key: key)
            config.timeout = .seconds(5)
            config.attempts = 1
            return DNSClient(configuration: config)
        }
        let reader = try client()
        defer { Task { await reader.shutdown() } }
        guard case .soa(let start)? = try await reader.query("example.test.", type: .soa).answers.first?.rdata else {
            Issue.record("no SOA")
            return
        }

        let outcomes = Outcomes()
        let writers = Task {
            await withTaskGroup(of: Void.self) { group in
                for w in 0..<16 {
                    group.addTask {
                        guard let writer = try? client() else { return }
                        defer { Task { await writer.shutdown() } }
                        var i = 0
                        while !outcomes.stopped {
                            i += 1
                            let id = "w\(w)-\(i)"
                            outcomes.inFlight.add(1, ordering: .relaxed)
                            let answer = try? await writer.send(Self.update(id, failing: i % 7 == 3).message())
                            outcomes.inFlight.subtract(1, ordering: .relaxed)
                            switch answer?.rcode {
                            case .noError?: outcomes.applied(id)
                            case .nxDomain?: outcomes.refused(id)
                            case .some(let rcode): Issue.record("\(id): \(rcode)")
                            case nil: try? await Task.sleep(for: .milliseconds(20))  // no answer: the server is down
                            }
                        }
                    }
                }
            }
        }

        // Three kills, each once 150 more UPDATEs were acknowledged by the server then running.
        var applied = 0.0, commits = 0.0, inFlightAtKill: [Int] = []
        for _ in 0..<3 {
            let target = outcomes.appliedCount + 150
            let deadline = ContinuousClock.now + .seconds(120)
            while outcomes.appliedCount < target && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            let counted = try await Self.appliedAndCommits(metricsPort: metricsPort)
            applied += counted.applied
            commits += counted.commits
            inFlightAtKill.append(outcomes.inFlight.load(ordering: .relaxed))
            server.signal(SIGKILL)
            await server.exited()
            server = try await Self.serve(data, port: port, metricsPort: metricsPort)
        }
        outcomes.stop()
        await writers.value
        let (acknowledged, refused) = outcomes.all
        #expect(acknowledged.count >= 450, "too few UPDATEs acknowledged to test anything")
        // Groups were being committed: fewer transactions than UPDATEs, and several in flight at each kill.
        #expect(commits < applied * 0.9, "\(commits) commits for \(applied) UPDATEs: no groups formed")
        #expect(inFlightAtKill.allSatisfy { $0 >= 2 }, "in flight at the kills: \(inFlightAtKill)")

        // The zone after the last restart: every acknowledged UPDATE whole, no refused one, no half of any.
        var texts: [DNSName: String] = [:]
        for record in try await reader.transfer(zone: "example.test.").records {
            if case .txt(let txt) = record.rdata { texts[record.name] = txt.strings.map { String(decoding: $0, as: UTF8.self) }.joined() }
        }
        func pairs(_ prefix: String) -> Set<String> {
            Set(texts.keys.compactMap { name in
                let label = name.labels.first.map { String(decoding: $0, as: UTF8.self) } ?? ""
                return label.hasPrefix(prefix) ? String(label.dropFirst(prefix.count)) : nil
            })
        }
        let (firsts, seconds) = (pairs("a-"), pairs("b-"))
        #expect(firsts == seconds, "UPDATEs half applied: \(firsts.symmetricDifference(seconds).sorted().prefix(10))")
        #expect(acknowledged.isSubset(of: firsts), "acknowledged and lost: \(acknowledged.subtracting(firsts).sorted().prefix(10))")
        #expect(refused.isDisjoint(with: firsts), "refused and stored: \(refused.intersection(firsts).sorted().prefix(10))")
        for id in firsts.prefix(50) { #expect(texts[try DNSName("a-\(id).example.test.")] == id) }

        // The journal agrees with the records: from the first serial, one step per UPDATE stored,
        // serials chained without a gap, each step adding its pair and nothing else.
        let ixfr = try await reader.transfer(zone: "example.test.", fromSerial: start.serial)
        #expect(ixfr.isIncremental)
        var expected = start.serial
        var stepPairs: [String] = []
        var index = 1
        let records = ixfr.records
        while index < records.count - 1 {
            guard case .soa(let from) = records[index].rdata, from.serial == expected else {
                Issue.record("step \(stepPairs.count + 1) does not start at serial \(expected)")
                break
            }
            index += 1
            // Deleted records, none expected, up to the step's new SOA.
            while index < records.count, records[index].type != .soa {
                Issue.record("step from \(from.serial) deletes \(records[index].name)")
                index += 1
            }
            guard index < records.count, case .soa(let to) = records[index].rdata else { break }
            expected = to.serial
            index += 1
            var added: [DNSName] = []
            while index < records.count - 1, records[index].type != .soa {
                added.append(records[index].name)
                index += 1
            }
            let labels = Set(added.map { String(decoding: $0.labels[0], as: UTF8.self).dropFirst(2) })
            #expect(added.count == 2 && labels.count == 1, "step to \(to.serial) adds \(added)")
            stepPairs += labels.map { String($0) }
        }
        #expect(ixfr.serial == expected)
        #expect(Set(stepPairs) == firsts && stepPairs.count == firsts.count, "\(stepPairs.count) steps for \(firsts.count) UPDATEs stored")

        // The file itself is sound.
        server.end(SIGTERM)
        await server.exited()
        let check = try await Subprocess.run(try BuiltProducts.executable("dnsstore"), ["serve", "--data", data.path, "--check"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
    }
}

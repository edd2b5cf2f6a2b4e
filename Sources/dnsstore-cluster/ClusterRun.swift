import DNSStoreHistory
import DNSTestSupport
import DNSWire
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// One run: the cluster started, the keys created, the clients and watches started, the faults of
/// `FaultPlan` applied in turn (`rounds` times), everything left to settle, the final values
/// read, the history checked and the figures printed.
struct ClusterRun {
    let network: TestNetwork
    let folder: URL
    let binary: String
    let rounds: Int

    func run() async throws -> Int32 {
        let cluster = try Cluster(network: network, folder: folder, binary: binary)
        var watches: [ChildProcess] = []
        do {
            let status = try await run(cluster, watches: &watches)
            for process in watches { process.signal(SIGKILL) }
            await cluster.stop()
            return status
        } catch {
            for process in watches { process.signal(SIGKILL) }
            await cluster.stop()
            throw error
        }
    }

    private func run(_ cluster: Cluster, watches started: inout [ChildProcess]) async throws -> Int32 {
        say("starting: our primary, BIND and Knot secondaries, PostgreSQL and two front ends, on \(Cluster.hostNames.count) hosts")
        try await cluster.start()
        let recorder = Recorder()
        let workload = Workload(recorder: recorder)

        // The shells: per client, an incrementer at latest and one at session on a.test, a reader
        // at any on a.test, and an incrementer on b.test.
        var shells: [(ShellClient, String, String)] = []
        for client in Cluster.clients {
            for (role, store) in [("latest", "a"), ("session", "a"), ("any", "a"), ("latest", "b")] {
                let flags = store == "a" ? cluster.flagsA(role) : cluster.flagsB()
                let shell = try ShellClient(name: "\(client)/\(store)-\(role)", host: network[client], binary: binary, arguments: flags, folder: folder)
                shells.append((shell, store, role))
            }
        }
        defer { for (shell, _, _) in shells { shell.stop() } }
        let firstA = shells.first { $0.1 == "a" }!.0
        let firstB = shells.first { $0.1 == "b" }!.0
        for shell in [firstA, firstB] {
            guard let made = await shell.request("collection create cl/counters"), made.ok else { throw ClusterError("\(shell.name) could not create cl/counters") }
        }
        // Watches, from before the keys exist: on the primary and on the BIND secondary, printing to files.
        let watches = try ["p1", "b1"].map { server -> (String, ChildProcess, String) in
            let path = folder.appendingPathComponent("watch-\(server).jsonl").path
            let process = try network["c1"].start(
                binary,
                ["watch", "cl/counters", "--server", "\(cluster.address(server)):53", "--domain", "a.test", "--key", cluster.keyFile,
                 "--interval", "0.2", "--timeout", "1"],
                logFile: path)
            started.append(process)
            return (server, process, path)
        }
        for (server, _, path) in watches {
            let ready = try await Poll.until(within: .seconds(20)) { ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").contains("watching") }
            guard ready else { throw ClusterError("the watch on \(server) did not start") }
        }
        try await workload.create(firstA, store: "a")
        try await workload.create(firstB, store: "b")

        let plan = FaultPlan(cluster: cluster, recorder: recorder)
        let length = plan.length * Double(rounds) + 5
        say("running \(shells.count) clients for \(Int(length)) s with faults (\(rounds) round\(rounds == 1 ? "" : "s"))")
        _ = await withTaskGroup(of: [String].self) { group -> [String] in
            for (shell, store, role) in shells {
                group.addTask {
                    await workload.run(shell, store: store, role: role, until: length)
                    return []
                }
            }
            group.addTask {
                var lines: [String] = []
                for round in 0..<rounds { lines += await plan.apply(startingAt: 2 + Double(round) * plan.length) }
                return lines
            }
            var all: [String] = []
            for await lines in group { all += lines }
            return all
        }

        // Settle: the secondaries reach the primary's serial, the watches have read it.
        let settleStart = recorder.now()
        let target = await cluster.serial(of: "a.test", on: "p1")
        var settled: [String] = []
        for server in ["b1", "k1"] {
            let caughtUp = try await Poll.until(within: .seconds(70), every: .milliseconds(200)) {
                guard let target, let serial = await cluster.serial(of: "a.test", on: server) else { return false }
                return serial >= target
            }
            settled.append("\(server) \(caughtUp ? String(format: "at the primary's serial %.1f s after the clients stopped", recorder.now() - settleStart) : "NOT at the primary's serial after 70 s")")
        }
        try await Task.sleep(for: .seconds(2))
        for (_, process, _) in watches { process.signal(SIGTERM) }

        // The final values, read from the primaries.
        var finals: [String: (version: Int, value: Int)] = [:]
        for (store, shell) in [("a", shells.first { $0.1 == "a" && $0.2 == "latest" }!.0), ("b", shells.first { $0.1 == "b" }!.0)] {
            for key in Workload.documentKeys {
                if let read = await workload.read(shell, store: store, key: key, consistency: "latest") { finals["\(store)/\(key)"] = read }
            }
        }

        var watchEvents: [String: [WatchEvent]] = [:]
        for (server, _, path) in watches {
            watchEvents["watch on \(server)"] = Self.watchEvents(path, recorder: recorder)
        }
        var check = HistoryCheck(operations: recorder.operations, watches: watchEvents, finalValues: finals)
        check.watchesSeeCreation = true
        try Self.save(check, to: folder)
        let anomalies = check.anomalies()
        let figures = check.figures()
        say("")
        say("operations: \(figures.operations), outcome unknown: \(figures.ambiguous)")
        for (kind, count) in figures.byKind.sorted(by: { $0.key < $1.key }) { say("  \(kind): \(count)") }
        say("any reads: \(figures.anyReads), stale: \(figures.staleAnyReads), longest behind: \(String(format: "%.2f", figures.longestStaleness)) s")
        for (name, events) in watchEvents.sorted(by: { $0.key < $1.key }) { say("\(name): \(events.count) changes") }
        for line in settled { say(line) }
        for (key, final) in finals.sorted(by: { $0.key < $1.key }) {
            let ops = recorder.operations.filter { $0.key == key && $0.kind == .cas }
            say("\(key): value \(final.value) at version \(final.version); increments acknowledged \(ops.filter { $0.outcome == .ok }.count), unknown \(ops.filter { $0.outcome == .unknown }.count)")
        }
        let unexpected = recorder.unexpectedAnswers
        for line in unexpected.prefix(20) { say("unexpected: \(line)") }
        for anomaly in anomalies.prefix(20) { say("ANOMALY: \(anomaly)") }
        let failed = !anomalies.isEmpty || !unexpected.isEmpty || finals.count != 2 * Workload.documentKeys.count
        say(failed ? "FAILED: \(anomalies.count) anomalies, \(unexpected.count) unexpected answers" : "passed: no anomaly")
        return failed ? 1 : 0
    }

    /// The changes a watch printed: `{"op","path","version",...}` lines of `cl/counters/KEY`.
    static func watchEvents(_ path: String, recorder: Recorder) -> [WatchEvent] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let path = object["path"] as? String, let version = object["version"] as? Int
            else { return nil }
            let id = path.split(separator: "/").last.map(String.init) ?? path
            return WatchEvent(key: "a/\(id)", version: version, deleted: object["op"] as? String == "delete", at: 0)
        }
    }

    static func save(_ check: HistoryCheck, to folder: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try encoder.encode(check.operations).write(to: folder.appendingPathComponent("history.json"))
    }
}

import DNSClient
import DNSStore
import DNSTestSupport
import DNSWire
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `dnsstore-bench fanout`: one primary (ours, then BIND 9 in the same run shape) feeding 10, 30
/// and 60 Knot secondaries on loopback. A zone of 1,000 names of about 330 octets; writes at
/// 20 a second, a burst of 200, then a third of the secondaries stopped (SIGSTOP) while writes
/// go on, and resumed. Each secondary's serial is read every 20 ms (a NOTIFY from the secondary
/// would be quicker, but `block-notify-after-transfer` turns those off): a write's lag on a
/// secondary is the time from the write's acknowledgement to the first time that secondary is
/// seen at its serial, to within those 20 ms.
func runFanout() async throws {
    let sizes = smoke ? [2] : options.secondaries
    let seconds = smoke ? 0.5 : max(options.seconds, 10)
    print("Fan-out: Knot 3.2 secondaries of one primary on loopback (block-notify-after-transfer on), 1,000 names of ~330 octets;")
    print("\(String(format: "%.1f", seconds)) s of writes at 20/s, a burst of \(smoke ? 20 : 200), then a third of the secondaries stopped for as long; each secondary's serial read every 20 ms")
    print("| primary | secondaries | lag at 20/s, median / p99 / max, ms | behind 5 s after the burst; all current after, s | running ones' lag median / p99 / max while a third are stopped, ms | stopped ones current after resuming, s | whole-zone transfers after start | primary CPU per write, ms |")
    print("|---|---|---|---|---|---|---|---|")
    for count in sizes {
        for primary in ["DNSStore", "BIND 9"] {
            let row = try await FanoutRun(primaryName: primary, count: count, seconds: seconds, burst: smoke ? 20 : 200).run()
            print(row)
        }
    }
}

/// One primary with `count` secondaries, measured as `runFanout` says.
private struct FanoutRun {
    let primaryName: String
    let count: Int
    let seconds: Double
    let burst: Int
    let zone: DNSName = "example.test."

    /// What the readers saw: per secondary, its serials in order with when each was first seen.
    final class Sightings: Sendable {
        private let seen: Locked<[[(serial: UInt32, at: ContinuousClock.Instant)]]>

        init(_ count: Int) { seen = Locked(Array(repeating: [], count: count)) }

        func saw(_ secondary: Int, _ serial: UInt32) {
            seen.withLock { seen in
                if let last = seen[secondary].last, last.serial >= serial { return }
                seen[secondary].append((serial, .now))
            }
        }

        /// When `secondary` was first seen at `serial` or later.
        func reached(_ secondary: Int, _ serial: UInt32) -> ContinuousClock.Instant? {
            seen.withLock { $0[secondary].first { $0.serial >= serial }?.at }
        }

        func latest(_ secondary: Int) -> UInt32 { seen.withLock { $0[secondary].last?.serial ?? 0 } }
    }

    func run() async throws -> String {
        let ports = (0..<count).map { _ in Ports.free() }
        let primary: ServerUnderTest
        if primaryName == "BIND 9" {
            let bind = try await BindServer.start(zone: zone, notify: ports)
            primary = ServerUnderTest(name: primaryName, port: bind.port, key: bind.key, pid: bind.pid, stop: { bind.stop() })
        } else {
            primary = try await startServer(primaryName, zone: zone, notify: ports)
        }
        var secondaries: [SecondaryServer] = []
        var followers: [Task<Void, Never>] = []
        defer {
            for follower in followers { follower.cancel() }
            for secondary in secondaries { secondary.resume(); secondary.stop() }
        }
        var writerConfig = try DNSClientConfiguration(host: "127.0.0.1", port: primary.port, key: primary.key)
        writerConfig.timeout = .seconds(5)
        let writer = DNSClient(configuration: writerConfig)
        do {
            // The zone, before any secondary starts: each then takes it whole once.
            for batch in 0..<20 {
                var update = UpdateBuilder(zone: zone)
                for i in 0..<50 {
                    let text = String((0..<300).map { _ in "abcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
                    update.add(.txt(try DNSName("n\(batch * 50 + i).\(zone)"), TXT(text)))
                }
                try await writer.update(update)
            }
            secondaries = try await withThrowingTaskGroup(of: (Int, SecondaryServer).self) { group in
                for i in 0..<count {
                    let (port, zone, primaryPort, key) = (ports[i], zone, primary.port, primary.key)
                    group.addTask {
                        (i, try await SecondaryServer.start(.knot, port: port, zone: zone, primaryPort: primaryPort, key: key))
                    }
                }
                var all: [Int: SecondaryServer] = [:]
                for try await (i, secondary) in group { all[i] = secondary }
                return (0..<count).map { all[$0]! }
            }
            let sightings = Sightings(count)
            for i in 0..<count {
                let (port, zone) = (ports[i], zone)
                followers.append(Task {
                    var config = try! DNSClientConfiguration(host: "127.0.0.1", port: port)
                    config.timeout = .milliseconds(500)
                    config.attempts = 1
                    let reader = DNSClient(configuration: config)
                    while !Task.isCancelled {
                        if let serial = try? await reader.serial(of: zone) { sightings.saw(i, serial) }
                        try? await Task.sleep(for: .milliseconds(20))
                    }
                    await reader.shutdown()
                })
            }
            let start = try await writer.serial(of: zone)
            guard await allReach(start, sightings, within: .seconds(60)) else { return "| \(primaryName) | \(count) | secondaries did not load the zone within 60 s |" }
            let transfersAtStart = secondaries.map(Self.wholeZoneTransfers)

            // Steady writes at 20 a second.
            var serial = start
            var acknowledged: [(serial: UInt32, at: ContinuousClock.Instant)] = []
            let cpuBefore = primary.pid.flatMap(ProcessWatch.cpuSeconds)
            let steady = try await writeSteadily(writer, from: &serial, seconds: seconds)
            let cpuAfter = primary.pid.flatMap(ProcessWatch.cpuSeconds)
            acknowledged += steady
            _ = await allReach(serial, sightings, within: .seconds(30))
            let steadyLags = lags(steady, sightings, of: Array(0..<count))

            // A burst, back to back.
            var lastAck = ContinuousClock.now
            for _ in 0..<burst {
                try await write(writer, &serial)
                lastAck = .now
            }
            try await Task.sleep(until: lastAck + .seconds(5))
            let behind = (0..<count).filter { sightings.latest($0) < serial }.count
            _ = await allReach(serial, sightings, within: .seconds(120))
            let allCurrent = (0..<count).map { sightings.reached($0, serial).map { lastAck.duration(to: $0) } ?? .seconds(999) }.max() ?? .zero

            // A third stopped while writes go on.
            let stopped = Array(0..<max(1, count / 3))
            let running = Array(stopped.count..<count)
            for i in stopped { secondaries[i].pause() }
            let during = try await writeSteadily(writer, from: &serial, seconds: seconds)
            _ = await allReach(serial, sightings, of: running, within: .seconds(30))
            let runningLags = lags(during, sightings, of: running)
            let resumed = ContinuousClock.now
            for i in stopped { secondaries[i].resume() }
            _ = await allReach(serial, sightings, of: stopped, within: .seconds(120))
            let caughtUp = stopped.map { sightings.reached($0, serial).map { resumed.duration(to: $0) } ?? .seconds(999) }.max() ?? .zero
            acknowledged += during

            let wholeZone = zip(secondaries.map(Self.wholeZoneTransfers), transfersAtStart).map { $0 - $1 }.reduce(0, +)
            var cpuPerWrite: Double?
            if let cpuBefore, let cpuAfter { cpuPerWrite = (cpuAfter - cpuBefore) / Double(steady.count) * 1000 }
            let check = try await writer.serial(of: zone)
            let note = check == serial ? "" : " (serials did not step by one: \(check) at the end, \(serial) counted)"
            await writer.shutdown()
            await primary.stop()
            let steadyText = "\(ms(steadyLags, 0.5)) / \(ms(steadyLags, 0.99)) / \(ms(steadyLags, 1))"
            let burstText = "\(behind); " + String(format: "%.2f", allCurrent.seconds)
            let runningText = "\(ms(runningLags, 0.5)) / \(ms(runningLags, 0.99)) / \(ms(runningLags, 1))"
            let resumeText = String(format: "%.2f", caughtUp.seconds)
            let cpuText = cpuPerWrite.map { String(format: "%.2f", $0) } ?? "n/a"
            let cells: [String] = [primaryName, "\(count)", steadyText, burstText, runningText, resumeText, "\(wholeZone)", cpuText]
            return "| " + cells.joined(separator: " | ") + " |" + note
        } catch {
            await writer.shutdown()
            await primary.stop()
            throw error
        }
    }

    /// One write: a name of the zone replaced.
    private func write(_ writer: DNSClient, _ serial: inout UInt32) async throws {
        var update = UpdateBuilder(zone: zone)
        serial &+= 1
        update.replace(try DNSName("w\(serial % 100).\(zone)"), .txt, with: [.txt(TXT("write \(serial)"))], ttl: 60)
        try await writer.update(update)
    }

    /// Writes at 20 a second for `seconds`; each write's serial and acknowledgement.
    private func writeSteadily(_ writer: DNSClient, from serial: inout UInt32, seconds: Double) async throws -> [(serial: UInt32, at: ContinuousClock.Instant)] {
        let begin = ContinuousClock.now
        var acknowledged: [(serial: UInt32, at: ContinuousClock.Instant)] = []
        for k in 0..<Int(seconds * 20) {
            try await Task.sleep(until: begin + .milliseconds(50 * k))
            try await write(writer, &serial)
            acknowledged.append((serial, .now))
        }
        return acknowledged
    }

    /// Milliseconds from each write's acknowledgement until each of `secondaries` was seen at it.
    private func lags(_ writes: [(serial: UInt32, at: ContinuousClock.Instant)], _ sightings: Sightings, of secondaries: [Int]) -> [Double] {
        writes.flatMap { write in
            secondaries.map { i in
                sightings.reached(i, write.serial).map { max(0, write.at.duration(to: $0).seconds * 1000) } ?? 999_999
            }
        }
    }

    private func allReach(_ serial: UInt32, _ sightings: Sightings, of which: [Int]? = nil, within limit: Duration) async -> Bool {
        let all = which ?? Array(0..<count)
        return (try? await Poll.until(within: limit, every: .milliseconds(20)) { all.allSatisfy { sightings.latest($0) >= serial } }) ?? false
    }

    private func ms(_ values: [Double], _ p: Double) -> String {
        let value = percentile(values, p)
        return value >= 999_999 ? "never" : String(format: "%.0f", value)
    }

    /// Whole-zone transfers a Knot secondary has taken in so far, from its log.
    static func wholeZoneTransfers(_ secondary: SecondaryServer) -> Int {
        secondary.log.split(separator: "\n").filter { $0.contains("AXFR, incoming") && $0.contains("finished") }.count
    }
}

extension Duration {
    fileprivate var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

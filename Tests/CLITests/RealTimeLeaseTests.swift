import DNSClient
import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// Leases in real time, with renewers, reapers and lock holders as processes of their own (as a
/// cluster runs them), on our server (`dnsstore serve`, which reaps its own zones) and on BIND 9,
/// Knot and PowerDNS (with `dnsstore reap` beside them).
/// Real time: run apart from the other suites (scripts/test), so that a process is not kept from
/// a core for seconds by the rest of the suite.
@Suite("Leases on the command line, in real time", .timeLimit(.minutes(4)))
struct RealTimeLeaseTests {
    /// A server with a store under example.test and what reaps its leases, and a CLI pointed at it.
    final class Cluster: @unchecked Sendable {
        let cli: CLI
        let kind: ServerKind
        private var background: [Background] = []
        private var stopServer: (@Sendable () async -> Void)?
        private var serve: ChildProcess?

        init(_ kind: ServerKind, reapers: Int = 1) async throws {
            self.kind = kind
            var cli = try CLI()
            let key: String
            let port: Int
            if kind == .embedded {
                let data = cli.directory.appendingPathComponent("server-data")
                port = Ports.free()
                serve = try Subprocess.start(
                    cli.binary, ["serve", "--data", data.path, "--zone", "example.test", "--listen", "127.0.0.1:\(port)", "--log-level", "warning"],
                    logFile: cli.directory.appendingPathComponent("serve.log").path)
                try await Ports.waitForTCP(port)
                key = data.appendingPathComponent("tsig.key").path
            } else {
                let server = try await RunningServer.start(kind)
                port = server.port
                stopServer = server.stop
                key = cli.directory.appendingPathComponent("tsig.key").path
                try server.key.bindKeyFile.write(toFile: key, atomically: true, encoding: .utf8)
            }
            cli.environment = ["DNSSTORE_SERVER": "127.0.0.1:\(port)", "DNSSTORE_DOMAIN": "example.test", "DNSSTORE_KEY_FILE": key]
            self.cli = cli
            if kind != .embedded {
                for _ in 0..<reapers { background.append(try cli.start("reap", "--interval", "0.2")) }
            }
        }

        func start(_ arguments: String...) throws -> Background {
            let process = try Background(cli.binary, arguments, in: cli.directory, environment: cli.environment)
            background.append(process)
            return process
        }

        func stop() async {
            for process in background { process.process.end(SIGKILL) }
            serve?.end(SIGTERM)
            await stopServer?()
            cli.cleanUp()
        }

        static func with<T>(_ kind: ServerKind, reapers: Int = 1, _ body: (Cluster) async throws -> T) async throws -> T {
            let cluster = try await Cluster(kind, reapers: reapers)
            do {
                let result = try await body(cluster)
                await cluster.stop()
                return result
            } catch {
                await cluster.stop()
                throw error
            }
        }
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    static func grant(_ cli: CLI, _ seconds: Int) async throws -> String {
        let granted = try await cli.run("lease", "grant", String(seconds), "--compact")
        #expect(granted.status == 0, "\(granted.err)")
        return try #require(try json(granted.out)["lease"] as? String)
    }

    /// The latest the lease's deadline can be by this machine's clock, from what `lease show`
    /// says is left (it read its clock before the process ended).
    static func deadline(_ cli: CLI, _ lease: String) async throws -> ContinuousClock.Instant {
        let shown = try await cli.run("lease", "show", lease, "--compact")
        let remaining = try #require(try json(shown.out)["remaining"] as? Double)
        return ContinuousClock.now + .milliseconds(Int(remaining * 1000))
    }

    /// Looks every 100 ms until `isGone` says so (for at most `within`); returns when the last look
    /// that still found it started, and whether one found it gone. The start bounds when the thing
    /// was there, however long a look's process takes on a loaded machine.
    static func lastSeen(
        within: Duration, _ isGone: () async throws -> Bool
    ) async throws -> (lastSeen: ContinuousClock.Instant?, gone: Bool) {
        let end = ContinuousClock.now + within
        var lastSeen: ContinuousClock.Instant?
        while ContinuousClock.now < end {
            let started = ContinuousClock.now
            if try await isGone() { return (lastSeen, true) }
            lastSeen = started
            try await Task.sleep(for: .milliseconds(100))
        }
        return (lastSeen, false)
    }

    /// A document with a 2 s lease stays while a renewer keeps the lease for 30 s; once the
    /// renewer is gone it is gone for readers at its deadline and deleted
    /// within the clock skew and a reaper's look after; a revoked lease's document goes at once.
    @Test(arguments: [ServerKind.embedded, .bind, .knot, .powerdns])
    func aLeasedDocumentLivesWhileRenewedAndGoesWhenNot(_ kind: ServerKind) async throws {
        try await Cluster.with(kind) { cluster in
            let cli = cluster.cli
            let lease = try await Self.grant(cli, 2)
            let renewer = try cluster.start("lease", "keepalive", lease)
            #expect(try await cli.run("put", "svc/nodes/web1", #"{"addr":"10.0.0.5"}"#, "--lease", lease).status == 0)
            let start = ContinuousClock.now
            var looks = 0
            while ContinuousClock.now - start < .seconds(30) {
                let read = try await cli.run("get", "svc/nodes/web1", "--compact")
                #expect(read.status == 0 && read.out == #"{"addr":"10.0.0.5"}"#, "\(ContinuousClock.now - start) into renewal: \(read.status) \(read.err)")
                looks += 1
                try await Task.sleep(for: .milliseconds(500))
            }
            #expect(renewer.process.isRunning, "the renewer stopped: \(renewer.errors)")
            #expect(renewer.output.split(separator: "\n").count >= 30, "\(renewer.output.split(separator: "\n").count) renewals in 30 s")
            renewer.process.end(SIGKILL)
            try await renewer.waitForExit()
            // A renewal the renewer sent just before it died may still be applied after it is
            // gone (seen on Knot: a read 0.4 s past the deadline read before it was still right);
            // the deadline is read once that has settled.
            try await Task.sleep(for: .milliseconds(500))
            let deadline = try await Self.deadline(cli, lease)

            // Gone for readers at the deadline, before any reaper acts: no read that started after
            // it finds the document.
            let read = try await Self.lastSeen(within: .seconds(10)) {
                try await cli.run("get", "svc/nodes/web1").status == 3
            }
            #expect(read.gone, "still read 10 s after the deadline")
            if let seen = read.lastSeen {
                // 10 ms for the millisecond rounding of the deadline and of the clocks.
                #expect(seen < deadline + .milliseconds(10), "a read that started \(seen - deadline) after the deadline found it")
            }
            #expect(try await cli.run("list", "svc/nodes", "--compact").out == "[]")
            // Deleted: the server's own reaper, or `dnsstore reap`, within the skew (1 s) and a
            // look; no look that started 2 s after the deadline finds its record.
            let inspected = try await Self.lastSeen(within: .seconds(10)) {
                try await cli.run("inspect", "svc/nodes/web1").out.isEmpty
            }
            #expect(inspected.gone, "still stored 10 s after the deadline")
            if let seen = inspected.lastSeen {
                #expect(seen < deadline + .seconds(2), "a look that started \(seen - deadline) after the deadline found it stored")
            }
            let check = try await cli.run("fsck")
            #expect(check.status == 0, "\(check.out)")

            // Revoked: gone at once.
            let second = try await Self.grant(cli, 30)
            #expect(try await cli.run("put", "svc/nodes/web2", "{}", "--lease", second).status == 0)
            let revoked = try await cli.run("lease", "revoke", second, "--compact")
            #expect(revoked.status == 0 && revoked.out.contains(#""deleted":1"#), "\(revoked.out) \(revoked.err)")
            #expect(try await cli.run("get", "svc/nodes/web2").status == 3)
        }
    }

    /// Three reapers and eight renewers for 60 s, and leases lapsing all the while: no renewed
    /// document is ever deleted, every lapsed one is, and the store checks clean.
    @Test(arguments: [ServerKind.embedded, .bind])
    func reapersRacingRenewersNeverDeleteARenewedDocument(_ kind: ServerKind) async throws {
        try await Cluster.with(kind, reapers: 3) { cluster in
            let cli = cluster.cli
            var renewers: [Background] = []
            // Kept leases of 10 s: a renewer renews every third of it, so only a machine stalled
            // for seconds (all processes paused) could lose one, which a 3 s lease did once.
            for i in 0..<8 {
                let lease = try await Self.grant(cli, 10)
                renewers.append(try cluster.start("lease", "keepalive", lease))
                let put = try await cli.run("put", "svc/kept/k\(i)", #"{"i":\#(i)}"#, "--lease", lease)
                #expect(put.status == 0, "\(put.err)")
            }
            var lapsing: [String] = []
            let start = ContinuousClock.now
            while ContinuousClock.now - start < .seconds(60) {
                // A lease left to lapse, with a document, about every second.
                let lease = try await Self.grant(cli, 1)
                let id = "l\(lapsing.count)"
                if try await cli.run(["put", "svc/lapsing/\(id)", "{}", "--lease", lease]).status == 0 { lapsing.append(id) }
                let kept = try await cli.run("list", "svc/kept", "--compact")
                #expect(
                    try idList(kept.out).sorted() == (0..<8).map { "k\($0)" },
                    "\(ContinuousClock.now - start) in: \(kept.out) \(kept.err); renewers: \(renewers.map(\.errors).joined(separator: " | "))")
                try await Task.sleep(for: .milliseconds(800))
            }
            for renewer in renewers { #expect(renewer.process.isRunning, "a renewer lost its lease: \(renewer.errors)") }
            #expect(lapsing.count >= 20)
            // Every lapsed lease's document is deleted (the last one within a few seconds).
            let cleared = try await Poll.until(within: .seconds(15), every: .milliseconds(200)) {
                try await cli.run("fsck").out.contains(#""documents":8,"#)
            }
            let left = try await cli.run("fsck").out
            #expect(cleared, "lapsed documents were left: \(left)")
            for i in 0..<8 { #expect(try await cli.run("get", "svc/kept/k\(i)").status == 0) }
        }
    }

    /// A lock holder paused (SIGSTOP) past its lease loses the lease and the lock: another takes
    /// it with a larger fencing token, and the first, resumed, stops its command and exits 10.
    @Test func aPausedHolderLosesItsLockAndItsCommandIsStopped() async throws {
        try await Cluster.with(ServerKind.embedded) { cluster in
            let first = try cluster.start("lock", "job", "--ttl", "2", "--wait", "--", "sleep", "60")
            let firstToken = try await Self.token(first)
            first.process.signal(SIGSTOP)
            let second = try await cluster.cli.run("lock", "job", "--ttl", "5", "--wait", "--", "sh", "-c", "echo ran $DNSSTORE_LOCK_TOKEN")
            #expect(second.status == 0, "\(second.err)")
            let lines = second.out.split(separator: "\n").map(String.init)
            let firstLine = try #require(lines.first)
            let secondToken = try #require(try Self.json(firstLine)["token"] as? Int)
            #expect(secondToken > firstToken)
            #expect(lines.last == "ran \(secondToken)")
            first.process.signal(SIGCONT)
            try await first.waitForExit(timeout: .seconds(20))
            #expect(first.process.ending == .exit(10), "\(String(describing: first.process.ending)): \(first.errors)")
            #expect(first.errors.contains("was lost"), "\(first.errors)")
        }
    }

    /// Eight processes contend for one lock, each running a command under it: the commands never
    /// overlap, and each holder's token is above the one before.
    @Test func aLockContendedByEightProcessesIsHeldByOneAtATime() async throws {
        try await Cluster.with(ServerKind.embedded) { cluster in
            let log = cluster.cli.directory.appendingPathComponent("log").path
            let script = "echo start $DNSSTORE_LOCK_TOKEN >> \(log); sleep 0.3; echo end $DNSSTORE_LOCK_TOKEN >> \(log)"
            var contenders: [Background] = []
            for _ in 0..<8 { contenders.append(try cluster.start("lock", "job", "--ttl", "5", "--wait", "--", "sh", "-c", script)) }
            for contender in contenders { try await contender.waitForExit(timeout: .seconds(60)) }
            for contender in contenders { #expect(contender.process.ending == .exit(0), "\(contender.errors)") }
            let lines = try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").map { $0.split(separator: " ") }
            #expect(lines.count == 16)
            var tokens: [Int] = []
            for pair in stride(from: 0, to: lines.count - 1, by: 2) {
                #expect(lines[pair][0] == "start" && lines[pair + 1][0] == "end" && lines[pair][1] == lines[pair + 1][1], "overlapping: \(lines)")
                tokens.append(Int(lines[pair][1]) ?? 0)
            }
            #expect(tokens == tokens.sorted() && Set(tokens).count == tokens.count, "\(tokens)")
        }
    }

    /// A reaper killed (kill -9) while it deletes a lease of many documents leaves a lease that
    /// the next one finishes: no document is ever left that no lease lists, nor shown to readers.
    @Test func aReaperKilledMidRunLeavesNothingHalfDeleted() async throws {
        try await Cluster.with(ServerKind.bind, reapers: 0) { cluster in
            let cli = cluster.cli
            // A 5 s lease: long enough that a machine stalled for a few seconds does not lose it
            // while the 200 puts run.
            let lease = try await Self.grant(cli, 5)
            let renewer = try cluster.start("lease", "keepalive", lease)
            for i in 0..<200 {
                let put = try await cli.run("put", "svc/many/d\(i)", #"{"i":\#(i)}"#, "--lease", lease)
                #expect(put.status == 0, "\(put.err)")
            }
            renewer.process.end(SIGKILL)
            try await Task.sleep(for: .seconds(6))
            #expect(try await cli.run("list", "svc/many", "--compact").out == "[]", "a lapsed lease's documents are gone for readers")
            let reaper = try cluster.start("reap", "--interval", "0.1", "--clock-skew", "0")
            // Killed once it has deleted some, not all.
            let partly = try await Poll.until(within: .seconds(30), every: .milliseconds(20)) {
                let count = try await cli.run("fsck", "--compact").out
                return !count.contains(#""documents":200,"#)
            }
            reaper.process.end(SIGKILL)
            #expect(partly)
            let between = try await cli.run("fsck", "--compact")
            #expect(between.status == 0, "between reapers the store is consistent: \(between.out)")
            #expect(try await cli.run("list", "svc/many", "--compact").out == "[]")
            #expect(try await cli.run("reap", "--once", "--clock-skew", "0").status == 0)
            let after = try await cli.run("fsck", "--compact")
            #expect(after.status == 0 && after.out.contains(#""documents":0,"#), "\(after.out)")
        }
    }

    /// Bad input: a lease of 0, negative or past the maximum, an id that is not one, an unknown
    /// lease: each named, with its exit code, and nothing written.
    @Test func badLeasesGetTheirExitCodes() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        for seconds in ["0", "-1", "604801"] {
            let result = try await cli.run("lease", "grant", "--", seconds)
            #expect(result.status == 2 && result.err.contains("1 to 604800"), "\(seconds): \(result.err)")
        }
        let bad = try await cli.run("put", "a/b/c", "{}", "--lease", "xyz")
        #expect(bad.status == 2 && bad.err.contains("lease id"), "\(bad.err)")
        let unknown = try await cli.run("put", "a/b/c", "{}", "--lease", "0123456789abcdef")
        #expect(unknown.status == 3 && unknown.err.contains("lease 0123456789abcdef does not exist"), "\(unknown.err)")
        #expect(try await cli.run("lease", "revoke", "0123456789abcdef").status == 3)
        #expect(try await cli.run("lease", "keepalive", "0123456789abcdef").status == 3)
        #expect(try await cli.run("get", "a/b/c").status == 3)
    }

    /// The token a `lock` prints first.
    static func token(_ process: Background) async throws -> Int {
        let printed = try await Poll.until(within: .seconds(30)) { process.output.contains("token") }
        #expect(printed, "\(process.errors)")
        let line = try #require(process.output.split(separator: "\n").first)
        return try #require(try json(String(line))["token"] as? Int)
    }
}

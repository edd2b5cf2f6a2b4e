import DNSClient
import DNSTestSupport
import DNSWire
import Foundation
import NIOCore
import NIOPosix

/// Measures our client against its baselines on the same BIND 9, in one run, and prints ratios.
/// Usage: `dnsstore-bench --help` (see `BenchArguments`).

let options = BenchOptions.fromCommandLine()
if options.nioExecutor {
    print("NIO executor installed:", NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor())
}
let smoke = options.smoke
let seconds = options.seconds
let concurrency = 64
/// Our command line program, built next to this one.
let dnsstoreBinary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("dnsstore").path

struct Row {
    var name: String
    var rate: Double
}

func measureSequential(_ duration: Double, _ body: () async throws -> Void) async throws -> Double {
    let start = ContinuousClock.now
    let end = start + .milliseconds(Int(duration * 1000))
    var count = 0
    while ContinuousClock.now < end {
        try await body()
        count += 1
    }
    let elapsed = ContinuousClock.now - start
    return Double(count) / secondsIn(elapsed)
}

func measureConcurrent(
    _ duration: Double, tasks: Int, on executor: (any TaskExecutor)? = nil, _ body: @escaping @Sendable () async throws -> Void
) async throws -> Double {
    let start = ContinuousClock.now
    let end = start + .milliseconds(Int(duration * 1000))
    let total = try await withThrowingTaskGroup(of: Int.self) { group in
        for _ in 0..<tasks {
            group.addTask(executorPreference: executor) {
                var count = 0
                while ContinuousClock.now < end {
                    try await body()
                    count += 1
                }
                return count
            }
        }
        return try await group.reduce(0, +)
    }
    let elapsed = ContinuousClock.now - start
    return Double(total) / secondsIn(elapsed)
}

let dnspythonScript = """
    import sys, time, dns.message, dns.query
    port, name, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    end = time.monotonic() + seconds
    n = 0
    start = time.monotonic()
    while time.monotonic() < end:
        q = dns.message.make_query(name, "TXT", use_edns=0, payload=1232)
        r = dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
        assert r.answer
        n += 1
    print(n / (time.monotonic() - start))
    """

func dnspython(port: Int, name: DNSName, seconds: Double) async throws -> Double {
    let result = try await Subprocess.run("python3", ["-c", dnspythonScript, "\(port)", name.description, "\(seconds)"])
    guard result.status == 0, let rate = Double(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
        throw SubprocessError.failed("dnspython", result)
    }
    return rate
}

func dnsperf(port: Int, name: DNSName, seconds: Double, tcp: Bool, inFlight: Int = concurrency) async throws -> Double {
    try await dnsperf(port: port, names: [name], seconds: seconds, tcp: tcp, inFlight: inFlight)
}

/// dnsperf asking for `names` in turn (TXT), `inFlight` at a time (64 unless told).
func dnsperf(port: Int, names: [DNSName], seconds: Double, tcp: Bool, inFlight: Int = concurrency) async throws -> Double {
    try await dnsperfWithLoad(port: port, names: names, seconds: seconds, tcp: tcp, inFlight: inFlight).rate
}

/// One dnsperf run: its rate, how busy dnsperf was, and what a query cost each side.
struct DnsperfRun {
    var rate = 0.0
    /// dnsperf's CPU time over the run's length.
    var busy = 0.0
    /// The server's CPU time per answered query, in microseconds (0 without its process).
    var serverMicroseconds = 0.0
    /// dnsperf's own CPU time per answered query, in microseconds.
    var generatorMicroseconds = 0.0
}

/// The same, with how busy dnsperf itself was: its CPU time (user and system) over the run's
/// length. Near 1, the load generator is the limit and the rate says more about it than about
/// the server. Given the server's process, also the server's CPU time per answered query: what a
/// query costs the server, whatever rate the load generator could offer.
func dnsperfWithLoad(
    port: Int, names: [DNSName], seconds: Double, tcp: Bool, inFlight: Int = concurrency, server: Int32? = nil
) async throws -> DnsperfRun {
    let before = childrenCPUSeconds()
    let start = ContinuousClock.now
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("dnsperf-\(UUID().uuidString)")
    try names.map { "\($0) TXT\n" }.joined().write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    var args = ["-s", "127.0.0.1", "-p", "\(port)", "-d", file.path, "-c", "1", "-T", "1", "-q", "\(inFlight)",
                "-l", "\(max(1, Int(seconds.rounded())))"]
    if tcp { args += ["-m", "tcp"] }
    let (result, serverSeconds) = try await measuringCPU(of: server) { try await Subprocess.run("dnsperf", args) }
    let elapsed = ContinuousClock.now - start
    let generatorSeconds = childrenCPUSeconds() - before
    let lines = result.stdout.split(separator: "\n")
    guard let line = lines.first(where: { $0.contains("Queries per second") }),
        let rate = Double(line.split(separator: " ").last ?? ""),
        let completedLine = lines.first(where: { $0.contains("Queries completed:") }),
        let completed = completedLine.split(separator: " ").dropFirst(2).first.flatMap({ Double($0) })
    else { throw SubprocessError.failed("dnsperf", result) }
    func perQuery(_ cpu: Double?) -> Double { completed > 0 ? (cpu ?? 0) / completed * 1e6 : 0 }
    return DnsperfRun(
        rate: rate, busy: generatorSeconds / secondsIn(elapsed), serverMicroseconds: perQuery(serverSeconds),
        generatorMicroseconds: perQuery(generatorSeconds))
}

/// `body`'s result and the CPU seconds process `pid` used meanwhile (nil without a PID, or when
/// /proc has no reading of it).
func measuringCPU<T>(of pid: Int32?, _ body: () async throws -> T) async rethrows -> (T, Double?) {
    let before = pid.flatMap(ProcessWatch.cpuSeconds)
    let result = try await body()
    guard let before, let after = pid.flatMap(ProcessWatch.cpuSeconds) else { return (result, nil) }
    return (result, after - before)
}

/// A duration in seconds.
func secondsIn(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// CPU seconds (user and system) of this process, all its threads.
func ownCPUSeconds() -> Double { cpuSeconds(RUSAGE_SELF) }

/// CPU seconds (user and system) of this process's children that have ended.
func childrenCPUSeconds() -> Double { cpuSeconds(RUSAGE_CHILDREN) }

private func cpuSeconds(_ who: __rusage_who) -> Double {
    var usage = rusage()
    getrusage(who.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// Signed single-record updates per second from one sequential client.
func updateRate(port: Int, zone: DNSName, key: TSIGKey, seconds: Double) async throws -> Double {
    let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port, key: key))
    defer { Task { await client.shutdown() } }
    var i = 0
    let name = try DNSName("upd.\(zone)")
    let rate = try await measureSequential(seconds) {
        var update = UpdateBuilder(zone: zone)
        update.replace(name, .txt, with: [.txt(TXT("value \(i)"))], ttl: 60)
        i += 1
        try await client.update(update)
    }
    return rate
}

/// Signed single-record updates per second from `writers` concurrent writers, each on a name of
/// its own (so none waits on another's prerequisite), each waiting for its answer before the next.
func concurrentUpdateRate(port: Int, zone: DNSName, key: TSIGKey, seconds: Double, writers: Int) async throws -> Double {
    let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port, key: key))
    defer { Task { await client.shutdown() } }
    let counter = Locked(0)
    return try await measureConcurrent(seconds, tasks: writers) {
        let i = counter.withLock { value -> Int in
            value += 1
            return value
        }
        var update = UpdateBuilder(zone: zone)
        update.replace(try DNSName("upd\(i % writers).\(zone)"), .txt, with: [.txt(TXT("value \(i)"))], ttl: 60)
        try await client.update(update)
    }
}

/// A server under test: started, measured, stopped, one at a time so they never share the CPU.
struct ServerUnderTest {
    var name: String
    var port: Int
    var key: TSIGKey
    /// The server's process (for its CPU time and memory).
    var pid: Int32? = nil
    var stop: () async -> Void
}

func startServer(_ which: String, zone: DNSName, notify: [Int] = []) async throws -> ServerUnderTest {
    switch which {
    case "BIND 9":
        let s = try await BindServer.start(zone: zone)
        return ServerUnderTest(name: which, port: s.port, key: s.key, pid: s.pid, stop: { s.stop() })
    case "Knot":
        let s = try await KnotServer.start(zone: zone)
        return ServerUnderTest(name: which, port: s.port, key: s.key, pid: s.pid, stop: { s.stop() })
    case "PowerDNS":
        let s = try await PowerDNSServer.start(zone: zone)
        return ServerUnderTest(name: which, port: s.port, key: s.key, stop: { s.stop() })
    default:
        // Our server as its own process, like the others; "... (no prepared answers)" with them off.
        let dir = try TempDirectory.make("bench-serve")
        let port = Ports.free()
        let binary = dnsstoreBinary
        let process = try Subprocess.start(
            binary, ["serve", "--data", dir.path, "--zone", zone.description, "--listen", "127.0.0.1:\(port)", "--log-level", "error"]
                + notify.flatMap { ["--notify", "127.0.0.1:\($0)"] }
                + (which.hasSuffix("(no prepared answers)") ? ["--prepared-answers-mib", "0"] : [])
                + (which.hasSuffix("(--fsync)") ? ["--fsync"] : []),
            logFile: dir.appendingPathComponent("serve.log").path)
        try await Ports.waitForTCP(port)
        let key = try TSIGKey.parseBINDKeyFile(try String(contentsOf: dir.appendingPathComponent("tsig.key"), encoding: .utf8))[0]
        return ServerUnderTest(name: which, port: port, key: key, pid: process.processIdentifier, stop: {
            process.end(SIGTERM)
            try? FileManager.default.removeItem(at: dir)
        })
    }
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}

/// Each server in turn, for several rounds, so that a noisy moment hits them all alike; medians.
func runServers() async throws {
    let zone: DNSName = "example.test."
    // `--updates-only`: the two update columns alone, against BIND 9 (for work on the write path).
    let updatesOnly = options.updatesOnly
    // "(--fsync)": our server syncing each commit to disk; its update columns only.
    let names = updatesOnly
        ? ["DNSStore", "DNSStore (--fsync)", "BIND 9"] : ["DNSStore", "DNSStore (no prepared answers)", "DNSStore (--fsync)", "BIND 9", "Knot"]
    let rounds = options.rounds
    var samples: [String: (udp: [Double], tcp: [Double], updates: [Double], mix: [Double], writers: [Double])] = [:]
    // How busy dnsperf itself was during each server's UDP runs (present names and the mix).
    var generatorBusy: [String: [Double]] = [:]
    // The server's CPU time per answered UDP query (present names, the half-absent mix) and per
    // signed update (one writer, eight).
    var cost: [String: (udp: [Double], mix: [Double], update: [Double], writers: [Double])] = [:]
    // The half-absent mix: 300 names that exist and 300 that do not, asked in turn.
    let present = try (0..<300).map { try DNSName("mix-\($0).\(zone)") }
    let mix = try present.indices.flatMap { [present[$0], try DNSName("absent-\($0).\(zone)")] }
    for _ in 0..<rounds {
        for which in names {
            let server = try await startServer(which, zone: zone)
            do {
                let name = try DNSName("bench.\(zone)")
                let writer = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: server.port, key: server.key))
                var add = UpdateBuilder(zone: zone)
                add.add(.txt(name, TXT(String(repeating: "x", count: 100))))
                for name in present { add.add(.txt(name, TXT(String(repeating: "m", count: 60)))) }
                try await writer.update(add)
                await writer.shutdown()
                let queries = !updatesOnly && !which.hasSuffix("(--fsync)")
                let none = DnsperfRun()
                let udp = await !queries ? none : try dnsperfWithLoad(port: server.port, names: [name], seconds: seconds, tcp: false, server: server.pid)
                let mixed = await !queries ? none : try dnsperfWithLoad(port: server.port, names: mix, seconds: seconds, tcp: false, server: server.pid)
                if queries {
                    generatorBusy[which, default: []] += [udp.busy, mixed.busy]
                    cost[which, default: ([], [], [], [])].udp.append(udp.serverMicroseconds)
                    cost[which, default: ([], [], [], [])].mix.append(mixed.serverMicroseconds)
                }
                let tcp = await !queries ? 0 : try dnsperf(port: server.port, name: name, seconds: seconds, tcp: true)
                let (updates, updatesCPU) = try await measuringCPU(of: server.pid) {
                    try await updateRate(port: server.port, zone: zone, key: server.key, seconds: seconds)
                }
                let (writers, writersCPU) = try await measuringCPU(of: server.pid) {
                    try await concurrentUpdateRate(port: server.port, zone: zone, key: server.key, seconds: seconds, writers: 8)
                }
                if let updatesCPU, let writersCPU, updates > 0, writers > 0 {
                    // Per update: the CPU time over the count (rate times the run's length).
                    cost[which, default: ([], [], [], [])].update.append(updatesCPU / (updates * seconds) * 1e6)
                    cost[which, default: ([], [], [], [])].writers.append(writersCPU / (writers * seconds) * 1e6)
                }
                samples[which, default: ([], [], [], [], [])].udp.append(udp.rate)
                samples[which, default: ([], [], [], [], [])].tcp.append(tcp)
                samples[which, default: ([], [], [], [], [])].updates.append(updates)
                samples[which, default: ([], [], [], [], [])].mix.append(mixed.rate)
                samples[which, default: ([], [], [], [], [])].writers.append(writers)
            } catch {
                await server.stop()
                throw error
            }
            await server.stop()
        }
    }
    func row(_ name: String) -> (udp: Double, tcp: Double, updates: Double, mix: Double, writers: Double) {
        let s = samples[name]!
        return (median(s.udp), median(s.tcp), median(s.updates), median(s.mix), median(s.writers))
    }
    func fmt(_ v: Double) -> String { v == 0 ? "n/a" : String(format: "%.0f", v) }
    func ratio(_ a: Double, _ b: Double) -> String { b == 0 ? "n/a" : String(format: "%.2f", a / b) }
    let ours = row("DNSStore")
    print("")
    print("Servers one at a time, \(rounds) rounds, medians: dnsperf (64 in flight) on one present name, UDP and TCP, and on 600 names half of them absent, UDP; signed single-record updates from one writer and from 8 concurrent writers")
    print("| server | UDP q/s | TCP q/s | half-absent UDP q/s | updates/s, 1 writer | updates/s, 8 writers | ours / this: UDP | TCP | half-absent | 1 writer | 8 writers | dnsperf busy, UDP |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in names {
        let r = row(name)
        let busy = generatorBusy[name].map { String(format: "%.0f%%", 100 * median($0)) } ?? "n/a"
        print("| \(name) | \(fmt(r.udp)) | \(fmt(r.tcp)) | \(fmt(r.mix)) | \(fmt(r.updates)) | \(fmt(r.writers)) | \(ratio(ours.udp, r.udp)) | \(ratio(ours.tcp, r.tcp)) | \(ratio(ours.mix, r.mix)) | \(ratio(ours.updates, r.updates)) | \(ratio(ours.writers, r.writers)) | \(busy) |")
    }
    print("dnsperf busy: its own CPU time over the run's length, median over the UDP runs; near 100% the load generator, not the server, sets the UDP rates.")
    // What a query costs each server, read from /proc: it does not depend on how fast the load
    // generator can send, which on two cores it cannot do fast enough to find the servers' limits.
    print("")
    print("Server CPU time per answered UDP query and per signed update, the same runs, medians (all threads, user and system; a million divided by it is what one core of this machine could answer)")
    print("| server | µs per query, one present name | half-absent | µs per update, 1 writer | 8 writers | this / ours: present | half-absent | 1 writer | 8 writers |")
    print("|---|---|---|---|---|---|---|---|---|")
    func costs(_ name: String) -> [Double] {
        guard let c = cost[name] else { return [0, 0, 0, 0] }
        return [median(c.udp), median(c.mix), median(c.update), median(c.writers)]
    }
    let ourCost = costs("DNSStore")
    for name in names where cost[name] != nil {
        let c = costs(name)
        let shown = c.map { $0 == 0 ? "n/a" : String(format: "%.1f", $0) }
        let ratios = zip(c, ourCost).map { $0 == 0 ? "n/a" : ratio($0, $1) }
        print("| \(name) | " + (shown + ratios).joined(separator: " | ") + " |")
    }
}

func run() async throws {
    if let measure = options.measureGet {
        try await measureGet(port: measure.port, secret: measure.secret)
        return
    }
    switch options.mode {
    case "servers": return try await runServers()
    case "store": return try await runStore()
    case "growth": return try await runGrowthTable()
    case "postgres": return try await runPostgres()
    case "replication": return try await runReplication()
    case "privacy": return try await runPrivacy()
    case "leases": return try await runLeases()
    case "fanout": return try await runFanout()
    default: break
    }
    let bind = try await BindServer.start()
    defer { bind.stop() }
    let name = try DNSName("bench.\(bind.zone)")
    let writer = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: bind.port, key: bind.key))
    var add = UpdateBuilder(zone: bind.zone)
    add.add(.txt(name, TXT(String(repeating: "x", count: 100))))
    try await writer.update(add)
    await writer.shutdown()

    // Each client on one event loop, its requests made from tasks on that loop's thread.
    let udpLoop = MultiThreadedEventLoopGroup.singleton.next()
    let tcpLoop = MultiThreadedEventLoopGroup.singleton.next()
    let udp = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: bind.port), group: udpLoop)
    var tcpConfig = try DNSClientConfiguration(host: "127.0.0.1", port: bind.port)
    tcpConfig.alwaysTCP = true
    let tcp = DNSClient(configuration: tcpConfig, group: tcpLoop)
    let udpExecutor = EventLoopTaskExecutor(udpLoop)
    let tcpExecutor = EventLoopTaskExecutor(tcpLoop)
    let query: @Sendable (DNSClient) async throws -> Void = { client in
        let answer = try await client.query(name, type: .txt)
        precondition(answer.answers.count == 1)
    }
    // Warm up each path once.
    try await query(udp)
    try await query(tcp)

    // `--profile udp|tcp` runs only our concurrent client for that transport, for a profiler to watch.
    if let profile = options.profile {
        let client = profile == "tcp" ? tcp : udp
        let rate = try await measureConcurrent(seconds, tasks: concurrency, on: profile == "tcp" ? tcpExecutor : udpExecutor) {
            try await query(client)
        }
        print("profile \(profile): \(Int(rate)) q/s")
        return
    }
    let pySeq = try await dnspython(port: bind.port, name: name, seconds: seconds)
    let oursSeq = try await measureSequential(seconds) { try await query(udp) }
    // Each side's CPU time per query too: what a query costs the client, whatever the server's
    // share of the two cores let it reach.
    var inFlightRows: [(inFlight: Int, tcp: Bool, ours: Double, perf: Double, oursCPU: Double, perfCPU: Double)] = []
    for inFlight in [1, 8, concurrency] {
        for useTCP in [false, true] {
            let perf = try await dnsperfWithLoad(port: bind.port, names: [name], seconds: seconds, tcp: useTCP, inFlight: inFlight)
            let oursBefore = ownCPUSeconds()
            let ours = try await measureConcurrent(seconds, tasks: inFlight, on: useTCP ? tcpExecutor : udpExecutor) {
                try await query(useTCP ? tcp : udp)
            }
            let oursCPU = (ownCPUSeconds() - oursBefore) / (ours * seconds) * 1e6
            inFlightRows.append((inFlight, useTCP, ours, perf.rate, oursCPU, perf.generatorMicroseconds))
        }
    }
    await udp.shutdown()
    await tcp.shutdown()

    func fmt(_ v: Double) -> String { String(format: "%.0f", v) }
    func ratio(_ a: Double, _ b: Double) -> String { b == 0 ? "n/a" : String(format: "%.2f", a / b) }
    print("Queries of one TXT name on BIND 9 (\(bind.port)), \(seconds) s per case; our client on one event loop, its tasks on that loop")
    print("| case | DNSStore q/s | baseline | baseline q/s | ratio | DNSStore CPU µs per query | baseline CPU µs per query |")
    print("|---|---|---|---|---|---|---|")
    print("| sequential, UDP | \(fmt(oursSeq)) | dnspython | \(fmt(pySeq)) | \(ratio(oursSeq, pySeq)) | | |")
    for row in inFlightRows {
        let transport = row.tcp ? "TCP" : "UDP"
        let cpu = String(format: "%.1f | %.1f", row.oursCPU, row.perfCPU)
        print("| \(row.inFlight) in flight, \(transport) | \(fmt(row.ours)) | dnsperf\(row.tcp ? " -m tcp" : "") | \(fmt(row.perf)) | \(ratio(row.ours, row.perf)) | \(cpu) |")
    }
    if options.mode == nil {
        try await runServers()
        try await runStore()
        try await runPrivacy()
        try await runReplication()
        try await runLeases()
        try await runFanout()
    }
}

do {
    try await run()
} catch {
    FileHandle.standardError.write(Data("dnsstore-bench: \(error)\n".utf8))
    exit(1)
}

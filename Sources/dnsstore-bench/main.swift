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
        // Our server as its own process, like the others; "... (no prepared answers)" with them off,
        // "... (--metrics)" exporting Prometheus metrics (nothing scrapes them: the cost measured
        // is counting, not serving the page).
        let dir = try TempDirectory.make("bench-serve")
        let port = Ports.free()
        let binary = dnsstoreBinary
        var arguments = ["serve", "--data", dir.path, "--zone", zone.description, "--listen", "127.0.0.1:\(port)", "--log-level", "error"]
        arguments += notify.flatMap { ["--notify", "127.0.0.1:\($0)"] }
        if which.hasSuffix("(no prepared answers)") { arguments += ["--prepared-answers-mib", "0"] }
        if which.hasSuffix("(--fsync)") { arguments += ["--fsync"] }
        if which.hasSuffix("(--metrics)") { arguments += ["--metrics", "127.0.0.1:\(Ports.free())"] }
        let process = try Subprocess.start(binary, arguments, logFile: dir.appendingPathComponent("serve.log").path)
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
        ? ["DNSStore", "DNSStore (--fsync)", "BIND 9"]
        : ["DNSStore", "DNSStore (--metrics)", "DNSStore (no prepared answers)", "DNSStore (--fsync)", "BIND 9", "Knot"]
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
    case "route53": return try await runRoute53()
    case "indexes": return try await runIndexes()
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
        try await runRoute53()
        try await runIndexes()
    }
}

do {
    try await run()
} catch {
    FileHandle.standardError.write(Data("dnsstore-bench: \(error)\n".utf8))
    exit(1)
}

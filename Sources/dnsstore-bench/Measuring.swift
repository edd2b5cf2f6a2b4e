import DNSClient
import DNSTestSupport
import DNSWire
import Foundation
import NIOCore
import NIOPosix

// How the benchmarks time and load what they measure: rates, dnsperf and dnspython runs, CPU time.

/// One measured rate, by name.
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

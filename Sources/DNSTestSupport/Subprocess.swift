import Foundation

/// Runs programs for tests: the real servers and tools (named, dig, nsupdate, python3) that the
/// suite checks our code against.
public enum Subprocess {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String

        public init(status: Int32, stdout: String, stderr: String) {
            self.status = status
            self.stdout = stdout
            self.stderr = stderr
        }
    }

    /// Runs `executable` (a path, or a name looked up in PATH) to completion. It is awaited, not
    /// waited for: a thread blocked on a child is one of the few the whole suite's tasks share, and
    /// a handful of slow children (initdb, python3) once held every test off them for half a minute.
    public static func run(
        _ executable: String, _ arguments: [String], input: String? = nil, environment: [String: String] = [:],
        directory: URL? = nil
    ) async throws -> Result {
        // Files, not pipes: a chatty child can never block on a full pipe, nor we on a child
        // that reads no input.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dnsstore-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let outPath = dir.appendingPathComponent("out").path
        let errPath = dir.appendingPathComponent("err").path
        var inPath: String?
        if let input {
            let path = dir.appendingPathComponent("in").path
            try Data(input.utf8).write(to: URL(fileURLWithPath: path))
            inPath = path
        }
        let child = try ChildProcess.spawn(
            try locate(executable), arguments, environment: childEnvironment(environment), directory: directory?.path,
            input: inPath, output: outPath, errors: errPath)
        await child.exited()
        return Result(
            status: child.terminationStatus,
            stdout: String(decoding: try readFile(outPath), as: UTF8.self),
            stderr: String(decoding: try readFile(errPath), as: UTF8.self))
    }

    /// Starts `executable` in the background with output to `logFile`; the caller stops it by PID.
    public static func start(_ executable: String, _ arguments: [String], logFile: String) throws -> ChildProcess {
        try ChildProcess.spawn(
            try locate(executable), arguments, environment: childEnvironment(), output: logFile, errors: logFile)
    }

    /// This process's environment with `extra` over it, as the programs a test starts get it.
    /// Under `scripts/test --sanitize address` they get AddressSanitizer's options meant for
    /// them (DNSSTORE_CHILD_ASAN_OPTIONS), leak checks included, which the test process itself
    /// runs without.
    public static func childEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment.merging(extra) { _, new in new }
        if let options = environment["DNSSTORE_CHILD_ASAN_OPTIONS"], extra["ASAN_OPTIONS"] == nil {
            environment["ASAN_OPTIONS"] = options
        }
        return environment
    }

    public static func locate(_ executable: String) throws -> String {
        if executable.contains("/") { return executable }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
            let candidate = "\(dir)/\(executable)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw SubprocessError.notFound(executable)
    }

    public static func isAvailable(_ executable: String) -> Bool {
        (try? locate(executable)) != nil
    }
}

public enum SubprocessError: Error, CustomStringConvertible {
    case notFound(String)
    case failed(String, Subprocess.Result)
    case notReady(String)

    public var description: String {
        switch self {
        case .notFound(let name): return "\(name) is not installed (run .ci/run or see README.md for the packages)"
        case .failed(let what, let result): return "\(what) exited \(result.status): \(result.stderr)\(result.stdout)"
        case .notReady(let what): return "\(what) did not start listening"
        }
    }
}

/// A file's octets, read with plain system calls. (Foundation's `Data(contentsOf:)` keeps buffers
/// that LeakSanitizer reports at exit, which would fail every sanitized test run.)
public func readFile(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw SubprocessError.failed("reading \(path)", Subprocess.Result(status: errno, stdout: "", stderr: String(cString: strerror(errno)))) }
    defer { close(fd) }
    var octets: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0, errno == EINTR { continue }
        guard n > 0 else { break }
        octets += chunk[..<n]
    }
    return octets
}


import DNSTestSupport
import DNSWire
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A `dnsstore shell` on a host of the cluster, driven through two named pipes: one request line
/// in, one answer line out. One request at a time (the shell answers in order); an answer that
/// does not come within the wait is reported as none, and the shell is then started again.
final class ShellClient: @unchecked Sendable {
    struct Answer {
        var ok: Bool
        var result: [String: Any]
        /// The exit code the command would have given (0 when ok).
        var exit: Int
        var message: String
    }

    let name: String
    private let host: TestHost
    private let binary: String
    private let arguments: [String]
    private let folder: URL
    private var process: ChildProcess?
    private var input: Int32 = -1
    private var output: Int32 = -1
    private var pending: [UInt8] = []
    private var starts = 0

    init(name: String, host: TestHost, binary: String, arguments: [String], folder: URL) throws {
        self.name = name
        self.host = host
        self.binary = binary
        self.arguments = arguments
        self.folder = folder
        try start()
    }

    private func start() throws {
        starts += 1
        let stem = folder.appendingPathComponent("\(name.replacingOccurrences(of: "/", with: "-"))-\(starts)").path
        for fifo in ["\(stem).in", "\(stem).out"] {
            unlink(fifo)
            guard mkfifo(fifo, 0o600) == 0 else { throw ClusterError("cannot make the pipe \(fifo)") }
        }
        // Read-write opens of a FIFO do not wait for the other end; the shell's own opens then
        // find one.
        input = open("\(stem).in", O_RDWR | O_CLOEXEC)
        output = open("\(stem).out", O_RDWR | O_CLOEXEC)
        let (program, args) = host.command(binary, ["shell"] + arguments)
        process = try ChildProcess.spawn(
            try Subprocess.locate(program), args, environment: Subprocess.childEnvironment(["DNSSTORE_CACHE_DIR": "\(stem).cache"]),
            input: "\(stem).in", output: "\(stem).out", errors: "\(stem).log")
        pending = []
    }

    /// Sends `line` and waits up to `wait` for its answer; nil when none came (the shell is then
    /// replaced, so that a late answer cannot be taken for the next request's).
    func request(_ line: String, wait: Double = 30) async -> Answer? {
        let bytes = Array((line + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(input, $0.baseAddress, $0.count) }
        guard written == bytes.count else {
            restart()
            return nil
        }
        let fd = output
        let carried = pending
        let got: (line: [UInt8], rest: [UInt8])? = await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                let deadline = Date().addingTimeInterval(wait)
                var buffer = carried
                var chunk = [UInt8](repeating: 0, count: 65_536)
                while true {
                    while let newline = buffer.firstIndex(of: 0x0A) {
                        let line = Array(buffer[..<newline])
                        buffer.removeFirst(newline + 1)
                        // Event lines (a lease lost) are not answers.
                        if line.starts(with: Array(#"{"event""#.utf8)) { continue }
                        continuation.resume(returning: (line, buffer))
                        return
                    }
                    let left = deadline.timeIntervalSinceNow
                    guard left > 0 else {
                        continuation.resume(returning: nil)
                        return
                    }
                    var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    guard poll(&poller, 1, Int32(min(left, 1) * 1000)) > 0 else { continue }
                    let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                    if n > 0 { buffer += chunk[..<n] }
                }
            }
        }
        guard let got else {
            restart()
            return nil
        }
        pending = got.rest
        guard let object = try? JSONSerialization.jsonObject(with: Data(got.line)) as? [String: Any] else {
            return Answer(ok: false, result: [:], exit: 1, message: "not JSON: \(String(decoding: got.line, as: UTF8.self))")
        }
        let ok = object["ok"] as? Bool ?? false
        let error = object["error"] as? [String: Any] ?? [:]
        let result = object["result"]
        return Answer(
            ok: ok, result: result as? [String: Any] ?? ["value": result as Any], exit: ok ? 0 : error["exit"] as? Int ?? 1,
            message: error["message"] as? String ?? "")
    }

    private func restart() {
        stop()
        try? start()
    }

    func stop() {
        process?.signal(SIGKILL)
        if input >= 0 { close(input) }
        if output >= 0 { close(output) }
        input = -1
        output = -1
    }
}

struct ClusterError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// A line on standard output, written at once (a pipe to CI would otherwise hold it).
func say(_ text: String) {
    FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

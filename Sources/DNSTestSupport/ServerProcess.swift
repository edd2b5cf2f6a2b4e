import Foundation

/// A server program the tests started: its folder, its process and its log. Stopped by its PID
/// with SIGTERM, then its folder removed.
public final class ServerProcess: @unchecked Sendable {
    public let directory: URL
    private let process: ChildProcess
    private let logName: String

    private init(directory: URL, process: ChildProcess, logName: String) {
        self.directory = directory
        self.process = process
        self.logName = logName
    }

    /// Starts `executable` on `host` with its output in `directory/logName` and waits until it
    /// accepts TCP on `port` at the host's address. One that exits first is reported at once, with
    /// its log and how it ended.
    public static func launch(
        _ executable: String, _ arguments: [String], in directory: URL, logName: String, port: Int, host: TestHost = .loopback,
        timeout: Duration = .seconds(30)
    ) async throws -> ServerProcess {
        let process = try host.start(executable, arguments, logFile: directory.appendingPathComponent(logName).path)
        let server = ServerProcess(directory: directory, process: process, logName: logName)
        let listening = try await Poll.until(within: timeout, every: .milliseconds(20)) {
            let up = host.namespace == nil ? Ports.canConnect(port) : await host.canConnect(to: host.address, port: port)
            return up || !process.isRunning
        }
        if listening, process.isRunning { return server }
        let log = server.log
        let ending: String
        switch process.ending {
        case nil: ending = "did not start listening"
        case .uncaughtSignal(let signal): ending = "was ended by signal \(signal)"
        case .exit(let status): ending = "exited with status \(status)"
        }
        server.stop()
        throw SubprocessError.notReady("\(executable) on port \(port) \(ending): \(log)")
    }

    /// The process's ID, for reading its memory.
    public var pid: Int32 { process.processIdentifier }

    public var log: String {
        (try? String(contentsOf: directory.appendingPathComponent(logName), encoding: .utf8)) ?? ""
    }

    /// Sends `signal` to the process, if it still runs.
    public func signal(_ signal: Int32) {
        process.signal(signal)
    }

    public func stop() {
        if ProcessInfo.processInfo.environment["DNSSTORE_KEEP_LOGS"] != nil { print(log) }
        halt()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Ends the process (SIGTERM, SIGKILL after ten seconds) and keeps its folder.
    public func halt() {
        if process.isRunning {
            process.signal(SIGCONT)
            process.signal(SIGTERM)
            // Ten seconds to stop, then SIGKILL: waiting without end would hold a thread of the
            // test process's small pool forever.
            var deadline = ContinuousClock.now + .seconds(10)
            while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
            process.signal(SIGKILL)
            deadline = ContinuousClock.now + .seconds(5)
            while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        }
    }
}

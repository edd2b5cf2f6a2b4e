import Foundation

/// A server program the tests started: its folder, its process and its log. Stopped by its PID
/// with SIGTERM, then its folder removed.
public final class ServerProcess: @unchecked Sendable {
    public let directory: URL
    private let process: Process
    private let logName: String

    private init(directory: URL, process: Process, logName: String) {
        self.directory = directory
        self.process = process
        self.logName = logName
    }

    /// Starts `executable` with its output in `directory/logName` and waits until it accepts TCP on `port`.
    static func launch(_ executable: String, _ arguments: [String], in directory: URL, logName: String, port: Int)
        async throws -> ServerProcess
    {
        let process = try Subprocess.start(executable, arguments, logFile: directory.appendingPathComponent(logName).path)
        let server = ServerProcess(directory: directory, process: process, logName: logName)
        do {
            try await Ports.waitForTCP(port)
        } catch {
            let log = server.log
            server.stop()
            throw SubprocessError.notReady("\(executable) on port \(port): \(log)")
        }
        return server
    }

    public var log: String {
        (try? String(contentsOf: directory.appendingPathComponent(logName), encoding: .utf8)) ?? ""
    }

    /// Sends `signal` to the process, if it still runs.
    public func signal(_ signal: Int32) {
        if process.isRunning { kill(process.processIdentifier, signal) }
    }

    public func stop() {
        if ProcessInfo.processInfo.environment["DNSSTORE_KEEP_LOGS"] != nil { print(log) }
        if process.isRunning {
            kill(process.processIdentifier, SIGCONT)
            kill(process.processIdentifier, SIGTERM)
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}

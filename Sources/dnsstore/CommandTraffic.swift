import DNSClient
import DNSWire
import Foundation

/// `--stats`: one count of the command's DNS traffic, reported on standard error when the
/// process exits, however it exits (success, an error's exit code, a signal's handler calling
/// exit).
enum CommandTraffic {
    private static let count = TrafficCount()
    private static let started = Locked(false)

    /// The command's count; the first call arranges for it to be reported at exit.
    static func start() -> TrafficCount {
        let first = started.withLock { started in
            defer { started = true }
            return !started
        }
        if first { atexit { CommandTraffic.report() } }
        return count
    }

    static func report() {
        FileHandle.standardError.write(Data("dnsstore: sent \(count.summary)\n".utf8))
    }
}

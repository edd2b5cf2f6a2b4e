import DNSClient
import DNSStoreRoute53
import DNSWire
import Foundation

/// `--stats`: one count of the command's DNS traffic, reported on standard error when the
/// process exits, however it exits (success, an error's exit code, a signal's handler calling
/// exit).
enum CommandTraffic {
    private static let count = TrafficCount()
    /// A store in Route 53 sends API requests, not DNS messages.
    static let route53Requests = Route53RequestCount()
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
        let said = route53Requests.total > 0 ? route53Requests.summary : count.summary
        FileHandle.standardError.write(Data("dnsstore: sent \(said)\n".utf8))
    }
}

import DNSWire
import Foundation

/// A thread that calls `expire` every `interval` until stopped: the server's own deletion of
/// names whose lease (RFC 9664) ended. A thread of its own, because each call may wait on storage.
final class LeaseExpirer: Sendable {
    private let running = Locked(true)

    init(interval: Duration, expire: @escaping @Sendable () -> Void) {
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        let thread = Thread { [running] in
            while running.withLock({ $0 }) {
                Thread.sleep(forTimeInterval: seconds)
                guard running.withLock({ $0 }) else { return }
                expire()
            }
        }
        thread.name = "dnsstore-lease-expiry"
        thread.start()
    }

    func stop() { running.withLock { $0 = false } }
}

import DNSWire
import Foundation
import NIOPosix

/// Confirms to each caller that a look at shared storage began after the caller arrived, while
/// letting one look serve every caller that arrived before it began: under load, a look per batch
/// of callers instead of one per caller, and never an answer from before a caller's arrival.
///
/// A caller hands over what to do next, and holds no thread while it waits: one that arrives while
/// a look runs is served by the next, begun as soon as the running one ends. A look that fails
/// fails every caller it was to serve.
final class SharedLook: @unchecked Sendable {
    /// How a look went for the callers it served.
    enum Outcome: Sendable {
        case confirmed
        case failed(any Error)
        /// The thread pool stopped before the look could run.
        case abandoned
    }

    private struct Waiting {
        var running = false
        /// Callers the running look serves, and those that arrived after it began.
        var served: [@Sendable (Outcome) -> Void] = []
        var next: [@Sendable (Outcome) -> Void] = []
    }
    private let waiting = Locked(Waiting())

    /// Runs `then` on a thread of `pool` once a look that began after this call ended.
    func confirm(on pool: NIOThreadPool, _ look: @escaping @Sendable () throws -> Void, then: @escaping @Sendable (Outcome) -> Void) {
        let begin = waiting.withLock { waiting -> Bool in
            if waiting.running {
                waiting.next.append(then)
                return false
            }
            waiting.running = true
            waiting.served = [then]
            return true
        }
        if begin { run(on: pool, look) }
    }

    private func run(on pool: NIOThreadPool, _ look: @escaping @Sendable () throws -> Void) {
        pool.submit { state in
            var outcome = Outcome.confirmed
            if case .active = state {
                do { try look() } catch { outcome = .failed(error) }
            } else {
                outcome = .abandoned
            }
            let (served, again) = self.waiting.withLock { waiting -> ([@Sendable (Outcome) -> Void], Bool) in
                let served = waiting.served
                waiting.served = waiting.next
                waiting.next = []
                waiting.running = !waiting.served.isEmpty
                return (served, waiting.running)
            }
            // The next look begins before these callers are answered, so its round trip overlaps
            // with their work.
            if again { self.run(on: pool, look) }
            for caller in served { caller(outcome) }
        }
    }
}

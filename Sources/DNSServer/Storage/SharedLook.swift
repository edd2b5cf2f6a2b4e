import Foundation

/// Confirms to each caller that a look at shared storage began after the caller arrived, while
/// letting one look serve every caller that arrived before it began: under load, a look per batch
/// of callers instead of one per caller, and never an answer from before a caller's arrival.
///
/// A caller that arrives while a look runs waits for it to end and then for the next, which the
/// first of them to wake begins on its own thread. A look that fails fails every caller it was to
/// serve. Callers block on a condition variable: call only from threads that may block.
final class SharedLook: @unchecked Sendable {
    private let condition = NSCondition()
    /// Looks begun, and the number of the last that ended with its failure, if it failed.
    private var begun = 0
    private var ended = 0
    private var running = false
    private var failure: (any Error)?

    /// Returns once a look that began after this call ended; throws that look's error.
    func confirm(_ look: () throws -> Void) throws {
        condition.lock()
        let needed = begun + 1
        while ended < needed {
            if running || begun >= needed {
                condition.wait()
                continue
            }
            begun += 1
            running = true
            let number = begun
            condition.unlock()
            var failed: (any Error)?
            do { try look() } catch { failed = error }
            condition.lock()
            running = false
            ended = number
            failure = failed
            condition.broadcast()
        }
        let failed = failure
        condition.unlock()
        if let failed { throw failed }
    }
}

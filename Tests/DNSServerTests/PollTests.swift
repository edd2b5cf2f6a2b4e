import DNSTestSupport
import Foundation
import Testing

/// The harness's waits: a wait that wakes after its deadline still asks once more, so a test kept
/// off the thread pool by other tests' work never gives up on a server that is ready.
@Suite("Waiting in the harness")
struct PollTests {
    /// Counts the checks made.
    final class Checks: @unchecked Sendable {
        var count = 0
    }

    /// The pause between checks is longer than the whole wait, so the second check comes after
    /// the deadline, as it does when the waiting task wakes late.
    @Test func aWaitThatWakesAfterItsDeadlineAsksOnceMore() async throws {
        let checks = Checks()
        let ready = try await Poll.until(within: .milliseconds(20), every: .milliseconds(200)) {
            checks.count += 1
            return checks.count > 1
        }
        #expect(ready && checks.count == 2)
    }

    @Test func aWaitForWhatNeverComesEndsAfterItsDeadline() async throws {
        let start = ContinuousClock.now
        let value: Int? = try await Poll.value(within: .milliseconds(50), every: .milliseconds(10)) { nil }
        #expect(value == nil && ContinuousClock.now - start >= .milliseconds(50))
    }
}

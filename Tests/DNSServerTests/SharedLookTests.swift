@testable import DNSServer
import DNSWire
import Foundation
import Testing

/// One look at shared storage serves every caller that arrived before it began, and no caller is
/// served by a look that began before it arrived.
@Suite("Shared looks")
struct SharedLookTests {
    struct Failed: Error {}

    @Test func everyCallerIsServedByALookThatBeganAfterItArrivedAndLooksAreShared() async throws {
        let look = SharedLook()
        let begins = Locked<[ContinuousClock.Instant]>([])
        let late = Locked(0)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                        Thread.detachNewThread {
                            for _ in 0..<50 {
                                let arrived = ContinuousClock.now
                                try? look.confirm {
                                    begins.withLock { $0.append(.now) }
                                    Thread.sleep(forTimeInterval: 0.002)
                                }
                                // The last look that began before this returned began after arrival.
                                let served = begins.withLock { $0.last! }
                                if served < arrived { late.withLock { $0 += 1 } }
                            }
                            done.resume()
                        }
                    }
                }
            }
        }
        let looks = begins.withLock { $0.count }
        #expect(late.withLock { $0 } == 0)
        #expect(looks < 400 * 3 / 4, "\(looks) looks for 400 callers: they were not shared")
    }

    @Test func aFailedLookFailsTheCallersItServedAndTheNextLookIsFresh() throws {
        let look = SharedLook()
        #expect(throws: Failed.self) { try look.confirm { throw Failed() } }
        var ran = false
        try look.confirm { ran = true }
        #expect(ran)
    }
}

@testable import DNSServer
import DNSWire
import Foundation
import NIOPosix
import Testing

/// One look at shared storage serves every caller that arrived before it began, and no caller is
/// served by a look that began before it arrived.
@Suite("Shared looks")
struct SharedLookTests {
    struct Failed: Error {}

    /// Looks' begin and end instants, in order.
    final class Looks: Sendable {
        let times = Locked<[(begin: ContinuousClock.Instant, end: ContinuousClock.Instant?)]>([])
        func look() {
            let index = times.withLock { times in
                times.append((.now, nil))
                return times.count - 1
            }
            Thread.sleep(forTimeInterval: 0.002)
            times.withLock { $0[index].end = .now }
        }
        /// Whether a look that began at or after `arrival` has ended.
        func servedSince(_ arrival: ContinuousClock.Instant) -> Bool {
            times.withLock { $0.contains { $0.begin >= arrival && $0.end != nil } }
        }
    }

    @Test func everyCallerIsServedByALookThatBeganAfterItArrivedAndLooksAreShared() async throws {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let shared = SharedLook()
        let looks = Looks()
        let late = Locked(0)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<400 {
                group.addTask {
                    try? await Task.sleep(for: .microseconds(Int.random(in: 0..<20_000)))
                    let arrived = ContinuousClock.now
                    await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
                        shared.confirm(on: pool, { looks.look() }) { outcome in
                            if case .confirmed = outcome, looks.servedSince(arrived) {} else { late.withLock { $0 += 1 } }
                            done.resume()
                        }
                    }
                }
            }
        }
        try await pool.shutdownGracefully()
        let count = looks.times.withLock { $0.count }
        #expect(late.withLock { $0 } == 0, "callers served by a look from before they arrived")
        #expect(count < 400 / 4, "\(count) looks for 400 callers: they were not shared")
    }

    @Test func aFailedLookFailsTheCallersItServedAndTheNextLookIsFresh() async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let shared = SharedLook()
        let first = await withCheckedContinuation { (done: CheckedContinuation<SharedLook.Outcome, Never>) in
            shared.confirm(on: pool, { throw Failed() }) { done.resume(returning: $0) }
        }
        guard case .failed(let error) = first else {
            Issue.record("a failed look gave \(first)")
            try await pool.shutdownGracefully()
            return
        }
        #expect(error is Failed)
        let second = await withCheckedContinuation { (done: CheckedContinuation<SharedLook.Outcome, Never>) in
            shared.confirm(on: pool, {}) { done.resume(returning: $0) }
        }
        try await pool.shutdownGracefully()
        guard case .confirmed = second else { Issue.record("the next look gave \(second)"); return }
    }
}

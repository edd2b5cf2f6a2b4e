@testable import DNSServer
import DNSWire
import Dispatch
import NIOCore
import NIOPosix
import Testing

/// How the group commit forms its batches.
@Suite("Group commit batches")
struct UpdateCommitterTests {
    /// A job whose answer is noted in `delivered` by its number.
    static func job(_ n: Int, _ delivered: Locked<[Int]>) -> UpdateCommitter.Job {
        let message = UpdateBuilder(zone: "example.test.").message(id: UInt16(n))
        let context = RequestContext(request: message, octets: try! message.encode(), transport: .udp, now: 0)
        let update = CheckedUpdate(context: context, origin: "example.test.", prerequisites: [], operations: [])
        return UpdateCommitter.Job(update: update, octets: 12) { _ in delivered.withLock { $0.append(n) } }
    }

    static func waitFor(_ count: Int, _ delivered: Locked<[Int]>) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while delivered.withLock({ $0.count }) < count {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(2))
        }
    }

    @Test func aBatchWaitsForAsManyAsLatelyCameThenForgetsThem() async throws {
        let pool = NIOThreadPool.singleton
        // A long gather delay, so that the test's own pauses cannot pass for it.
        let committer = UpdateCommitter(gatherDelay: .seconds(2))
        let batches = Locked<[[UInt16]]>([])
        let release = DispatchSemaphore(value: 0)
        let commit: @Sendable ([CheckedUpdate]) -> [ByteBuffer?] = { updates in
            let first = batches.withLock { batches in
                batches.append(updates.map(\.context.request.id))
                return batches.count == 1
            }
            if first { release.wait() }  // the first commit lasts until four more have arrived
            return updates.map { _ in ByteBuffer() }
        }
        let delivered = Locked<[Int]>([])
        committer.enqueue(Self.job(1, delivered), on: pool, commit: commit)
        while batches.withLock({ $0.isEmpty }) { try await Task.sleep(for: .milliseconds(1)) }
        for n in 2...5 { committer.enqueue(Self.job(n, delivered), on: pool, commit: commit) }
        release.signal()
        try await Self.waitFor(5, delivered)

        // Four came together: the next batch waits for four, so a writer's UPDATE and three that
        // come 50 ms later go together.
        committer.enqueue(Self.job(6, delivered), on: pool, commit: commit)
        try await Task.sleep(for: .milliseconds(50))
        for n in 7...9 { committer.enqueue(Self.job(n, delivered), on: pool, commit: commit) }
        try await Self.waitFor(9, delivered)
        #expect(batches.withLock { $0 } == [[1], [2, 3, 4, 5], [6, 7, 8, 9]])

        // One alone waits out the delay once; then the expectation is one, and the next goes at once.
        let lone = ContinuousClock.now
        committer.enqueue(Self.job(10, delivered), on: pool, commit: commit)
        try await Self.waitFor(10, delivered)
        #expect(lone.duration(to: .now) >= .seconds(1.5))
        let next = ContinuousClock.now
        committer.enqueue(Self.job(11, delivered), on: pool, commit: commit)
        try await Self.waitFor(11, delivered)
        #expect(next.duration(to: .now) < .seconds(1))
        #expect(batches.withLock { $0 }.suffix(2) == [[10], [11]])
    }
}

import DNSWire
import Dispatch
import Foundation
import NIOCore
import NIOPosix

/// Work that joins others of its kind and is answered when they are done: an UPDATE, which goes
/// to storage together with the UPDATEs that arrive while another transaction is being written.
public struct DeferredWork: Sendable {
    let begin: @Sendable (NIOThreadPool, @escaping @Sendable ([ByteBuffer]) -> Void) -> Void

    /// Starts the work on `pool`; `deliver` gets its answers (none when it was abandoned because
    /// the pool stopped) on one of the pool's threads.
    public func start(on pool: NIOThreadPool, deliver: @escaping @Sendable ([ByteBuffer]) -> Void) {
        begin(pool, deliver)
    }

    /// Starts the work and waits for its answers, for callers that may block; never from a
    /// thread of `pool`, which the work may need.
    public func wait(on pool: NIOThreadPool) -> [ByteBuffer] {
        let result = ResultBox()
        start(on: pool) { result.set($0) }
        return result.wait()
    }

    /// One value handed from a pool thread to a waiting one.
    private final class ResultBox: Sendable {
        private let value = Locked<[ByteBuffer]?>(nil)
        private let done = DispatchSemaphore(value: 0)

        func set(_ answers: [ByteBuffer]) {
            value.withLock { $0 = answers }
            done.signal()
        }

        func wait() -> [ByteBuffer] {
            done.wait()
            return value.withLock { $0 ?? [] }
        }
    }
}

/// UPDATEs waiting for storage (group commit). One batch is written at a time, on a thread of
/// the pool; UPDATEs that arrive meanwhile wait and go to storage together in the next batch, in
/// one transaction with one commit (and one sync to disk with `--fsync`). The engine checks each
/// on its own prerequisites, in arrival order, and each is answered only after its commit.
///
/// Where several writers are busy, the writers answered by one commit send their next UPDATEs a
/// round trip later: had the next batch been taken at once, they would make a batch of their own,
/// and the writers split into cohorts that each pay for a commit. So when fewer UPDATEs wait
/// than the largest batch of the last second held, the batch is taken once that many wait or
/// `gatherDelay` has passed, whichever is first (a wait that ends by time lowers the
/// expectation to what came). A lone writer never waits: its batches hold one UPDATE.
final class UpdateCommitter: @unchecked Sendable {
    /// One UPDATE and where its answer goes (nil: it was abandoned).
    struct Job: Sendable {
        let update: CheckedUpdate
        let octets: Int
        let deliver: @Sendable (ByteBuffer?) -> Void
    }

    private struct State {
        var waiting: [Job] = []
        var writing = false
        /// While the writer waits for more UPDATEs to join the next batch: how many it waits for
        /// (it is woken once, when they are there, not by each arrival).
        var gathering: Int?
        /// The largest batch lately, and when it was taken: how many UPDATEs a batch can expect.
        var expected = (count: 1, at: ContinuousClock.now)
    }

    /// Guards `state`, and wakes a gathering writer when an UPDATE arrives.
    private let condition = NSCondition()
    private var state = State()
    /// The most UPDATEs, and request octets, one transaction takes: bounds its time and memory.
    let maxBatch: Int
    let maxBatchOctets: Int
    /// The longest a batch waits for the UPDATEs it expects.
    let gatherDelay: Duration

    init(maxBatch: Int = 64, maxBatchOctets: Int = 1 << 20, gatherDelay: Duration = .microseconds(600)) {
        self.maxBatch = maxBatch
        self.maxBatchOctets = maxBatchOctets
        self.gatherDelay = gatherDelay
    }

    private func locked<T>(_ body: (inout State) -> T) -> T {
        condition.lock()
        defer { condition.unlock() }
        return body(&state)
    }

    /// Queues `job`; when no batch is being written, starts writing on `pool` with `commit`,
    /// which answers a batch in order (nil: an UPDATE left unanswered).
    func enqueue(_ job: Job, on pool: NIOThreadPool, commit: @escaping @Sendable ([CheckedUpdate]) -> [ByteBuffer?]) {
        let start = locked { state -> Bool in
            state.waiting.append(job)
            if let target = state.gathering, state.waiting.count >= target { condition.signal() }
            guard !state.writing else { return false }
            state.writing = true
            return true
        }
        guard start else { return }
        pool.submit { poolState in
            guard case .active = poolState else { return self.abandonWaiting() }
            self.write(commit)
        }
    }

    /// Writes batches until none is waiting.
    private func write(_ commit: @Sendable ([CheckedUpdate]) -> [ByteBuffer?]) {
        while true {
            let batch = nextBatch()
            guard !batch.isEmpty else { return }
            let answers = commit(batch.map(\.update))
            for (job, answer) in zip(batch, answers) { job.deliver(answer) }
        }
    }

    /// The UPDATEs of the next batch, oldest first; none (and writing over) when none waits.
    private func nextBatch() -> [Job] {
        condition.lock()
        defer { condition.unlock() }
        guard !state.waiting.isEmpty else {
            state.writing = false
            return []
        }
        let now = ContinuousClock.now
        if now - state.expected.at > .seconds(1) { state.expected = (1, now) }
        let expected = min(state.expected.count, maxBatch)
        if state.waiting.count < expected {
            let (seconds, attoseconds) = gatherDelay.components
            let deadline = Date(timeIntervalSinceNow: Double(seconds) + Double(attoseconds) / 1e18)
            state.gathering = expected
            while state.waiting.count < expected, condition.wait(until: deadline) {}
            state.gathering = nil
            if state.waiting.count < expected { state.expected = (state.waiting.count, .now) }
        }
        var count = 0
        var octets = 0
        for job in state.waiting {
            guard count < maxBatch, count == 0 || octets + job.octets <= maxBatchOctets else { break }
            count += 1
            octets += job.octets
        }
        if count >= state.expected.count { state.expected = (count, .now) }
        let batch = Array(state.waiting.prefix(count))
        state.waiting.removeFirst(count)
        return batch
    }

    private func abandonWaiting() {
        let abandoned = locked { state -> [Job] in
            defer {
                state.waiting = []
                state.writing = false
            }
            return state.waiting
        }
        for job in abandoned { job.deliver(nil) }
    }
}


import Synchronization

/// A moving average of how long storage reads take. While it is short, the storage answers from
/// memory (its pages are in the OS cache) and a query that misses the answer cache reads it
/// where it arrived, which saves two thread switches; when reads slow down (a cold disk, storage
/// over a network), queries read on the thread pool, so that one slow read never holds up the
/// answers an event loop gives from memory. It starts slow: the first reads go to the pool.
final class ReadTimes: Sendable {
    /// Reads averaging under this many microseconds count as quick.
    let quickMicroseconds: Int
    private let average: Atomic<Int>

    init(quickMicroseconds: Int) {
        self.quickMicroseconds = quickMicroseconds
        average = Atomic(max(2 * quickMicroseconds, 1_000))
    }

    var isQuick: Bool { average.load(ordering: .relaxed) < quickMicroseconds }

    /// Adds one read's time; each weighs an eighth, so that a stall is felt at once and a few
    /// dozen quick reads undo it.
    func record(_ duration: Duration) {
        let micros = Int(min(duration, .seconds(10)) / .microseconds(1))
        let old = average.load(ordering: .relaxed)
        average.store(old + (micros - old) / 8, ordering: .relaxed)
    }

    /// The average, in microseconds.
    var microseconds: Int { average.load(ordering: .relaxed) }
}

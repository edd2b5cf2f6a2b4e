import DNSWire
import NIOCore

/// Signed UPDATEs seen within their fudge window, by key and MAC, with the answer each got. A
/// request whose MAC was seen before is a retransmission or a replay: it gets the first one's
/// answer and changes nothing again. Once a request's time is outside the fudge window, TSIG
/// itself refuses it (BADTIME), so entries need living only that long; the cache is bounded too.
///
/// Entries leave in the order they arrived: expired ones from the front as time passes, and the
/// oldest when the cache is full. Both cost O(1) per request; the cache used to scan every entry
/// on each request once full, which at 16,384 entries (twenty seconds of steady writes, with the
/// usual five-minute fudge) cost more than the UPDATE itself.
final class ReplayCache: Sendable {
    enum Lookup {
        /// Not seen: the request may proceed; it is now marked as being worked on.
        case fresh
        /// Being worked on right now (the same request arrived twice at once).
        case inProgress
        /// Answered before: send this answer again.
        case answered(ByteBuffer)
    }

    private struct Key: Hashable {
        var keyName: DNSName
        var mac: [UInt8]
    }

    private struct Entry {
        var answer: ByteBuffer?
        /// When TSIG stops accepting the request: time signed plus fudge.
        var expires: UInt64
        /// Which arrival this entry is: a key forgotten and seen again arrives anew.
        var arrival: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        /// Every entry's arrival, oldest first; arrivals of forgotten entries are skipped.
        var arrivals = CircularBuffer<(key: Key, expires: UInt64, arrival: UInt64)>()
        var nextArrival: UInt64 = 0

        /// Drops the oldest arrival, and its entry if it is still that arrival's.
        mutating func dropOldest() {
            let oldest = arrivals.removeFirst()
            if entries[oldest.key]?.arrival == oldest.arrival { entries[oldest.key] = nil }
        }
    }

    private let state = Locked(State())
    let capacity: Int

    init(capacity: Int = 16_384) {
        self.capacity = max(1, capacity)
    }

    func lookup(_ tsig: TSIGRecord, now: UInt64) -> Lookup {
        let key = Key(keyName: tsig.keyName, mac: tsig.mac)
        return state.withLock { state in
            // Arrival order is expiry order give or take the clients' clocks: an entry behind a
            // later one waits for it, still bounded by the capacity.
            while let first = state.arrivals.first, first.expires < now { state.dropOldest() }
            if let entry = state.entries[key] {
                return entry.answer.map(Lookup.answered) ?? .inProgress
            }
            while state.arrivals.count >= capacity { state.dropOldest() }
            let expires = tsig.timeSigned + UInt64(tsig.fudge)
            let arrival = state.nextArrival
            state.nextArrival += 1
            state.entries[key] = Entry(answer: nil, expires: expires, arrival: arrival)
            state.arrivals.append((key, expires, arrival))
            return .fresh
        }
    }

    func record(_ tsig: TSIGRecord, answer: ByteBuffer) {
        state.withLock { $0.entries[Key(keyName: tsig.keyName, mac: tsig.mac)]?.answer = answer }
    }

    /// Forgets a request that was not worked on after all (shed before it ran).
    func forget(_ tsig: TSIGRecord) {
        _ = state.withLock { $0.entries.removeValue(forKey: Key(keyName: tsig.keyName, mac: tsig.mac)) }
    }

    var count: Int { state.withLock { $0.entries.count } }
}

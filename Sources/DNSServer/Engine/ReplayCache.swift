import DNSWire
import NIOCore

/// Signed UPDATEs seen within their fudge window, by key and MAC, with the answer each got. A
/// request whose MAC was seen before is a retransmission or a replay: it gets the first one's
/// answer and changes nothing again. Once a request's time is outside the fudge window, TSIG
/// itself refuses it (BADTIME), so entries need living only that long.
///
/// What an attacker cannot do to it:
/// - flush it: each key has a cache of its own with its own bound, so one key's requests (a
///   limited key's, say) never push out another's; and a request its key may not make never
///   enters it (`reserve` is called only for UPDATEs that passed their checks);
/// - outlast it: when a key's cache is full, its oldest entry goes and the key's low-water mark
///   rises to that entry's time, so any request of that key signed at or before it is refused as
///   too old (`tooOld`), seen or not;
/// - replay across a restart: requests signed before the cache was made (the process started)
///   are refused the same way.
///
/// A refused request gets BADTIME with the server's time, which a client whose clock lags may use
/// to sign again. Entries leave in the order they arrived, so both expiry and eviction cost O(1).
final class ReplayCache: Sendable {
    enum Lookup {
        /// Not seen: the request may proceed.
        case fresh
        /// Being worked on right now (the same request arrived twice at once).
        case inProgress
        /// Answered before: send this answer again.
        case answered(ByteBuffer)
        /// Signed at or before its key's low-water mark, or before the process started: it may be
        /// a replay of a request this cache no longer holds.
        case tooOld
    }

    private struct Entry {
        var answer: ByteBuffer?
        /// When TSIG stops accepting the request: time signed plus fudge.
        var expires: UInt64
        var timeSigned: UInt64
        /// Which arrival this entry is: a MAC forgotten and seen again arrives anew.
        var arrival: UInt64
    }

    /// One key's requests.
    private struct KeyCache {
        var entries: [[UInt8]: Entry] = [:]
        /// Every entry's arrival, oldest first; arrivals of forgotten entries are skipped.
        var arrivals = CircularBuffer<(mac: [UInt8], arrival: UInt64)>()
        var nextArrival: UInt64 = 0
        /// Requests signed at or before this are refused: the newest time of an entry evicted
        /// while its request could still verify.
        var lowWater: UInt64 = 0

        /// Drops the oldest arrival and its entry if it is still that arrival's; returns the entry.
        mutating func dropOldest() -> Entry? {
            let oldest = arrivals.removeFirst()
            guard let entry = entries[oldest.mac], entry.arrival == oldest.arrival else { return nil }
            entries[oldest.mac] = nil
            return entry
        }

        mutating func expire(now: UInt64) {
            while let first = arrivals.first {
                guard let entry = entries[first.mac], entry.arrival == first.arrival else {
                    arrivals.removeFirst()
                    continue
                }
                // Arrival order is expiry order give or take the clients' clocks: an entry behind
                // a later one waits for it, still bounded by the capacity.
                guard entry.expires < now else { return }
                _ = dropOldest()
            }
        }
    }

    private let caches = Locked([DNSName: KeyCache]())
    /// Entries per key.
    let capacity: Int
    /// Requests signed before this (the process's start, in seconds) are refused.
    let notBefore: UInt64

    init(capacity: Int = 16_384, notBefore: UInt64 = WallClock.seconds()) {
        self.capacity = max(1, capacity)
        self.notBefore = notBefore
    }

    /// What is known of a request; changes nothing but expiring old entries.
    func lookup(_ tsig: TSIGRecord, now: UInt64) -> Lookup {
        caches.withLock { caches in
            caches[tsig.keyName]?.expire(now: now)
            if let entry = caches[tsig.keyName]?.entries[tsig.mac] {
                return entry.answer.map(Lookup.answered) ?? .inProgress
            }
            if tsig.timeSigned < notBefore || tsig.timeSigned <= (caches[tsig.keyName]?.lowWater ?? 0) { return .tooOld }
            return .fresh
        }
    }

    /// Marks a request as being worked on, if it is still fresh; otherwise says what it is. A
    /// full key cache makes room by evicting its oldest entry, raising the key's low-water mark.
    func reserve(_ tsig: TSIGRecord, now: UInt64) -> Lookup {
        caches.withLock { caches in
            var cache = caches.removeValue(forKey: tsig.keyName) ?? KeyCache()
            defer { caches[tsig.keyName] = cache }
            cache.expire(now: now)
            if let entry = cache.entries[tsig.mac] { return entry.answer.map(Lookup.answered) ?? .inProgress }
            if tsig.timeSigned < notBefore || tsig.timeSigned <= cache.lowWater { return .tooOld }
            while cache.entries.count >= capacity, !cache.arrivals.isEmpty {
                if let evicted = cache.dropOldest() { cache.lowWater = max(cache.lowWater, evicted.timeSigned) }
            }
            let arrival = cache.nextArrival
            cache.nextArrival += 1
            cache.entries[tsig.mac] = Entry(answer: nil, expires: tsig.timeSigned + UInt64(tsig.fudge), timeSigned: tsig.timeSigned, arrival: arrival)
            cache.arrivals.append((tsig.mac, arrival))
            return .fresh
        }
    }

    func record(_ tsig: TSIGRecord, answer: ByteBuffer) {
        caches.withLock { $0[tsig.keyName]?.entries[tsig.mac]?.answer = answer }
    }

    /// Forgets a request that was not worked on after all (shed before it ran).
    func forget(_ tsig: TSIGRecord) {
        _ = caches.withLock { $0[tsig.keyName]?.entries.removeValue(forKey: tsig.mac) }
    }

    /// Entries held, over every key.
    var count: Int { caches.withLock { $0.values.reduce(0) { $0 + $1.entries.count } } }

    /// A key's low-water mark (0: none yet).
    func lowWater(of key: DNSName) -> UInt64 { caches.withLock { $0[key]?.lowWater ?? 0 } }
}

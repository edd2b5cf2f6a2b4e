import DNSWire
import NIOCore

/// Signed UPDATEs seen within their fudge window, by key and MAC, with the answer each got. A
/// request whose MAC was seen before is a retransmission or a replay: it gets the first one's
/// answer and changes nothing again. Once a request's time is outside the fudge window, TSIG
/// itself refuses it (BADTIME), so entries need living only that long; the cache is bounded too.
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
    }

    private let entries = Locked<[Key: Entry]>([:])
    let capacity: Int

    init(capacity: Int = 16_384) {
        self.capacity = capacity
    }

    func lookup(_ tsig: TSIGRecord, now: UInt64) -> Lookup {
        let key = Key(keyName: tsig.keyName, mac: tsig.mac)
        return entries.withLock { entries in
            if let entry = entries[key] {
                return entry.answer.map(Lookup.answered) ?? .inProgress
            }
            if entries.count >= capacity {
                entries = entries.filter { $0.value.expires >= now }
                if entries.count >= capacity, let oldest = entries.min(by: { $0.value.expires < $1.value.expires })?.key {
                    entries[oldest] = nil
                }
            }
            entries[key] = Entry(answer: nil, expires: tsig.timeSigned + UInt64(tsig.fudge))
            return .fresh
        }
    }

    func record(_ tsig: TSIGRecord, answer: ByteBuffer) {
        entries.withLock { $0[Key(keyName: tsig.keyName, mac: tsig.mac)]?.answer = answer }
    }

    /// Forgets a request that was not worked on after all (shed before it ran).
    func forget(_ tsig: TSIGRecord) {
        _ = entries.withLock { $0.removeValue(forKey: Key(keyName: tsig.keyName, mac: tsig.mac)) }
    }

    var count: Int { entries.withLock { $0.count } }
}

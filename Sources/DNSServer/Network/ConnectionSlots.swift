import DNSWire
import NIOCore

/// The TCP connections open at once, bounded. When every slot is taken, the connection idle the
/// longest is closed to make room (as BIND does), so clients that hold connections without
/// using them cannot lock out new ones; only when none is idle is the newcomer refused.
final class ConnectionSlots: Sendable {
    private struct Entry {
        let channel: any Channel
        /// When it last became idle; nil while it is busy.
        var idleSince: NIODeadline?
    }

    let limit: Int
    private let entries = Locked<[ObjectIdentifier: Entry]>([:])

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot for `channel`, closing the longest-idle connection if none is free.
    func admit(_ channel: any Channel, now: NIODeadline) -> Bool {
        let evicted: (any Channel)? = entries.withLock { entries in
            var victim: (any Channel)?
            if entries.count >= limit {
                guard let oldest = entries.filter({ $0.value.idleSince != nil }).min(by: { $0.value.idleSince! < $1.value.idleSince! })
                else { return nil }
                victim = oldest.value.channel
                entries[oldest.key] = nil
            }
            entries[ObjectIdentifier(channel)] = Entry(channel: channel, idleSince: now)
            return victim
        }
        if let evicted {
            ServerMetrics.tcpClosed(.evicted).increment()
            evicted.close(promise: nil)
        }
        let (admitted, open) = entries.withLock { ($0[ObjectIdentifier(channel)] != nil, $0.count) }
        if admitted {
            ServerMetrics.tcpOpened.increment()
            ServerMetrics.tcpOpen.record(open)
        } else {
            ServerMetrics.tcpClosed(.refused).increment()
        }
        return admitted
    }

    func mark(_ channel: any Channel, idle: Bool, now: NIODeadline) {
        entries.withLock { entries in
            let id = ObjectIdentifier(channel)
            guard var entry = entries[id] else { return }
            if idle {
                if entry.idleSince == nil { entry.idleSince = now }
            } else {
                entry.idleSince = nil
            }
            entries[id] = entry
        }
    }

    func leave(_ channel: any Channel) {
        let open = entries.withLock { entries in
            entries.removeValue(forKey: ObjectIdentifier(channel))
            return entries.count
        }
        ServerMetrics.tcpOpen.record(open)
    }

    var count: Int { entries.withLock { $0.count } }
}

import DNSWire

/// Incremental transfers answered lately, per zone: the records of an IXFR answer from one serial
/// to the serial it ends at. Secondaries told of a change together all ask for the same answer:
/// the first reads the journal, the others are answered from here without storage or a thread.
/// An entry serves only while its end is the zone's serial as the node cache knows it now, so a
/// change retires it at once. Bounded: a few answers per zone, each of at most `maxOctets`.
final class TransferCache: Sendable {
    private struct Entry: Sendable {
        let from: UInt32
        let to: UInt32
        let records: [ResourceRecord]
    }

    /// Octets of records in an answer kept, about; longer answers are read from the journal each time.
    static let maxOctets = 64 << 10
    /// Answers kept per zone: one per serial secondaries start from.
    static let perZone = 8

    private let entries = Locked([DNSName: [Entry]]())

    /// The answer's records from `from` to `to`, when kept.
    func records(_ zone: DNSName, from: UInt32, to: UInt32) -> [ResourceRecord]? {
        entries.withLock { $0[zone]?.first { $0.from == from && $0.to == to }?.records }
    }

    /// Keeps an answer read from the journal. Answers that end before it are dropped (they serve
    /// no more); an answer that ends before those kept is not kept.
    func keep(_ zone: DNSName, from: UInt32, to: UInt32, records: [ResourceRecord]) {
        let octets = records.reduce(0) { $0 + RecordKeys.recordOctets($1.name, $1.rdata) }
        guard octets <= Self.maxOctets else { return }
        entries.withLock { entries in
            var kept = entries[zone] ?? []
            if let end = kept.last?.to, end != to {
                guard SOA.serial(end, isBefore: to) else { return }
                kept = []
            }
            kept.removeAll { $0.from == from }
            kept.append(Entry(from: from, to: to, records: records))
            if kept.count > Self.perZone { kept.removeFirst(kept.count - Self.perZone) }
            entries[zone] = kept
        }
    }
}

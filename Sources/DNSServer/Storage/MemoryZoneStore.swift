import DNSWire

/// Zones held in this process's memory, with the same rules as on disk: for tests and fuzzing of
/// the engine's rules without files. Not durable; never shared with another process.
final class MemoryZoneStore: ZoneStore, Sendable {
    private struct Zone {
        var nodes: [DNSName: [RRType: RRSet]] = [:]
        var steps: [(from: UInt32, to: UInt32, changes: [ZoneChange])] = []
        var leases: [DNSName: UInt64] = [:]
    }

    let changes = ChangeCounter()
    private let zones = Locked<[DNSName: Zone]>([:])
    /// Journal steps kept per zone.
    let journalSteps: Int

    init(journalSteps: Int = 1_000) {
        self.journalSteps = journalSteps
    }

    func createZoneIfMissing(_ origin: DNSName, records: [ResourceRecord]) throws -> Bool {
        zones.withLock { zones in
            guard zones[origin] == nil else { return false }
            var zone = Zone()
            for record in records { zone.nodes[record.name, default: [:]][record.type, default: RRSet(ttl: record.ttl)].insert(record.rdata) }
            zones[origin] = zone
            return true
        }
    }

    func read<T>(_ origin: DNSName, _ body: (any ZoneReading) throws -> T) throws -> T {
        let zone = zones.withLock { $0[origin] ?? Zone() }
        return try body(Reader(origin: origin, nodes: zone.nodes, leases: zone.leases))
    }

    func write<T>(_ origin: DNSName, _ plan: (any ZoneReading) throws -> ZoneWrite<T>) throws -> T {
        try zones.withLock { zones in
            var zone = zones[origin] ?? Zone()
            let planned = try plan(Reader(origin: origin, nodes: zone.nodes, leases: zone.leases))
            for (name, expires) in planned.leases { zone.leases[name] = expires }
            for step in planned.steps {
                for change in step.changes {
                    let r = change.record
                    var node = zone.nodes.removeValue(forKey: r.name) ?? [:]
                    var set = node.removeValue(forKey: r.type) ?? RRSet(ttl: r.ttl)
                    switch change.action {
                    case .add:
                        set.ttl = r.ttl
                        set.insert(r.rdata)
                    case .delete:
                        set.remove(r.rdata)
                    }
                    if set.count > 0 { node[r.type] = set }
                    if !node.isEmpty { zone.nodes[r.name] = node }
                }
                zone.steps.append((step.from, step.to, step.changes))
            }
            if zone.steps.count > journalSteps { zone.steps.removeFirst(zone.steps.count - journalSteps) }
            zones[origin] = zone
            return planned.result
        }
    }

    func journal(_ origin: DNSName, after serial: UInt32) throws -> (any JournalSnapshot)? {
        let (steps, nodes) = zones.withLock { ($0[origin]?.steps ?? [], $0[origin]?.nodes ?? [:]) }
        guard let soa = try Reader(origin: origin, nodes: nodes, leases: [:]).soa(), let start = steps.lastIndex(where: { $0.from == serial }),
            ZoneDiff.chains(steps[start...].map { ($0.from, $0.to) }, from: serial, to: soa.soa.serial)
        else { return nil }
        return JournalInMemory(
            soa: soa.record,
            all: try steps[start...].map { try ZoneDiff(JournalStep(from: $0.from, to: $0.to, changes: $0.changes), zone: origin) })
    }

    func snapshot(_ origin: DNSName) throws -> any ZoneSnapshot {
        let nodes = zones.withLock { $0[origin]?.nodes ?? [:] }
        let reader = Reader(origin: origin, nodes: nodes, leases: [:])
        return Snapshot(soa: try reader.soa()?.record, records: nodes.keys.sorted().flatMap { name in
            (nodes[name] ?? [:]).sorted { $0.key.rawValue < $1.key.rawValue }.flatMap { type, set in
                (name == origin && type == .soa) ? [] : set.rdatas.map { ResourceRecord(name: name, type: type, ttl: set.ttl, rdata: $0) }
            }
        })
    }

    func expiredLeases(_ origin: DNSName, at now: UInt64, limit: Int) throws -> [DNSName] {
        zones.withLock { zones in Array((zones[origin]?.leases ?? [:]).filter { $0.value <= now }.keys.sorted().prefix(limit)) }
    }

    func leasedNames(_ origin: DNSName) throws -> Int {
        zones.withLock { $0[origin]?.leases.count ?? 0 }
    }

    func check(thorough: Bool) throws -> [String] { [] }

    func salvage(_ origin: DNSName) throws -> (records: [ResourceRecord], damaged: [String]) {
        let snapshot = try self.snapshot(origin) as! Snapshot
        return ((snapshot.soa.map { [$0] } ?? []) + snapshot.all, [])
    }

    private struct Reader: ZoneReading {
        let origin: DNSName
        let nodes: [DNSName: [RRType: RRSet]]
        let leases: [DNSName: UInt64]

        func node(_ name: DNSName) throws -> [RRType: RRSet] { nodes[name] ?? [:] }

        func leaseExpiry(_ name: DNSName) throws -> UInt64? { leases[name] }

        func hasDescendants(_ name: DNSName) throws -> Bool {
            nodes.keys.contains { $0 != name && $0.isSubdomain(of: name) }
        }
    }

    private struct Snapshot: ZoneSnapshot {
        let soa: ResourceRecord?
        let all: [ResourceRecord]

        init(soa: ResourceRecord?, records: [ResourceRecord]) {
            self.soa = soa
            self.all = records
        }

        func records(after: [UInt8]?, limit: Int) throws -> (records: [ResourceRecord], next: [UInt8]?) {
            let start = after.map { Int($0[0]) << 24 | Int($0[1]) << 16 | Int($0[2]) << 8 | Int($0[3]) } ?? 0
            let end = min(all.count, start + limit)
            let next = end < all.count ? [UInt8(end >> 24 & 0xFF), UInt8(end >> 16 & 0xFF), UInt8(end >> 8 & 0xFF), UInt8(end & 0xFF)] : nil
            return (Array(all[start..<end]), next)
        }
    }
}

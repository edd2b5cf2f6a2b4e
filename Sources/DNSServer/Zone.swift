import DNSWire

/// The records of one RRset: a TTL and distinct RDATA, compared in canonical form as servers do.
/// Membership is a set lookup, so building or changing an RRset of n records costs O(n), not O(n^2).
public struct RRSet: Sendable, Hashable {
    public var ttl: UInt32
    public private(set) var rdatas: [RData]
    /// The canonical wire form of each record, in step with `rdatas`.
    private var keys: [[UInt8]: Int]

    public init(ttl: UInt32, rdatas: [RData] = []) {
        self.ttl = ttl
        self.rdatas = []
        self.keys = [:]
        for rdata in rdatas { insert(rdata) }
    }

    public var count: Int { rdatas.count }

    public func contains(_ rdata: RData) -> Bool { keys[rdata.canonicalWire] != nil }

    /// The stored record equal to `rdata` (its case kept as it was written).
    public func stored(_ rdata: RData) -> RData? { keys[rdata.canonicalWire].map { rdatas[$0] } }

    /// Adds a record; returns false if an equal one is there.
    @discardableResult
    public mutating func insert(_ rdata: RData) -> Bool {
        let key = rdata.canonicalWire
        guard keys[key] == nil else { return false }
        keys[key] = rdatas.count
        rdatas.append(rdata)
        return true
    }

    /// Removes the record equal to `rdata`; returns the one removed.
    @discardableResult
    public mutating func remove(_ rdata: RData) -> RData? {
        guard let index = keys.removeValue(forKey: rdata.canonicalWire) else { return nil }
        let removed = rdatas[index]
        let last = rdatas.count - 1
        if index != last {
            rdatas[index] = rdatas[last]
            keys[rdatas[index].canonicalWire] = index
        }
        rdatas.removeLast()
        return removed
    }

    /// Octets the RRset takes in an answer whose question is its owner name (compressed owner).
    func answerSize() -> Int {
        rdatas.reduce(0) { $0 + 12 + $1.uncompressedWire.count }
    }
}

/// One zone held in memory: its origin and its names' RRsets. The SOA is the apex's SOA RRset.
public struct Zone: Sendable {
    public let origin: DNSName
    public private(set) var nodes: [DNSName: [RRType: RRSet]] = [:]
    /// For each name above an owner (within the zone), how many owners lie below it: a name with
    /// a count exists as an empty non-terminal. Kept so NXDOMAIN needs no scan.
    private var below: [DNSName: Int] = [:]

    public init(origin: DNSName) { self.origin = origin }

    public var soa: SOA? {
        guard case .soa(let soa)? = nodes[origin]?[.soa]?.rdatas.first else { return nil }
        return soa
    }

    public var serial: UInt32 { soa?.serial ?? 0 }

    public func rrset(_ name: DNSName, _ type: RRType) -> RRSet? { nodes[name]?[type] }

    /// Whether a name exists: it owns records, or is an empty non-terminal above names that do.
    public func nameExists(_ name: DNSName) -> Bool {
        nodes[name] != nil || below[name] != nil
    }

    private mutating func adjustAncestors(of name: DNSName, by delta: Int) {
        var current = name
        while current != origin && !current.isRoot {
            current = current.parent
            let count = (below[current] ?? 0) + delta
            below[current] = count > 0 ? count : nil
        }
    }

    /// Every record, SOA first, in canonical order of names after it: what AXFR sends.
    public var allRecords: [ResourceRecord] {
        var records: [ResourceRecord] = []
        if let soa = rrset(origin, .soa) {
            records += soa.rdatas.map { ResourceRecord(name: origin, type: .soa, ttl: soa.ttl, rdata: $0) }
        }
        for name in nodes.keys.sorted() {
            guard let types = nodes[name] else { continue }
            for (type, set) in types.sorted(by: { $0.key.rawValue < $1.key.rawValue }) where !(name == origin && type == .soa) {
                records += set.rdatas.map { ResourceRecord(name: name, type: type, ttl: set.ttl, rdata: $0) }
            }
        }
        return records
    }

    // MARK: Changes

    /// Adds one record; returns false if it was already there (TTL aside).
    @discardableResult
    public mutating func add(_ record: ResourceRecord) -> Bool {
        if nodes[record.name] == nil { adjustAncestors(of: record.name, by: 1) }
        // Taken out and put back, so the RRset is changed in place rather than copied.
        var node = nodes.removeValue(forKey: record.name) ?? [:]
        var set = node.removeValue(forKey: record.type) ?? RRSet(ttl: record.ttl)
        set.ttl = record.ttl
        let added = set.insert(record.rdata)
        node[record.type] = set
        nodes[record.name] = node
        return added
    }

    /// Removes one record; returns whether it was there.
    @discardableResult
    public mutating func remove(_ name: DNSName, _ type: RRType, _ rdata: RData) -> Bool {
        guard var node = nodes.removeValue(forKey: name) else { return false }
        var removed = false
        if var set = node.removeValue(forKey: type) {
            removed = set.remove(rdata) != nil
            if set.count > 0 { node[type] = set }
        }
        if node.isEmpty {
            adjustAncestors(of: name, by: -1)
        } else {
            nodes[name] = node
        }
        return removed
    }
}

/// One change to a zone, as the journal and IXFR record it.
public struct ZoneChange: Sendable, Hashable {
    public enum Action: Int, Sendable { case delete = 0, add = 1 }
    public var action: Action
    public var record: ResourceRecord
}

/// The changes between two serials: what IXFR sends for one step.
public struct ZoneDiff: Sendable {
    public var fromSOA: ResourceRecord
    public var toSOA: ResourceRecord
    public var deleted: [ResourceRecord]
    public var added: [ResourceRecord]
}

/// RFC 1982 serial arithmetic: the serial after `serial`.
func nextSerial(_ serial: UInt32) -> UInt32 {
    let next = serial &+ 1
    return next == 0 ? 1 : next
}

extension Zone {
    /// Applies journaled changes in order, in place.
    public mutating func apply(_ changes: [ZoneChange]) {
        for change in changes {
            switch change.action {
            case .add: add(change.record)
            case .delete: remove(change.record.name, change.record.type, change.record.rdata)
            }
        }
    }
}

/// An UPDATE's view of a zone: the zone as it is, plus the RRsets the update has changed so far.
/// Only what the update touches is copied, so an update costs the same in a zone of ten names or
/// of a hundred thousand.
struct ZoneDraft {
    let base: Zone
    private var overlay: [DNSName: [RRType: RRSet?]] = [:]

    init(_ base: Zone) { self.base = base }

    var origin: DNSName { base.origin }

    func rrset(_ name: DNSName, _ type: RRType) -> RRSet? {
        if let changed = overlay[name]?[type] { return changed }
        return base.rrset(name, type)
    }

    /// The name's RRsets after the changes so far.
    func types(at name: DNSName) -> [RRType: RRSet] {
        var result = base.nodes[name] ?? [:]
        for (type, set) in overlay[name] ?? [:] { result[type] = set }
        return result
    }

    @discardableResult
    mutating func add(_ record: ResourceRecord) -> Bool {
        var set = take(record.name, record.type) ?? RRSet(ttl: record.ttl)
        set.ttl = record.ttl
        let added = set.insert(record.rdata)
        overlay[record.name, default: [:]][record.type] = .some(set)
        return added
    }

    mutating func remove(_ name: DNSName, _ type: RRType, _ rdata: RData) {
        guard var set = take(name, type) else { return }
        set.remove(rdata)
        overlay[name, default: [:]][type] = .some(set.count == 0 ? nil : set)
    }

    /// The RRset as changed so far, taken out of the overlay so that changing it copies nothing
    /// (the first change copies it from the zone once).
    private mutating func take(_ name: DNSName, _ type: RRType) -> RRSet? {
        if let changed = overlay[name]?.removeValue(forKey: type) { return changed }
        return base.rrset(name, type)
    }
}

import DNSWire

/// The records of one RRset: a TTL and distinct RDATA, compared in canonical form as servers do.
/// Membership is a set lookup, so building or changing an RRset of n records costs O(n), not O(n^2).
public struct RRSet: Sendable, Hashable {
    /// The TTL every record of the set has.
    public var ttl: UInt32
    public private(set) var rdatas: [RData]
    /// The canonical wire form of each record, in step with `rdatas`.
    private var keys: [[UInt8]: Int]

    /// A set of `rdatas` with duplicates dropped.
    public init(ttl: UInt32, rdatas: [RData] = []) {
        self.ttl = ttl
        self.rdatas = []
        self.keys = [:]
        for rdata in rdatas { insert(rdata) }
    }

    /// Records in the set.
    public var count: Int { rdatas.count }

    /// Whether a record equal to `rdata` (canonical form) is in the set.
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

/// One change to a zone, as the journal and IXFR record it.
public struct ZoneChange: Sendable, Hashable {
    /// Whether the record went or came.
    public enum Action: Int, Sendable { case delete = 0, add = 1 }
    /// Whether it was deleted or added.
    public var action: Action
    /// The record deleted or added.
    public var record: ResourceRecord

    public init(action: Action, record: ResourceRecord) {
        self.action = action
        self.record = record
    }
}

/// The changes between two serials: what IXFR sends for one step.
public struct ZoneDiff: Sendable {
    /// The SOA before the step.
    public var fromSOA: ResourceRecord
    /// The SOA after it.
    public var toSOA: ResourceRecord
    /// Records the step removed.
    public var deleted: [ResourceRecord]
    /// Records the step added.
    public var added: [ResourceRecord]
}

/// RFC 1982 serial arithmetic: the serial after `serial`.
func nextSerial(_ serial: UInt32) -> UInt32 {
    let next = serial &+ 1
    return next == 0 ? 1 : next
}

/// An UPDATE's view of a zone: the zone as storage has it, read by name as needed, plus the
/// RRsets the update has changed so far. Only what the update touches is read or copied, so an
/// update costs the same in a zone of ten names or of a million.
struct ZoneDraft {
    let base: any ZoneReading
    private var overlay: [DNSName: [RRType: RRSet?]] = [:]

    init(_ base: any ZoneReading) { self.base = base }

    var origin: DNSName { base.origin }

    func rrset(_ name: DNSName, _ type: RRType) throws -> RRSet? {
        if let changed = overlay[name]?[type] { return changed }
        return try base.rrset(name, type)
    }

    /// The name's RRsets after the changes so far.
    func types(at name: DNSName) throws -> [RRType: RRSet] {
        var result = try base.node(name)
        for (type, set) in overlay[name] ?? [:] { result[type] = set }
        return result
    }

    /// Whether any name below `name` owns records after the changes so far (a name whose records
    /// the draft removed may still count: the answer errs towards yes).
    func hasDescendants(_ name: DNSName) throws -> Bool {
        let added = overlay.contains { owner, sets in owner != name && owner.isSubdomain(of: name) && sets.values.contains { $0 != nil } }
        return try added || base.hasDescendants(name)
    }

    @discardableResult
    mutating func add(_ record: ResourceRecord) throws -> Bool {
        var set = try take(record.name, record.type) ?? RRSet(ttl: record.ttl)
        set.ttl = record.ttl
        let added = set.insert(record.rdata)
        overlay[record.name, default: [:]][record.type] = .some(set)
        return added
    }

    mutating func remove(_ name: DNSName, _ type: RRType, _ rdata: RData) throws {
        guard var set = try take(name, type) else {
            // Nothing there, perhaps removed earlier in this draft: keep it removed.
            overlay[name, default: [:]][type] = .some(nil)
            return
        }
        set.remove(rdata)
        overlay[name, default: [:]][type] = .some(set.count == 0 ? nil : set)
    }

    /// The RRset as changed so far, taken out of the overlay so that changing it copies nothing
    /// (the first change copies it from storage once).
    private mutating func take(_ name: DNSName, _ type: RRType) throws -> RRSet? {
        if let changed = overlay[name]?.removeValue(forKey: type) { return changed }
        return try base.rrset(name, type)
    }
}

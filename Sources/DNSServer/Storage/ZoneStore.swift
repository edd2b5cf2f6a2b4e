import DNSWire
import NIOPosix

/// One zone's data as a transaction sees it, read by name: what a query or an UPDATE needs,
/// never the whole zone.
protocol ZoneReading {
    var origin: DNSName { get }
    /// The RRsets owned by `name`: empty when it owns none.
    func node(_ name: DNSName) throws -> [RRType: RRSet]
    /// Whether any name below `name` owns records (so that `name` exists as an empty non-terminal).
    func hasDescendants(_ name: DNSName) throws -> Bool
    /// When the name's lease (RFC 9664) ends, in seconds since 1970; nil when it has none.
    func leaseExpiry(_ name: DNSName) throws -> UInt64?
    /// Reads the nodes of `names` at once, so that `node` finds them without another read: for
    /// storage where every read is a round trip. A hint only; by default nothing.
    func prefetch(_ names: Set<DNSName>) throws
}

extension ZoneReading {
    func prefetch(_ names: Set<DNSName>) throws {}
}

/// What one write transaction stores: journal steps (each with its serial) and changes to names'
/// leases (RFC 9664), which are not journaled: a lease is this server's business, and what it
/// does at expiry (deleting the name) is a step like any other.
struct ZoneWrite<Result> {
    var steps: [JournalStep]
    /// Names whose lease is set (to its end, in seconds since 1970) or removed (nil).
    var leases: [DNSName: UInt64?] = [:]
    var result: Result
}

extension ZoneStore {
    /// Nothing held that outlives the object.
    func close() {}

    var changesSeenAtOnce: Bool { true }
    var readsAreLocal: Bool { true }
    var confirmsChanges: Bool { false }
    func confirmChanges() throws {}
    func confirmChanges(on pool: NIOThreadPool, then: @escaping @Sendable (SharedLook.Outcome) -> Void) { then(.confirmed) }

    /// From the journal, a page of steps at a time (see `Authority.transferStepOctets`).
    func changedNames(_ origin: DNSName, after serial: UInt32, upTo current: UInt32, limit: Int) throws -> Set<DNSName>? {
        // The journal may reach past `current` (later commits): forgetting their names too is harmless.
        guard let journal = try journal(origin, after: serial) else { return nil }
        var changed = Set<DNSName>()
        var position: Int? = journal.start
        while let from = position, changed.count <= limit {
            let page = try journal.diffs(from: from, octets: Authority.transferStepOctets)
            for diff in page.diffs { changed.formUnion((diff.deleted + diff.added).map(\.name)) }
            position = page.next
        }
        return changed.count <= limit ? changed : nil
    }
}

extension RRSet {
    /// The records of one name gathered into RRsets by type; the TTL read last wins.
    static func node(of records: [ResourceRecord]) -> [RRType: RRSet] {
        var node: [RRType: RRSet] = [:]
        for record in records {
            var set = node.removeValue(forKey: record.type) ?? RRSet(ttl: record.ttl)
            set.ttl = record.ttl
            set.insert(record.rdata)
            node[record.type] = set
        }
        return node
    }
}

/// One journal step as stored: the serials it goes between and its changes in order.
struct JournalStep {
    var from: UInt32
    var to: UInt32
    var changes: [ZoneChange]
}

extension ZoneDiff {
    /// One journal step as a difference; throws when it lacks its SOA change (damaged storage).
    init(_ step: JournalStep, zone origin: DNSName) throws {
        guard let from = step.changes.first(where: { $0.action == .delete && $0.record.type == .soa })?.record,
            let to = step.changes.first(where: { $0.action == .add && $0.record.type == .soa })?.record
        else { throw StorageError.damaged("zone \(origin): journal step \(step.from) -> \(step.to) has no SOA change") }
        self.init(
            fromSOA: from, toSOA: to,
            deleted: step.changes.filter { $0.action == .delete && $0.record.type != .soa }.map(\.record),
            added: step.changes.filter { $0.action == .add && $0.record.type != .soa }.map(\.record))
    }

    /// Whether the serials of the journal's steps, in order, chain from `serial` to `current`
    /// without a gap: what an incremental transfer needs before it sends its first message.
    static func chains(_ links: some Sequence<(from: UInt32, to: UInt32)>, from serial: UInt32, to current: UInt32?) -> Bool {
        var expected = serial
        for link in links {
            guard link.from == expected else { return false }
            expected = link.to
        }
        return expected == current
    }
}

/// A zone's journal as one transaction saw it, from a serial to the zone's SOA then: what an
/// incremental transfer sends, read a page of steps at a time, so that a transfer holds about one
/// page however long the journal (a slow reader slows the transfer instead).
protocol JournalSnapshot: Sendable {
    /// The zone's SOA when the view was taken, where the last step leads.
    var soa: ResourceRecord { get }
    /// Where the first page starts.
    var start: Int { get }
    /// The steps from position `from` on, as differences: as many as fit in about `octets` of
    /// stored changes, at least one; and where the next page starts (nil: at the end).
    func diffs(from: Int, octets: Int) throws -> (diffs: [ZoneDiff], next: Int?)
}

/// A journal whose steps are all in memory already.
struct JournalInMemory: JournalSnapshot {
    let soa: ResourceRecord
    let all: [ZoneDiff]
    var start: Int { 0 }

    func diffs(from: Int, octets: Int) throws -> (diffs: [ZoneDiff], next: Int?) {
        var end = from
        var size = 0
        while end < all.count, end == from || size < octets {
            size += (all[end].deleted + all[end].added).reduce(64) { $0 + RecordKeys.recordOctets($1.name, $1.rdata) }
            end += 1
        }
        return (Array(all[from..<end]), end < all.count ? end : nil)
    }
}

/// The serial of an SOA record; nil for other types.
func serialOf(_ record: ResourceRecord) -> UInt32? {
    if case .soa(let soa) = record.rdata { return soa.serial }
    return nil
}

/// How much history a zone's journal keeps. Its octets may not pass `maxOctets`, or when that is
/// nil the larger of 512 KiB and a quarter of the zone's own octets (secondaries told by NOTIFY
/// catch up within seconds; one that fell further behind gets the whole zone); steps older than
/// `maxAge` go too, found by a look at the oldest steps at most once a minute. The newest step
/// always stays.
struct JournalLimits: Sendable {
    var maxOctets: Int?
    var maxAge: Int = 7 * 24 * 3600

    /// The octets the journal may hold for a zone of `zoneOctets`.
    func budget(zoneOctets: Int) -> Int { maxOctets ?? max(512 << 10, zoneOctets / 4) }
}

extension ZoneReading {
    func rrset(_ name: DNSName, _ type: RRType) throws -> RRSet? { try node(name)[type] }

    /// The zone's SOA record and its fields.
    func soa() throws -> (record: ResourceRecord, soa: SOA)? {
        guard let set = try rrset(origin, .soa), case .soa(let soa)? = set.rdatas.first else { return nil }
        return (ResourceRecord(name: origin, type: .soa, ttl: set.ttl, rdata: .soa(soa)), soa)
    }
}

/// Where zones live. The engine's rules (prerequisites, TSIG, serials, the journal's meaning,
/// IXFR) sit above this, written once; an implementation stores, reads by name and keeps writes
/// to one zone in a single order that every process sharing the storage agrees on.
protocol ZoneStore: Sendable {
    /// Raised after every commit by every process sharing the storage (by the engine, right after
    /// the commit returns).
    var changes: ChangeCounter { get }

    /// Whether `changes` sees every commit of every process the moment it returns, so that a
    /// cache checked against it is never behind. False for storage shared over a network,
    /// whose commits this process cannot see at no cost.
    var changesSeenAtOnce: Bool { get }

    /// Whether `confirmChanges` can bring `changes` up to date on demand, where commits are not
    /// seen at once: then a query first confirms (off the event loop) and may be answered from
    /// the cache; otherwise every query reads storage.
    var confirmsChanges: Bool { get }

    /// Raises `changes` if another process committed since the last look, by a look that begins
    /// after this call; blocks until it ends.
    func confirmChanges() throws

    /// The same without blocking: `then` runs on a thread of `pool` once a look that began after
    /// this call ended, one look serving every call that waits for it.
    func confirmChanges(on pool: NIOThreadPool, then: @escaping @Sendable (SharedLook.Outcome) -> Void)

    /// Whether a read is a lookup in this process's memory or a local file, which an event loop
    /// may make when it is quick; false for storage reached over a network, whose reads wait on
    /// another event loop and must never run on one.
    var readsAreLocal: Bool { get }

    /// Creates the zone holding `records` unless it exists; returns whether it was created.
    func createZoneIfMissing(_ origin: DNSName, records: [ResourceRecord]) throws -> Bool

    /// Reads one zone with a consistent view.
    func read<T>(_ origin: DNSName, _ body: (any ZoneReading) throws -> T) throws -> T

    /// Runs `plan` in a transaction that excludes every other writer of the zone, and stores the
    /// steps it returns, in order, each journaled as its own step (several UPDATEs committed
    /// together), and its leases, all together or not at all. Nothing returned: nothing written.
    func write<T>(_ origin: DNSName, _ plan: (any ZoneReading) throws -> ZoneWrite<T>) throws -> T

    /// Up to `limit` names of the zone whose lease ended at or before `now`.
    func expiredLeases(_ origin: DNSName, at now: UInt64, limit: Int) throws -> [DNSName]

    /// How many names of the zone hold a lease (ended or not).
    func leasedNames(_ origin: DNSName) throws -> Int

    /// The journaled steps after `serial` up to the current serial, in order, as a view to read a
    /// page at a time; nil when the journal does not reach back to `serial` in one unbroken chain.
    func journal(_ origin: DNSName, after serial: UInt32) throws -> (any JournalSnapshot)?

    /// The names changed by the journal's steps from `serial` up to `current`, or nil when the
    /// journal does not chain from one to the other or more than `limit` names changed: what a
    /// cache forgets to catch up with commits made elsewhere.
    func changedNames(_ origin: DNSName, after serial: UInt32, upTo current: UInt32, limit: Int) throws -> Set<DNSName>?

    /// A frozen view of the zone for a transfer, read a page at a time.
    func snapshot(_ origin: DNSName) throws -> any ZoneSnapshot

    /// Problems found checking the storage itself (`thorough`: every page), empty when sound.
    func check(thorough: Bool) throws -> [String]

    /// Closes the storage: its files or connections are released, and every later use fails.
    func close()

    /// Every record of the zone that can still be decoded, and why the others cannot.
    func salvage(_ origin: DNSName) throws -> (records: [ResourceRecord], damaged: [String])
}

/// A zone as it was when the snapshot was taken.
protocol ZoneSnapshot: Sendable {
    /// The SOA at the time of the snapshot.
    var soa: ResourceRecord? { get }
    /// Up to `limit` records after the position `after` (nil: from the start) in canonical order,
    /// the SOA left out, and the position to continue from (nil: the end).
    func records(after: [UInt8]?, limit: Int) throws -> (records: [ResourceRecord], next: [UInt8]?)
}

/// Why stored data could not be used.
public enum StorageError: Error, CustomStringConvertible {
    /// A stored record that does not decode, or a zone without its SOA or NS.
    case damaged(String)

    /// What is damaged.
    public var description: String {
        switch self {
        case .damaged(let why): return "damaged storage: \(why)"
        }
    }
}

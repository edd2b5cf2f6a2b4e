import DNSClient
import DNSWire
import Foundation
import Logging
import Metrics
import NIOCore
import Synchronization

/// An authoritative DNS engine: answers queries, applies RFC 2136 UPDATEs atomically and durably,
/// serves AXFR and IXFR, and sends NOTIFY. It knows zones, not documents. Requests and answers are
/// DNS messages in wire form, whether they came over a socket or from the same process.
///
/// Zones stay in storage and are read by name; a bounded cache keeps the names recently asked
/// about. Every process sharing the storage raises a shared counter after each commit, so the
/// cache is checked against it before every answer and is never behind another process's commit.
public final class Authority: Sendable {
    /// What it serves and whom it lets write, as it was started with.
    public let configuration: AuthorityConfiguration
    let store: any ZoneStore
    let cache: NodeCache
    /// IXFR answers lately read from the journal, for the secondaries that ask for the same one.
    let transfers = TransferCache()
    /// Answers as sent, for plain queries asked again.
    let prepared: PreparedAnswers
    let logger: Logger
    /// Refusals and failures of requests, logged with their reasons, rate-limited per kind.
    let refusals: RefusalLog
    let notifier: Notifier?
    /// Counts an operator (or a test) can read.
    public let statistics = Statistics()
    /// Requests by opcode, transport and RCODE, UPDATEs by outcome, durations (metrics backend).
    let requestMetrics = RequestMetrics()

    /// Counters read without a lock, for operators and tests.
    public final class Statistics: Sendable {
        /// IXFR answers sent as differences.
        public let incrementalTransfers = Atomic<Int>(0)
        /// AXFR answers, and IXFR answers that had to send the whole zone.
        public let fullTransfers = Atomic<Int>(0)
        /// Queries answered from the cache, and from storage.
        public let cacheHits = Atomic<Int>(0)
        /// Queries that had to read storage.
        public let cacheMisses = Atomic<Int>(0)
        /// Queries answered with the octets of an earlier answer (`PreparedAnswers`).
        public let preparedHits = Atomic<Int>(0)
        /// IXFR answers whose records were kept from an earlier one (`TransferCache`).
        public let transfersFromMemory = Atomic<Int>(0)
        /// Storage transactions that committed UPDATEs: fewer than the UPDATEs when several
        /// were committed together.
        public let updateCommits = Atomic<Int>(0)
    }

    /// Blocking work admitted and not yet finished, by kind; beyond their limits, requests are shed.
    let updateQueue: WorkQueue
    let transferQueue: WorkQueue
    let readQueue: WorkQueue
    /// Answers to signed UPDATEs still inside their TSIG window, for retransmissions and replays.
    let replays = ReplayCache()
    /// UPDATEs from the network waiting to go to storage together.
    let committer = UpdateCommitter()
    /// How long storage reads have been taking: whether a query may read where it arrived.
    let readTimes: ReadTimes
    /// The thread that deletes names whose lease ended, once started (`startExpiringLeases`).
    private let expirer = Locked<LeaseExpirer?>(nil)

    /// Opens (or creates) the zone database at `path` and creates the configured zones that are
    /// missing. Refuses storage that a newer version wrote, and zones without their SOA or NS
    /// (unless `checkingZones` is false: to salvage what is left of them).
    public convenience init(
        databasePath: String, configuration: AuthorityConfiguration, logger: Logger = Logger(label: "dnsstore.server"),
        checkingZones: Bool = true
    ) throws {
        let store: SQLiteZoneStore
        do {
            store = try SQLiteZoneStore(
                path: databasePath, syncEveryCommit: configuration.syncEveryCommit,
                limits: .init(maxOctets: configuration.journalMaxOctets, maxAge: configuration.journalMaxAge))
        } catch let error as AuthorityError {
            throw error
        } catch {
            throw AuthorityError.storage("cannot open \(databasePath): \(error)")
        }
        try self.init(store: store, configuration: configuration, logger: logger, checkingZones: checkingZones)
    }

    #if PostgreSQL
        /// Opens the zones in the PostgreSQL database at `url` (creating its tables and the
        /// configured zones when missing), shared with every other engine opened on it.
        public convenience init(
            postgresURL url: String, configuration: AuthorityConfiguration, logger: Logger = Logger(label: "dnsstore.server"),
            checkingZones: Bool = true
        ) throws {
            let store = try PostgresZoneStore(
                url: url, limits: .init(maxOctets: configuration.journalMaxOctets, maxAge: configuration.journalMaxAge), logger: logger)
            try self.init(store: store, configuration: configuration, logger: logger, checkingZones: checkingZones)
        }
    #endif

    /// An engine whose zones live in this process's memory only: the same rules, without a file.
    /// For tests and fuzzing; nothing it holds survives it.
    public convenience init(inMemory configuration: AuthorityConfiguration, logger: Logger = Logger(label: "dnsstore.server")) throws {
        try self.init(store: MemoryZoneStore(), configuration: configuration, logger: logger, checkingZones: true)
    }

    init(store: any ZoneStore, configuration: AuthorityConfiguration, logger: Logger, checkingZones: Bool) throws {
        self.configuration = configuration
        self.logger = logger
        refusals = RefusalLog(logger: logger)
        updateQueue = WorkQueue(kind: "update", limit: configuration.maxPendingUpdates)
        transferQueue = WorkQueue(kind: "transfer", limit: configuration.maxPendingTransfers)
        readQueue = WorkQueue(kind: "read", limit: configuration.maxPendingReads)
        readTimes = ReadTimes(quickMicroseconds: configuration.quickReadMicroseconds)
        self.store = store
        cache = NodeCache(capacity: configuration.cacheOctets, zones: configuration.zones)
        prepared = PreparedAnswers(maxOctets: configuration.preparedAnswerOctets)
        notifier = configuration.notify.isEmpty
            ? nil
            : Notifier(targets: configuration.notify, delay: configuration.notifyDelay, logger: logger) { [store] origin in
                try? store.read(origin) { try $0.soa()?.soa.serial }
            }
        guard checkingZones else { return }
        for origin in configuration.zones {
            if try store.createZoneIfMissing(origin, records: Self.emptyZone(origin)) { store.changes.bump() }
        }
        try checkZones()
    }

    /// A new zone: SOA and one NS, both naming `localhost.` so no glue is needed.
    static func emptyZone(_ origin: DNSName) -> [ResourceRecord] {
        // Refresh and retry bound how stale a secondary gets when every NOTIFY to it is lost
        // (docs/CONSISTENCY.md): it asks for the SOA every 60 s, 10 s after a failure.
        let soa = SOA(mname: "localhost.", rname: (try? origin.prepending("hostmaster")) ?? origin, serial: 1,
                      refresh: 60, retry: 10, expire: 604_800, minimum: 30)
        return [
            ResourceRecord(name: origin, type: .soa, ttl: 300, rdata: .soa(soa)),
            ResourceRecord(name: origin, type: .ns, ttl: 300, rdata: .ns("localhost.")),
        ]
    }

    /// Every zone served has its SOA and NS, readable: a zone without them would be served
    /// wrongly, so it is not served at all.
    func checkZones() throws {
        for origin in configuration.zones {
            do {
                try store.read(origin) { zone in
                    guard try zone.soa() != nil else { throw StorageError.damaged("zone \(origin) has no SOA record") }
                    guard try zone.rrset(origin, .ns) != nil else { throw StorageError.damaged("zone \(origin) has no NS records") }
                }
            } catch {
                throw AuthorityError.storage("refusing to serve \(origin): \(error)")
            }
        }
    }

    /// Stops what the engine does in the background (NOTIFYs, the expiry of leases).
    public func shutdown() async {
        expirer.withLock { $0?.stop() }
        await notifier?.shutdown()
    }

    /// Shuts down, then closes the storage: for an engine in a program that is done with it
    /// (an embedded store). It answers nothing after.
    public func close() async {
        await shutdown()
        store.close()
    }

    // MARK: Leases (RFC 9664)

    /// Deletes, in one journaled step per zone, every name whose lease ended at or before `now`
    /// (at most `limit` per zone a call); returns how many names it deleted. Secondaries and
    /// watchers see the deletions like any other change.
    /// With `counting`, it also sets each zone's gauge of leased names.
    @discardableResult
    public func expireLeases(now: UInt64 = WallClock.seconds(), limit: Int = 1_000, counting: Bool = false) -> Int {
        var deleted = 0
        for origin in configuration.zones {
            do {
                if counting {
                    Gauge(label: "dnsstore_leased_names", dimensions: [("zone", origin.description)]).record(try store.leasedNames(origin))
                }
                let names = try store.expiredLeases(origin, at: now, limit: limit)
                guard !names.isEmpty else { continue }
                let request = Message(id: 0, opcode: .update, questions: [Question(name: origin, type: .soa)])
                let context = RequestContext(request: request, octets: ByteBuffer(), transport: .local, now: now)
                var update = CheckedUpdate(context: context, origin: origin, prerequisites: [], operations: names.map { .deleteName($0) })
                update.expiring = now
                _ = commit([update])
                deleted += names.count
                ServerMetrics.leasesExpired.increment(by: names.count)
                logger.info("names deleted as their lease ended", metadata: ["zone": "\(origin)", "names": "\(names.count)"])
            } catch {
                let level: Logger.Level = (error as? AuthorityError)?.isRepeat == true ? .debug : .error
                logger.log(level: level, "cannot expire leases", metadata: ["zone": "\(origin)", "error": "\(error)"])
            }
        }
        return deleted
    }

    /// Starts a thread that expires leases every `interval`, until `shutdown`. A name is deleted
    /// within `interval` of its lease's end.
    public func startExpiringLeases(every interval: Duration = .seconds(1)) {
        expirer.withLock { current in
            guard current == nil else { return }
            // The leased names are counted every 10 s: a count reads every lease of the zone.
            let everyCount = max(1, Int((Duration.seconds(10) / interval).rounded(.up)))
            let passes = Locked(0)
            current = LeaseExpirer(interval: interval) { [weak self] in
                let pass = passes.withLock { pass in
                    defer { pass += 1 }
                    return pass
                }
                self?.expireLeases(counting: pass % everyCount == 0)
            }
        }
    }

    /// Problems in the storage itself (`thorough`: every page is read), empty when it is sound.
    public func checkStorage(thorough: Bool) throws -> [String] {
        try store.check(thorough: thorough)
    }

    /// Every record of `zone` that can still be read, and what could not.
    public func salvage(_ zone: DNSName) throws -> (records: [ResourceRecord], damaged: [String]) {
        try store.salvage(zone)
    }

    // MARK: Zones

    /// The zone that holds `name`: the longest origin above it.
    func zone(for name: DNSName) -> DNSName? {
        configuration.zones.filter { name.isSubdomain(of: $0) }.max { $0.labelCount < $1.labelCount }
    }

    /// Names changed in other processes that the cache forgets one by one; more, and it starts afresh.
    static let cacheRefreshNames = 10_000

    /// Brings the cache up to the storage's change counter: removes the names the journal says
    /// changed since it last looked, or everything when the journal does not reach back.
    func refreshCache() {
        let counter = store.changes.value
        guard !cache.isCurrent(at: counter) else { return }
        let (previous, serials) = cache.position
        var changed = Set<DNSName>()
        var current: [DNSName: UInt32] = [:]
        var complete = true
        for origin in configuration.zones {
            do {
                let serial = try store.read(origin) { try $0.soa()?.soa.serial } ?? 0
                current[origin] = serial
                guard let seen = serials[origin] else {
                    complete = false
                    continue
                }
                guard seen != serial else { continue }
                guard let names = try store.changedNames(origin, after: seen, upTo: serial, limit: Self.cacheRefreshNames - changed.count) else {
                    complete = false
                    continue
                }
                changed.formUnion(names)
            } catch {
                logger.error("cannot read zone changes", metadata: ["zone": "\(origin)", "error": "\(error)"])
                complete = false
            }
        }
        if complete {
            cache.apply(changed: changed, zoneSerials: current, from: previous, to: counter)
        } else {
            cache.reset(counter: counter, zoneSerials: current)
        }
    }

    /// After this process committed `changes` to `origin`, from serial `from` to `serial`: tells
    /// other processes and removes what changed from the cache. The cache moves on to `serial`
    /// only when it stood at `from`: a commit of another process in between (which this one's
    /// counter may not show yet, and on PostgreSQL does not until a look) would otherwise be
    /// skipped, its names left stale in the cache for good.
    func committed(_ changes: [ZoneChange], to origin: DNSName, from: UInt32, serial: UInt32) {
        let before = store.changes.bump()
        let names = Set(changes.map(\.record.name))
        if !cache.apply(changed: names, zoneSerials: [origin: serial], from: before, to: before &+ 1, after: [origin: from]) {
            // Another process committed too: the next read from storage catches up from the journal.
            cache.forget(names)
        }
        notifier?.zoneChanged(origin, serial: serial)
        ServerMetrics.serial(origin.description).record(Int64(serial))
    }

    func payloadLimit(_ context: RequestContext) -> Int {
        switch context.transport {
        case .tcp, .local: return 65535
        case .udp:
            guard let edns = context.request.edns else { return 512 }
            return Int(min(max(edns.udpPayloadSize, 512), configuration.udpPayloadSize))
        }
    }
}


/// Why an authority could not start or go on.
public enum AuthorityError: Error, CustomStringConvertible {
    /// The zone storage could not be opened or used.
    case storage(String)
    /// The zone storage is known to be down (it stopped answering, and has not since): the
    /// request failed at once, without waiting for it. Logged once per outage, not per request.
    case unavailable(String)
    /// A write was sent to the storage and no answer came: it may have been applied. An UPDATE
    /// that meets this is not answered, so that its client cannot take it for a failure.
    case outcomeUnknown(String)

    /// What failed.
    public var description: String {
        switch self {
        case .storage(let why), .unavailable(let why): return "zone storage: \(why)"
        case .outcomeUnknown(let why): return "zone storage: \(why); the write may have been applied"
        }
    }

    /// Whether this error says only what an earlier one already did (an outage in progress),
    /// so that logging it again would repeat that one line per request.
    public var isRepeat: Bool {
        if case .unavailable = self { return true }
        return false
    }
}

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
public final class Authority: Sendable {
    public let configuration: AuthorityConfiguration
    let database: ZoneDatabase
    let logger: Logger
    let notifier: Notifier?
    private let state: Mutex<State>
    /// Counts an operator (or a test) can read.
    public let statistics = Statistics()

    public final class Statistics: Sendable {
        /// IXFR answers sent as differences.
        public let incrementalTransfers = Atomic<Int>(0)
        /// AXFR answers, and IXFR answers that had to send the whole zone.
        public let fullTransfers = Atomic<Int>(0)
    }

    /// Serializes UPDATEs so each one sees the result of the one before.
    private let writeLock = Mutex(())
    /// Blocking work admitted and not yet finished, by kind; beyond their limits, requests are shed.
    let updateQueue: WorkQueue
    let transferQueue: WorkQueue
    /// Answers to signed UPDATEs still inside their TSIG window, for retransmissions and replays.
    let replays = ReplayCache()

    struct State {
        var zones: [DNSName: Zone]
        var dataVersion: Int
        var lastCheck: ContinuousClock.Instant
    }

    /// Opens (or creates) the zone database at `path` and loads the configured zones.
    public init(databasePath: String, configuration: AuthorityConfiguration, logger: Logger = Logger(label: "dnsstore.server")) throws {
        self.configuration = configuration
        self.logger = logger
        updateQueue = WorkQueue(kind: "update", limit: configuration.maxPendingUpdates)
        transferQueue = WorkQueue(kind: "transfer", limit: configuration.maxPendingTransfers)
        do {
            database = try ZoneDatabase(path: databasePath, syncEveryCommit: configuration.syncEveryCommit)
        } catch let error as AuthorityError {
            throw error
        } catch {
            throw AuthorityError.storage("cannot open \(databasePath): \(error)")
        }
        var zones: [DNSName: Zone] = [:]
        for origin in configuration.zones {
            if let zone = try database.loadZone(origin) {
                zones[origin] = zone
            } else {
                let zone = Self.emptyZone(origin)
                _ = try database.commit(
                    origin, changes: zone.allRecords.map { ZoneChange(action: .add, record: $0) }, serial: zone.serial,
                    expectedSerial: nil)
                zones[origin] = zone
            }
        }
        state = Mutex(State(zones: zones, dataVersion: try database.dataVersion(), lastCheck: .now))
        notifier = configuration.notify.isEmpty ? nil : Notifier(targets: configuration.notify, logger: logger)
    }

    /// A new zone: SOA and one NS, both naming `localhost.` so no glue is needed.
    static func emptyZone(_ origin: DNSName) -> Zone {
        var zone = Zone(origin: origin)
        let soa = SOA(mname: "localhost.", rname: (try? origin.prepending("hostmaster")) ?? origin, serial: 1,
                      refresh: 3600, retry: 600, expire: 604_800, minimum: 30)
        zone.add(ResourceRecord(name: origin, type: .soa, ttl: 300, rdata: .soa(soa)))
        zone.add(ResourceRecord(name: origin, type: .ns, ttl: 300, rdata: .ns("localhost.")))
        return zone
    }

    // MARK: Zones

    /// The zone that holds `name`: the longest origin above it.
    func zone(for name: DNSName) -> Zone? {
        refreshIfChanged(maxAge: .milliseconds(50))
        return state.withLock { state in
            state.zones.values.filter { name.isSubdomain(of: $0.origin) }.max { $0.origin.labelCount < $1.origin.labelCount }
        }
    }

    func zone(origin: DNSName) -> Zone? {
        state.withLock { $0.zones[origin] }
    }

    /// Reloads zones when another process sharing the database committed since the last look;
    /// returns whether it did.
    @discardableResult
    func refreshIfChanged(maxAge: Duration) -> Bool {
        let due = state.withLock { state in
            guard ContinuousClock.now - state.lastCheck >= maxAge else { return false }
            state.lastCheck = .now
            return true
        }
        guard due, let version = try? database.dataVersion() else { return false }
        let changed = state.withLock { $0.dataVersion != version }
        guard changed else { return false }
        var fresh: [DNSName: Zone] = [:]
        for origin in configuration.zones {
            if let zone = try? database.loadZone(origin) { fresh[origin] = zone }
        }
        state.withLock { state in
            state.zones.merge(fresh) { _, new in new }
            state.dataVersion = version
        }
        logger.debug("reloaded zones changed by another process")
        return true
    }

    /// Applies committed changes to the zone in memory, in place.
    func apply(_ changes: [ZoneChange], to origin: DNSName) {
        let version = try? database.dataVersion()
        state.withLock { state in
            state.zones[origin]?.apply(changes)
            if let version { state.dataVersion = version }
        }
    }

    func withWriteLock<T>(_ body: () throws -> T) rethrows -> T {
        try writeLock.withLock { _ in try body() }
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

/// Counters for whatever metrics backend the program installs.
enum ServerMetrics {
    static let queries = Counter(label: "dnsstore_server_queries_total")
    static let updates = Counter(label: "dnsstore_server_updates_total")
    static let malformed = Counter(label: "dnsstore_server_malformed_total")
    static let refused = Counter(label: "dnsstore_server_refused_total")
    static let shed = Counter(label: "dnsstore_server_shed_total")
}

public enum AuthorityError: Error, CustomStringConvertible {
    case storage(String)

    public var description: String {
        switch self {
        case .storage(let why): return "zone storage: \(why)"
        }
    }
}

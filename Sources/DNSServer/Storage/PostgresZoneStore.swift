#if PostgreSQL
import DNSWire
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

/// Zones in a PostgreSQL database that any number of engines (front ends) share, so that together
/// they act as one primary: the same tables as the SQLite store (records keyed by zone, owner in
/// canonical order, type and RDATA digest; a journal of steps by serial), the same rules above.
///
/// Writers of a zone are put in one order by its row in `dnsstore_zone`, which every write
/// updates: a write plans over reads made outside any transaction, then stores everything in one
/// statement that first updates the zone row only if its version (`xmin`, the transaction that
/// last wrote it) is still the one the plan's first read saw. Under READ COMMITTED an UPDATE that
/// waited for another writer's row lock looks again at the row as that writer left it, so of two
/// writers that read the same version exactly one stores; the other plans again over the newer
/// zone, and after a few such losses plans under the row lock (`SELECT … FOR UPDATE`), whose reads
/// then include every earlier commit. A transfer and a journal read run at REPEATABLE READ, READ
/// ONLY, so they see one commit point; a query's reads run statement by statement (see `read`).
///
/// The database is called from threads that may block (the engine's blocking work), never from an
/// event loop of its own: its connections run on an event loop group of the store's.
final class PostgresZoneStore: ZoneStore, @unchecked Sendable {
    let changes = ChangeCounter()
    let limits: JournalLimits
    /// Commits of other front ends arrive with no notice, but a look at every zone's SOA, one
    /// statement shared by the queries waiting for it, finds them (see `confirmChanges`).
    var changesSeenAtOnce: Bool { false }
    var confirmsChanges: Bool { true }
    /// The look that confirms changes, and each zone's SOA RDATA as it last saw it.
    let look = SharedLook()
    let seenSOAs = Locked<[Data: Data]>([:])
    var readsAreLocal: Bool { false }
    /// The URL without its password, for messages.
    let displayURL: String

    /// The URL's hosts and a connection configuration for each; new connections try them in turn
    /// from `writable`, the one that last took writes.
    let hosts: [PostgresURL.Host]
    let configurations: [PostgresConnection.Configuration]
    let writable = Atomic<Int>(0)
    /// When each zone's journal is next looked at for steps past `limits.maxAge`.
    let ageChecks = Locked<[Data: Int]>([:])
    let statements = StatementCounter()
    let group: MultiThreadedEventLoopGroup
    let idle = Locked<[PostgresConnection]>([])
    let opened = Atomic<Int>(0)
    let logger: Logger
    /// Connections kept open between uses.
    let keepIdle = 8
    /// How long a connection may take to open, and a statement to be answered: past it, the
    /// connection is closed and the request fails (the engine answers SERVFAIL), so a front end
    /// cut off from its database says so within this long instead of going silent.
    let statementTimeout: TimeAmount
    /// When the database stopped answering, and when a request last tried it since: logged once
    /// per outage. Meanwhile requests fail at once, but for one every `probeInterval`, which
    /// finds the database back.
    let outage = Locked<(since: ContinuousClock.Instant, probed: ContinuousClock.Instant)?>(nil)
    /// Set on every connection, so that one front end's fault cannot stall the others:
    /// - `idle_in_transaction_session_timeout`: a front end cut off (or paused) inside a write
    ///   holds the zone's row lock; the database ends its session, and so the lock, after this
    ///   long, where it would otherwise wait for TCP to notice (many minutes).
    /// - `lock_timeout`: a writer waiting for the zone lock gets an error from the database before
    ///   its own statement timeout, so a lock held elsewhere is not taken for an outage.
    var sessionSettings: [PostgresQuery] {
        let timeout = Int(statementTimeout.nanoseconds / 1_000_000)
        return [
            PostgresQuery(unsafeSQL: "SET idle_in_transaction_session_timeout = \(max(timeout * 4 / 3, 1_000))"),
            PostgresQuery(unsafeSQL: "SET lock_timeout = \(max(timeout * 2 / 3, 100))"),
        ]
    }

    /// How many times a write is planned without the zone lock (see `write`) before it takes it.
    let optimisticAttempts: Int

    /// How often a request tries a database that is not answering.
    static let probeInterval: Duration = .milliseconds(250)

    /// Tables are named with this prefix, so the store can share a database with other data.
    /// 2: names' leases (RFC 9664), in a table of their own.
    static let schemaVersion = 2

    /// Connects to `url` (`postgresql://USER[:PASSWORD]@HOST[:PORT][,HOST[:PORT]…]/DATABASE`, see
    /// `PostgresURL`) and creates the tables when they are missing.
    init(
        url: String, limits: JournalLimits = JournalLimits(), statementTimeout: Duration = .milliseconds(1_500),
        optimisticAttempts: Int = 3, logger: Logger
    ) throws {
        self.optimisticAttempts = optimisticAttempts
        let parsed: PostgresURL
        do { parsed = try PostgresURL(url) } catch { throw AuthorityError.storage(error.description) }
        let amount = statementTimeout.timeAmount
        self.statementTimeout = amount
        hosts = parsed.hosts
        configurations = Self.configurations(parsed, connectTimeout: amount)
        displayURL = parsed.display
        self.limits = limits
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        try withConnection { session in
            try session.transaction("BEGIN") {
                // One front end creates the tables; others starting at once wait for it.
                try session.run("SELECT pg_advisory_xact_lock(5283)")
                for statement in Self.schema { try session.run(PostgresQuery(unsafeSQL: statement)) }
                let version = try session.rows("SELECT version FROM dnsstore_schema").first.map { try $0.decode(Int.self) }
                if let version, version > Self.schemaVersion {
                    throw AuthorityError.storage(
                        "\(displayURL) has schema version \(version), written by a newer dnsstore; this one reads versions up to \(Self.schemaVersion)")
                }
                if version == nil { try session.run("INSERT INTO dnsstore_schema VALUES (\(Self.schemaVersion))") }
                if let version, version < Self.schemaVersion { try session.run("UPDATE dnsstore_schema SET version = \(Self.schemaVersion)") }
            }
        }
    }

    deinit {
        for connection in idle.withLock({ $0 }) { Self.close(connection) }
        group.shutdownGracefully { _ in }
    }

    static let schema = [
        "CREATE TABLE IF NOT EXISTS dnsstore_schema (version bigint NOT NULL)",
        """
        CREATE TABLE IF NOT EXISTS dnsstore_zone (
            zone bytea PRIMARY KEY, octets bigint NOT NULL DEFAULT 0, journal_octets bigint NOT NULL DEFAULT 0)
        """,
        """
        CREATE TABLE IF NOT EXISTS dnsstore_record (
            zone bytea NOT NULL, owner bytea NOT NULL, type bigint NOT NULL, rdata_key bytea NOT NULL,
            name bytea, ttl bigint NOT NULL, rdata bytea NOT NULL, PRIMARY KEY (zone, owner, type, rdata_key))
        """,
        """
        CREATE TABLE IF NOT EXISTS dnsstore_journal_step (
            zone bytea NOT NULL, step bigint NOT NULL, from_serial bigint NOT NULL, to_serial bigint NOT NULL,
            at bigint NOT NULL, octets bigint NOT NULL, PRIMARY KEY (zone, step))
        """,
        """
        CREATE TABLE IF NOT EXISTS dnsstore_journal (
            zone bytea NOT NULL, step bigint NOT NULL, seq bigint NOT NULL, action bigint NOT NULL, name bytea NOT NULL,
            type bigint NOT NULL, ttl bigint NOT NULL, rdata bytea NOT NULL, PRIMARY KEY (zone, step, seq))
        """,
        "CREATE TABLE IF NOT EXISTS dnsstore_lease (zone bytea NOT NULL, owner bytea NOT NULL, expires bigint NOT NULL, PRIMARY KEY (zone, owner))",
        "CREATE INDEX IF NOT EXISTS dnsstore_lease_by_end ON dnsstore_lease (zone, expires)",
    ]

    /// One connection configuration per host of `url`, in its order.
    static func configurations(_ url: PostgresURL, connectTimeout: TimeAmount) -> [PostgresConnection.Configuration] {
        url.hosts.map { host in
            var configuration = PostgresConnection.Configuration(
                host: host.name, port: host.port, username: url.user, password: url.password, database: url.database, tls: .disable)
            configuration.options.connectTimeout = connectTimeout
            return configuration
        }
    }

    // MARK: ZoneStore

    func createZoneIfMissing(_ origin: DNSName, records: [ResourceRecord]) throws -> Bool {
        let zone = Data(OwnerKey.key(origin))
        return try withConnection { session in
            try session.transaction("BEGIN") {
                let octets = records.reduce(0) { $0 + RecordKeys.recordOctets($1.name, $1.rdata) }
                guard try session.run("INSERT INTO dnsstore_zone (zone, octets) VALUES (\(zone), \(octets)) ON CONFLICT DO NOTHING") == 1
                else { return false }
                for record in records { try Self.insert(record, zone: zone, session) }
                return true
            }
        }
    }

    /// Each statement sees every commit before it began. A query's statements (its name, then the
    /// apex for a negative answer) run without a transaction around them: two round trips fewer,
    /// and an apex read a commit later than the name only carries a newer SOA.
    func read<T>(_ origin: DNSName, _ body: (any ZoneReading) throws -> T) throws -> T {
        try withConnection { session in try body(Reader(session: session, origin: origin)) }
    }

    /// Optimistic first: the plan reads outside any transaction (its first statement also reads
    /// the zone row's version), then one statement writes everything, only if the zone row still
    /// has that version, so nothing was committed to the zone since the plan's first read, and every
    /// read after it saw the same zone. No lock is held across a round trip: the row is locked only
    /// while that statement runs. A write that finds the zone changed plans again; after
    /// `optimisticAttempts` tries it takes the zone lock first, so it cannot lose forever.
    func write<T>(_ origin: DNSName, _ plan: (any ZoneReading) throws -> ZoneWrite<T>) throws -> T {
        let zone = Data(OwnerKey.key(origin))
        for _ in 0..<optimisticAttempts {
            let done = try withConnection { session -> T? in
                let reader = Reader(session: session, origin: origin, versioned: true)
                let planned = try plan(reader)
                if planned.steps.isEmpty && planned.leases.isEmpty {
                    // Nothing to write: the answer stands if its reads saw one state of the zone.
                    guard reader.reads > 1, let version = reader.version else { return planned.result }
                    let now = try session.rows("SELECT xmin::text FROM dnsstore_zone WHERE zone = \(zone)").first?.decode(String.self)
                    return now == version ? planned.result : nil
                }
                // A plan that read nothing still writes only over the version it would have read.
                if reader.version == nil { try reader.prefetch([origin]) }
                guard let version = reader.version else { return nil }
                guard let sizes = try storeUnanswerable(planned.steps, leases: planned.leases, zone: zone, origin: origin, ifVersion: version, session) else { return nil }
                pruneIfDue(zone: zone, origin: origin, sizes: sizes, session)
                return planned.result
            }
            if let done { return done }
            ServerMetrics.storageConflicts.increment()
        }
        return try withConnection { session in
            let (result, sizes) = try session.transaction("BEGIN ISOLATION LEVEL READ COMMITTED") { () -> (T, Sizes?) in
                // Every writer of the zone waits here for the one before it (see the type's comment).
                guard try !session.rows("SELECT 1 FROM dnsstore_zone WHERE zone = \(zone) FOR UPDATE").isEmpty
                else { throw StorageError.damaged("zone \(origin) is missing from \(displayURL)") }
                let planned = try plan(Reader(session: session, origin: origin))
                guard !planned.steps.isEmpty || !planned.leases.isEmpty else { return (planned.result, nil) }
                return (planned.result, try store(planned.steps, leases: planned.leases, zone: zone, origin: origin, ifVersion: nil, session))
            }
            if let sizes { pruneIfDue(zone: zone, origin: origin, sizes: sizes, session) }
            return result
        }
    }

    /// Every commit changes its zone's SOA serial (and one zone created adds a SOA): when the SOAs
    /// read differ from those the last look saw, another front end (or this one) committed, and
    /// `changes` is raised; the engine's cache then catches up from the journal. A query waits
    /// for a look that began after it arrived, so a write acknowledged before then is never
    /// answered from before it (`latest` holds across front ends), at one statement per look
    /// however many queries share it.
    func confirmChanges() throws { try lookForChanges() }

    func confirmChanges(on pool: NIOThreadPool, then: @escaping @Sendable (SharedLook.Outcome) -> Void) {
        look.confirm(on: pool, { [self] in try lookForChanges() }, then: then)
    }

    /// One look. `changes` is raised inside the same lock that records what was seen: a look that
    /// finds nothing new can then only follow one that has raised it already.
    private func lookForChanges() throws {
        let rows = try withConnection { session in
            try session.rows(
                """
                SELECT r.zone, r.rdata FROM dnsstore_zone z
                JOIN dnsstore_record r ON r.zone = z.zone AND r.owner = z.zone AND r.type = 6
                """)
        }
        var current: [Data: Data] = [:]
        for row in rows {
            let (zone, rdata) = try row.decode((Data, Data).self)
            current[zone] = rdata
        }
        seenSOAs.withLock { seen in
            guard seen != current else { return }
            seen = current
            changes.bump()
        }
    }

    func expiredLeases(_ origin: DNSName, at now: UInt64, limit: Int) throws -> [DNSName] {
        let zone = Data(OwnerKey.key(origin))
        return try withConnection { session in
            try session.rows(
                "SELECT owner FROM dnsstore_lease WHERE zone = \(zone) AND expires <= \(Int64(clamping: now)) ORDER BY expires LIMIT \(limit)"
            ).map { try OwnerKey.name(Array(try $0.decode(Data.self))) }
        }
    }

    func leasedNames(_ origin: DNSName) throws -> Int {
        let zone = Data(OwnerKey.key(origin))
        return try withConnection { session in
            try session.rows("SELECT count(*) FROM dnsstore_lease WHERE zone = \(zone)").first?.decode(Int.self) ?? 0
        }
    }

    static func insert(_ record: ResourceRecord, zone: Data, _ session: Session) throws {
        let owner = Data(OwnerKey.key(record.name))
        let key = RecordKeys.rdataKey(record.rdata)
        let name = RecordKeys.storedName(record.name)
        let rdata = Data(record.rdata.uncompressedWire)
        try session.run(
            """
            INSERT INTO dnsstore_record VALUES (\(zone), \(owner), \(Int(record.type.rawValue)), \(key), \(name), \(Int(record.ttl)), \(rdata))
            ON CONFLICT (zone, owner, type, rdata_key) DO UPDATE SET name = EXCLUDED.name, ttl = EXCLUDED.ttl, rdata = EXCLUDED.rdata
            """)
    }

}
#endif

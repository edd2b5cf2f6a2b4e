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
/// Writers of a zone are put in one order by a row lock on the zone, taken first in every write
/// transaction (`SELECT … FOR UPDATE`). The transactions run at READ COMMITTED on purpose: each
/// statement then sees everything committed before it began, so once a writer holds the lock its
/// reads include the previous writer's commit, its prerequisites are checked against it and the
/// serial it computes is exactly one above. REPEATABLE READ would instead fail the second of two
/// concurrent writers with a serialization error, to be retried. A transfer and a journal read
/// run at REPEATABLE READ, READ ONLY, so they see one commit point; a query's reads run statement
/// by statement (see `read`).
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

    /// How often a request tries a database that is not answering.
    static let probeInterval: Duration = .milliseconds(250)

    /// Tables are named with this prefix, so the store can share a database with other data.
    /// 2: names' leases (RFC 9664), in a table of their own.
    static let schemaVersion = 2

    /// Connects to `url` (`postgresql://USER[:PASSWORD]@HOST[:PORT][,HOST[:PORT]…]/DATABASE`, see
    /// `PostgresURL`) and creates the tables when they are missing.
    init(url: String, limits: JournalLimits = JournalLimits(), statementTimeout: Duration = .milliseconds(1_500), logger: Logger) throws {
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

    func write<T>(_ origin: DNSName, _ plan: (any ZoneReading) throws -> ZoneWrite<T>) throws -> T {
        let zone = Data(OwnerKey.key(origin))
        return try withConnection { session in
            try session.transaction("BEGIN ISOLATION LEVEL READ COMMITTED") {
                // Every writer of the zone waits here for the one before it (see the type's comment).
                guard let row = try session.rows("SELECT octets, journal_octets FROM dnsstore_zone WHERE zone = \(zone) FOR UPDATE").first
                else { throw StorageError.damaged("zone \(origin) is missing from \(displayURL)") }
                let (octets, journalOctets) = try row.decode((Int, Int).self)
                let planned = try plan(Reader(session: session, origin: origin))
                for (name, expires) in planned.leases {
                    let owner = Data(OwnerKey.key(name))
                    if let expires {
                        try session.run(
                            """
                            INSERT INTO dnsstore_lease VALUES (\(zone), \(owner), \(Int64(clamping: expires)))
                            ON CONFLICT (zone, owner) DO UPDATE SET expires = EXCLUDED.expires
                            """)
                    } else {
                        try session.run("DELETE FROM dnsstore_lease WHERE zone = \(zone) AND owner = \(owner)")
                    }
                }
                if !planned.steps.isEmpty {
                    try store(planned.steps, zone: zone, origin: origin, octets: octets, journalOctets: journalOctets, session)
                }
                return planned.result
            }
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

    /// Writes the steps' changes, journals each as its own step and keeps the journal within its
    /// limits, in one statement (one round trip while the zone lock is held, where a statement per
    /// change took a dozen): data-modifying CTEs over arrays of rows. They all see one snapshot, so
    /// the records' changes are folded first to each key's last action: a record added by one step
    /// and deleted by a later one of the same group is deleted, as applying them in order would
    /// leave it. The step numbers continue from the journal's newest, read inside the statement
    /// (after the lock was taken, so it includes the previous writer's steps).
    func store(_ planned: [JournalStep], zone: Data, origin: DNSName, octets: Int, journalOctets: Int, _ session: Session) throws {
        var delta = 0
        var journal = journalOctets
        let now = Int(Date().timeIntervalSince1970)
        struct Key: Hashable {
            var owner: Data
            var type: Int
            var rdataKey: Data
        }
        var last: [Key: ZoneChange] = [:]
        var journalRows = (step: [Int](), seq: [Int](), action: [Int](), name: [ByteBuffer](), type: [Int](), ttl: [Int](), rdata: [ByteBuffer]())
        var stepRows = (step: [Int](), from: [Int](), to: [Int](), octets: [Int]())
        for (index, planned) in planned.enumerated() {
            var stepOctets = 0
            for (seq, change) in planned.changes.enumerated() {
                let r = change.record
                let size = RecordKeys.recordOctets(r.name, r.rdata)
                delta += change.action == .add ? size : -size
                stepOctets += size
                last[Key(owner: Data(OwnerKey.key(r.name)), type: Int(r.type.rawValue), rdataKey: RecordKeys.rdataKey(r.rdata))] = change
                journalRows.step.append(index + 1)
                journalRows.seq.append(seq)
                journalRows.action.append(change.action.rawValue)
                journalRows.name.append(ByteBuffer(bytes: r.name.wire))
                journalRows.type.append(Int(r.type.rawValue))
                journalRows.ttl.append(Int(r.ttl))
                journalRows.rdata.append(ByteBuffer(bytes: r.rdata.uncompressedWire))
            }
            stepRows.step.append(index + 1)
            stepRows.from.append(Int(planned.from))
            stepRows.to.append(Int(planned.to))
            stepRows.octets.append(stepOctets)
            journal += stepOctets
        }
        var deleted = (owner: [ByteBuffer](), type: [Int](), key: [ByteBuffer]())
        // A name's wire form is never empty: empty stands for NULL (postgres-nio sends no NULL in arrays).
        var added = (owner: [ByteBuffer](), type: [Int](), key: [ByteBuffer](), name: [ByteBuffer](), ttl: [Int](), rdata: [ByteBuffer]())
        for (key, change) in last {
            if change.action == .delete {
                deleted.owner.append(ByteBuffer(data: key.owner))
                deleted.type.append(key.type)
                deleted.key.append(ByteBuffer(data: key.rdataKey))
            } else {
                added.owner.append(ByteBuffer(data: key.owner))
                added.type.append(key.type)
                added.key.append(ByteBuffer(data: key.rdataKey))
                added.name.append(ByteBuffer(data: RecordKeys.storedName(change.record.name) ?? Data()))
                added.ttl.append(Int(change.record.ttl))
                added.rdata.append(ByteBuffer(bytes: change.record.rdata.uncompressedWire))
            }
        }
        try session.run(
            """
            WITH base AS (SELECT COALESCE(MAX(step), 0) AS step FROM dnsstore_journal_step WHERE zone = \(zone)),
            deleted AS (
                DELETE FROM dnsstore_record r USING unnest(\(deleted.owner)::bytea[], \(deleted.type)::bigint[], \(deleted.key)::bytea[]) AS d(owner, type, rdata_key)
                WHERE r.zone = \(zone) AND r.owner = d.owner AND r.type = d.type AND r.rdata_key = d.rdata_key),
            added AS (
                INSERT INTO dnsstore_record (zone, owner, type, rdata_key, name, ttl, rdata)
                SELECT \(zone), a.owner, a.type, a.rdata_key, NULLIF(a.name, ''::bytea), a.ttl, a.rdata
                FROM unnest(\(added.owner)::bytea[], \(added.type)::bigint[], \(added.key)::bytea[], \(added.name)::bytea[], \(added.ttl)::bigint[], \(added.rdata)::bytea[])
                AS a(owner, type, rdata_key, name, ttl, rdata)
                ON CONFLICT (zone, owner, type, rdata_key) DO UPDATE SET name = EXCLUDED.name, ttl = EXCLUDED.ttl, rdata = EXCLUDED.rdata),
            journaled AS (
                INSERT INTO dnsstore_journal (zone, step, seq, action, name, type, ttl, rdata)
                SELECT \(zone), base.step + j.step, j.seq, j.action, j.name, j.type, j.ttl, j.rdata FROM base,
                unnest(\(journalRows.step)::bigint[], \(journalRows.seq)::bigint[], \(journalRows.action)::bigint[], \(journalRows.name)::bytea[], \(journalRows.type)::bigint[], \(journalRows.ttl)::bigint[], \(journalRows.rdata)::bytea[])
                AS j(step, seq, action, name, type, ttl, rdata)),
            stepped AS (
                INSERT INTO dnsstore_journal_step (zone, step, from_serial, to_serial, at, octets)
                SELECT \(zone), base.step + s.step, s.from_serial, s.to_serial, \(now), s.octets FROM base,
                unnest(\(stepRows.step)::bigint[], \(stepRows.from)::bigint[], \(stepRows.to)::bigint[], \(stepRows.octets)::bigint[])
                AS s(step, from_serial, to_serial, octets))
            UPDATE dnsstore_zone SET octets = \(octets + delta), journal_octets = \(journal) WHERE zone = \(zone)
            """)
        let budget = limits.budget(zoneOctets: octets + delta)
        journal = try prune(zone: zone, journalOctets: journal, budget: budget, now: now, session)
        ServerMetrics.sizes(of: origin, zoneOctets: octets + delta, journalOctets: journal, journalBudget: budget)
    }

    /// Drops the oldest steps while the journal is over its size (down to seven eighths of it, see
    /// `SQLiteZoneStore.prune`) or they are over its age; the age is looked at once a minute per
    /// zone by each front end, not with every commit. The newest step always stays. Returns the
    /// journal's octets after.
    func prune(zone: Data, journalOctets: Int, budget: Int, now: Int, _ session: Session) throws -> Int {
        var journal = journalOctets
        let target = journal > budget ? budget - budget / 8 : budget
        let checkAge = ageChecks.withLock { due in
            guard due[zone, default: 0] <= now else { return false }
            due[zone] = now + 60
            return true
        }
        guard journal > target || checkAge else { return journal }
        let oldestAllowed = now - limits.maxAge
        while true {
            let steps = try session.rows(
                "SELECT step, at, octets FROM dnsstore_journal_step WHERE zone = \(zone) ORDER BY step LIMIT 2")
            guard steps.count == 2 else { break }
            let (oldest, at, size) = try steps[0].decode((Int, Int, Int).self)
            guard journal > target || at < oldestAllowed else { break }
            try session.run("DELETE FROM dnsstore_journal WHERE zone = \(zone) AND step = \(oldest)")
            try session.run("DELETE FROM dnsstore_journal_step WHERE zone = \(zone) AND step = \(oldest)")
            journal -= size
        }
        if journal != journalOctets {
            try session.run("UPDATE dnsstore_zone SET journal_octets = \(journal) WHERE zone = \(zone)")
        }
        return journal
    }

}
#endif

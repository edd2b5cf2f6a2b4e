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
    /// Commits of other front ends arrive with no notice: queries are read from the database.
    var changesSeenAtOnce: Bool { false }
    var readsAreLocal: Bool { false }
    /// The URL without its password, for messages.
    let displayURL: String

    private let configuration: PostgresConnection.Configuration
    private let group: MultiThreadedEventLoopGroup
    private let idle = Locked<[PostgresConnection]>([])
    private let opened = Atomic<Int>(0)
    private let logger: Logger
    /// Connections kept open between uses.
    private let keepIdle = 8
    /// How long a connection may take to open, and a statement to be answered: past it, the
    /// connection is closed and the request fails (the engine answers SERVFAIL), so a front end
    /// cut off from its database says so within this long instead of going silent.
    let statementTimeout: TimeAmount
    /// When the database stopped answering, and when a request last tried it since: logged once
    /// per outage. Meanwhile requests fail at once, but for one every `probeInterval`, which
    /// finds the database back.
    private let outage = Locked<(since: ContinuousClock.Instant, probed: ContinuousClock.Instant)?>(nil)
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

    /// Connects to `url` (`postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE`) and creates the
    /// tables when they are missing.
    init(url: String, limits: JournalLimits = JournalLimits(), statementTimeout: Duration = .milliseconds(1_500), logger: Logger) throws {
        var parsed = try Self.parse(url)
        let amount = TimeAmount.nanoseconds(statementTimeout.components.seconds * 1_000_000_000 + statementTimeout.components.attoseconds / 1_000_000_000)
        self.statementTimeout = amount
        parsed.configuration.options.connectTimeout = amount
        configuration = parsed.configuration
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

    /// The connection settings in a URL, and the URL with its password left out. Without a
    /// password in the URL, `PGPASSWORD` gives it (as libpq's does), which keeps it out of `ps`.
    static func parse(_ url: String) throws -> (configuration: PostgresConnection.Configuration, display: String) {
        guard let parts = URLComponents(string: url), ["postgresql", "postgres"].contains(parts.scheme ?? ""),
            let host = parts.host, !host.isEmpty
        else {
            throw AuthorityError.storage("'\(StorageURL.redacted(url))' is not a PostgreSQL URL: expected postgresql://USER@HOST:PORT/DATABASE")
        }
        let user = parts.user ?? "postgres"
        let database = parts.path.hasPrefix("/") && parts.path.count > 1 ? String(parts.path.dropFirst()) : user
        let password = parts.password ?? ProcessInfo.processInfo.environment["PGPASSWORD"]
        var configuration = PostgresConnection.Configuration(
            host: host, port: parts.port ?? 5432, username: user, password: password, database: database, tls: .disable)
        configuration.options.connectTimeout = .seconds(10)
        return (configuration, "postgresql://\(user)@\(host):\(parts.port ?? 5432)/\(database)")
    }

    // MARK: Connections

    /// One connection and the statements run on it, waited for on the calling thread, each for
    /// at most `timeout`: past it the connection is closed (it is never reused) and the
    /// statement fails.
    struct Session {
        let connection: PostgresConnection
        let logger: Logger
        var timeout: TimeAmount = .seconds(30)

        func rows(_ query: PostgresQuery) throws -> [PostgresRow] {
            Array(try within(connection.query(query, logger: logger)).rows)
        }

        /// Runs a statement; returns the rows it changed.
        @discardableResult
        func run(_ query: PostgresQuery) throws -> Int {
            try within(connection.query(query, logger: logger)).metadata.rows ?? 0
        }

        private func within<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
            let promise = future.eventLoop.makePromise(of: T.self)
            future.cascade(to: promise)
            let connection = self.connection
            let timeout = self.timeout
            let timer = future.eventLoop.scheduleTask(in: timeout) {
                promise.fail(StatementTimeout(seconds: Double(timeout.nanoseconds) / 1e9))
                PostgresZoneStore.close(connection)
            }
            defer { timer.cancel() }
            return try promise.futureResult.wait()
        }

        /// Runs `body` between `begin` and COMMIT, rolling back when it throws. A COMMIT that
        /// went out and got no answer (timeout, connection lost) may have been applied: it
        /// throws `AuthorityError.outcomeUnknown`, never an error that reads as "not stored".
        func transaction<T>(_ begin: PostgresQuery, _ body: () throws -> T) throws -> T {
            try run(begin)
            let result: T
            do {
                result = try body()
            } catch {
                _ = try? run("ROLLBACK")
                throw error
            }
            do {
                try run("COMMIT")
            } catch let error as PSQLError where error.serverInfo != nil && !connection.isClosed {
                throw error  // the database answered: it did not commit
            } catch {
                throw AuthorityError.outcomeUnknown("COMMIT got no answer: \(PostgresZoneStore.message(error))")
            }
            return result
        }
    }

    /// A statement the database did not answer in time.
    struct StatementTimeout: Error, CustomStringConvertible {
        var seconds: Double
        var description: String { "no answer within \(seconds) s" }
    }

    private func withConnection<T>(_ body: (Session) throws -> T) throws -> T {
        let connection = try take()
        do {
            let result = try body(Session(connection: connection, logger: logger, timeout: statementTimeout))
            give(connection)
            answered()
            return result
        } catch {
            // A connection that failed mid-statement may be in any state: it is not reused.
            if connection.isClosed || error is StatementTimeout {
                opened.subtract(1, ordering: .relaxed)
                Self.close(connection)
            } else {
                give(connection)
            }
            if error is StatementTimeout { unanswered(error) }
            if case AuthorityError.outcomeUnknown = error {
                opened.subtract(1, ordering: .relaxed)
                Self.close(connection)
                unanswered(error)
            }
            throw Self.described(error, url: displayURL)
        }
    }

    private func take() throws -> PostgresConnection {
        // During an outage, only one request in each probe interval waits for the database.
        let down = outage.withLock { outage -> ContinuousClock.Instant? in
            guard let current = outage else { return nil }
            if current.probed.duration(to: .now) >= Self.probeInterval {
                outage = (current.since, .now)
                return nil
            }
            return current.since
        }
        if let down {
            throw AuthorityError.unavailable("\(displayURL) has not answered for \(down.duration(to: .now)); answering SERVFAIL until it does")
        }
        while let connection = idle.withLock({ $0.popLast() }) {
            if !connection.isClosed { return connection }
            opened.subtract(1, ordering: .relaxed)
        }
        do {
            let id = opened.add(1, ordering: .relaxed).newValue
            let connection = try PostgresConnection.connect(on: group.next(), configuration: configuration, id: id, logger: logger).wait()
            do {
                let session = Session(connection: connection, logger: logger, timeout: statementTimeout)
                for setting in sessionSettings { try session.run(setting) }
            } catch {
                Self.close(connection)
                throw error
            }
            return connection
        } catch {
            opened.subtract(1, ordering: .relaxed)
            unanswered(error)
            throw AuthorityError.storage("cannot connect to \(displayURL): \(Self.message(error))")
        }
    }

    /// The database failed to answer: said once per outage, at error level.
    private func unanswered(_ error: any Error) {
        let first = outage.withLock { outage -> Bool in
            defer { if outage == nil { outage = (.now, .now) } }
            return outage == nil
        }
        if first {
            logger.error(
                "PostgreSQL is not answering; requests that need it are answered SERVFAIL until it does",
                metadata: ["storage": "\(displayURL)", "error": "\(Self.message(error))"])
        }
    }

    /// The database answered: an outage, if there was one, is over.
    private func answered() {
        guard let since = outage.withLock({ outage in defer { outage = nil }; return outage?.since }) else { return }
        logger.notice("PostgreSQL answers again", metadata: ["storage": "\(displayURL)", "after": "\(since.duration(to: .now))"])
    }

    private func give(_ connection: PostgresConnection) {
        let kept = idle.withLock { idle -> Bool in
            guard idle.count < keepIdle else { return false }
            idle.append(connection)
            return true
        }
        if !kept {
            opened.subtract(1, ordering: .relaxed)
            Self.close(connection)
        }
    }

    /// Closes without waiting (the future form; the async one needs a task), holding on to the
    /// connection until it has closed: one let go while still open is a bug to postgres-nio.
    static func close(_ connection: PostgresConnection) {
        let closing: EventLoopFuture<Void> = connection.close()
        closing.whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    /// PostgreSQL's own message when there is one (they name the table, the constraint, the cause).
    static func message(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            return "\(error.code)"
        }
        return "\(error)"
    }

    static func described(_ error: any Error, url: String) -> any Error {
        if error is PSQLError { return AuthorityError.storage("\(url): \(message(error))") }
        return error
    }

    // MARK: ZoneStore

    func createZoneIfMissing(_ origin: DNSName, records: [ResourceRecord]) throws -> Bool {
        let zone = Data(OwnerKey.key(origin))
        return try withConnection { session in
            try session.transaction("BEGIN") {
                let octets = records.reduce(0) { $0 + SQLiteZoneStore.recordOctets($1.name, $1.rdata) }
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
                    try store(planned.steps, zone: zone, octets: octets, journalOctets: journalOctets, session)
                }
                return planned.result
            }
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

    private static func insert(_ record: ResourceRecord, zone: Data, _ session: Session) throws {
        let owner = Data(OwnerKey.key(record.name))
        let key = SQLiteZoneStore.rdataKey(record.rdata)
        let name = SQLiteZoneStore.storedName(record.name)
        let rdata = Data(record.rdata.uncompressedWire)
        try session.run(
            """
            INSERT INTO dnsstore_record VALUES (\(zone), \(owner), \(Int(record.type.rawValue)), \(key), \(name), \(Int(record.ttl)), \(rdata))
            ON CONFLICT (zone, owner, type, rdata_key) DO UPDATE SET name = EXCLUDED.name, ttl = EXCLUDED.ttl, rdata = EXCLUDED.rdata
            """)
    }

    /// Writes the steps' changes, journals each as its own step and keeps the journal within its limits.
    private func store(_ planned: [JournalStep], zone: Data, octets: Int, journalOctets: Int, _ session: Session) throws {
        var delta = 0
        var journal = journalOctets
        let last = try session.rows("SELECT MAX(step) FROM dnsstore_journal_step WHERE zone = \(zone)").first?.decode(Int?.self)
        var step = last ?? 0
        let now = Int(Date().timeIntervalSince1970)
        for planned in planned {
            step += 1
            var stepOctets = 0
            for (seq, change) in planned.changes.enumerated() {
                let r = change.record
                let size = SQLiteZoneStore.recordOctets(r.name, r.rdata)
                switch change.action {
                case .delete:
                    try session.run(
                        """
                        DELETE FROM dnsstore_record WHERE zone = \(zone) AND owner = \(Data(OwnerKey.key(r.name)))
                        AND type = \(Int(r.type.rawValue)) AND rdata_key = \(SQLiteZoneStore.rdataKey(r.rdata))
                        """)
                    delta -= size
                case .add:
                    try Self.insert(r, zone: zone, session)
                    delta += size
                }
                stepOctets += size
                try session.run(
                    """
                    INSERT INTO dnsstore_journal VALUES (\(zone), \(step), \(seq), \(Int(change.action.rawValue)), \(Data(r.name.wire)),
                    \(Int(r.type.rawValue)), \(Int(r.ttl)), \(Data(r.rdata.uncompressedWire)))
                    """)
            }
            try session.run(
                "INSERT INTO dnsstore_journal_step VALUES (\(zone), \(step), \(Int(planned.from)), \(Int(planned.to)), \(now), \(stepOctets))")
            journal += stepOctets
        }
        // Drops the oldest steps while the journal is over its size or they are over its age.
        let budget = limits.budget(zoneOctets: octets + delta)
        let target = journal > budget ? budget - budget / 8 : budget  // see SQLiteZoneStore.prune
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
        try session.run("UPDATE dnsstore_zone SET octets = \(octets + delta), journal_octets = \(journal) WHERE zone = \(zone)")
    }

    func journal(_ origin: DNSName, after serial: UInt32) throws -> (any JournalSnapshot)? {
        // The transfer keeps a connection of its own, in one transaction, until it is done.
        let connection = try take()
        let session = Session(connection: connection, logger: logger, timeout: statementTimeout)
        let zone = Data(OwnerKey.key(origin))
        do {
            try session.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            guard let first = try session.rows(
                "SELECT MAX(step) FROM dnsstore_journal_step WHERE zone = \(zone) AND from_serial = \(Int(serial))"
            ).first?.decode(Int?.self) else {
                Self.close(connection)
                opened.subtract(1, ordering: .relaxed)
                return nil
            }
            let links = try session.rows(
                "SELECT from_serial, to_serial FROM dnsstore_journal_step WHERE zone = \(zone) AND step >= \(first) ORDER BY step"
            ).map { row -> (from: UInt32, to: UInt32) in
                let (from, to) = try row.decode((Int, Int).self)
                return (UInt32(truncatingIfNeeded: from), UInt32(truncatingIfNeeded: to))
            }
            guard let current = try Reader(session: session, origin: origin).soa(), ZoneDiff.chains(links, from: serial, to: current.soa.serial) else {
                Self.close(connection)
                opened.subtract(1, ordering: .relaxed)
                return nil
            }
            return Journal(session: session, origin: origin, soa: current.record, start: first) { [self] in
                opened.subtract(1, ordering: .relaxed)
            }
        } catch {
            opened.subtract(1, ordering: .relaxed)
            Self.close(connection)
            throw Self.described(error, url: displayURL)
        }
    }

    /// A zone's journal in a transaction of its own connection, closed when the transfer ends.
    final class Journal: JournalSnapshot, @unchecked Sendable {
        let session: Session
        let origin: DNSName
        let soa: ResourceRecord
        let start: Int
        private let closed: @Sendable () -> Void
        private let lock = Locked(())

        init(session: Session, origin: DNSName, soa: ResourceRecord, start: Int, closed: @escaping @Sendable () -> Void) {
            self.session = session
            self.origin = origin
            self.soa = soa
            self.start = start
            self.closed = closed
        }

        deinit {
            PostgresZoneStore.close(session.connection)
            closed()
        }

        /// A step is one UPDATE, at most 65,535 octets: a page takes `octets / 65,536` of them.
        func diffs(from: Int, octets: Int) throws -> (diffs: [ZoneDiff], next: Int?) {
            try lock.withLock { _ in
                let zone = Data(OwnerKey.key(origin))
                let count = max(1, octets / 65_536)
                let steps = try session.rows(
                    "SELECT step, from_serial, to_serial FROM dnsstore_journal_step WHERE zone = \(zone) AND step >= \(from) ORDER BY step LIMIT \(count + 1)"
                ).map { try $0.decode((Int, Int, Int).self) }
                let page = steps.prefix(count)
                guard let last = page.last?.0 else { return ([], nil) }
                var byStep: [Int: [ZoneChange]] = [:]
                for row in try session.rows(
                    "SELECT step, action, name, type, ttl, rdata FROM dnsstore_journal WHERE zone = \(zone) AND step >= \(from) AND step <= \(last) ORDER BY step, seq")
                {
                    let (step, action, name, type, ttl, rdata) = try row.decode((Int, Int, Data, Int, Int, Data).self)
                    let rrType = RRType(UInt16(truncatingIfNeeded: type))
                    let record = ResourceRecord(
                        name: try DNSName(wire: Array(name)), type: rrType, ttl: UInt32(truncatingIfNeeded: ttl),
                        rdata: try RData.decode(type: rrType, wire: Array(rdata)))
                    byStep[step, default: []].append(ZoneChange(action: action == ZoneChange.Action.add.rawValue ? .add : .delete, record: record))
                }
                let diffs = try page.map { step, from, to in
                    try ZoneDiff(
                        JournalStep(from: UInt32(truncatingIfNeeded: from), to: UInt32(truncatingIfNeeded: to), changes: byStep[step] ?? []),
                        zone: origin)
                }
                return (diffs, steps.count > count ? steps[count].0 : nil)
            }
        }
    }

    func snapshot(_ origin: DNSName) throws -> any ZoneSnapshot {
        // The transfer keeps a connection of its own, in one transaction, until it is done.
        let connection = try take()
        let session = Session(connection: connection, logger: logger, timeout: statementTimeout)
        do {
            try session.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            let soa = try Reader(session: session, origin: origin).soa()?.record
            return Snapshot(session: session, origin: origin, soa: soa) { [self] in
                opened.subtract(1, ordering: .relaxed)
            }
        } catch {
            opened.subtract(1, ordering: .relaxed)
            Self.close(connection)
            throw Self.described(error, url: displayURL)
        }
    }

    func check(thorough: Bool) throws -> [String] {
        do {
            return try withConnection { session in
                var problems: [String] = []
                if try session.rows("SELECT version FROM dnsstore_schema").isEmpty {
                    problems.append("\(displayURL): no schema version")
                }
                if thorough {
                    // Every stored record decodes.
                    for row in try session.rows("SELECT zone FROM dnsstore_zone") {
                        let origin = try OwnerKey.name(Array(try row.decode(Data.self)))
                        problems += try salvage(origin).damaged.map { "\(displayURL): \($0)" }
                    }
                }
                return problems
            }
        } catch {
            return ["\(displayURL): \(Self.message(error))"]
        }
    }

    func salvage(_ origin: DNSName) throws -> (records: [ResourceRecord], damaged: [String]) {
        let zone = Data(OwnerKey.key(origin))
        return try withConnection { session in
            var records: [ResourceRecord] = []
            var damaged: [String] = []
            for row in try session.rows(
                "SELECT owner, type, ttl, name, rdata FROM dnsstore_record WHERE zone = \(zone) ORDER BY owner, type, rdata_key")
            {
                do { records.append(try Self.record(row, zone: origin)) } catch { damaged.append("\(error)") }
            }
            return (records, damaged)
        }
    }

    /// A record from a row of `owner, type, ttl, name, rdata`.
    static func record(_ row: PostgresRow, zone origin: DNSName) throws -> ResourceRecord {
        let (owner, type, ttl, name, rdata) = try row.decode((Data, Int, Int, Data?, Data).self)
        let rrType = RRType(UInt16(truncatingIfNeeded: type))
        let ownerName: DNSName
        do {
            ownerName = try name.map { try DNSName(wire: Array($0)) } ?? OwnerKey.name(Array(owner))
        } catch {
            throw StorageError.damaged("zone \(origin): a \(rrType) record's name does not decode (\(error))")
        }
        do {
            return ResourceRecord(
                name: ownerName, type: rrType, ttl: UInt32(truncatingIfNeeded: ttl), rdata: try RData.decode(type: rrType, wire: Array(rdata)))
        } catch {
            throw StorageError.damaged("zone \(origin): \(ownerName) \(rrType) does not decode (\(error))")
        }
    }

    // MARK: Reading

    /// One zone read by name within the session's transaction; each name is read once.
    final class Reader: ZoneReading {
        let session: Session
        let origin: DNSName
        let zone: Data
        private var nodes: [DNSName: [RRType: RRSet]] = [:]

        init(session: Session, origin: DNSName) {
            self.session = session
            self.origin = origin
            self.zone = Data(OwnerKey.key(origin))
        }

        func node(_ name: DNSName) throws -> [RRType: RRSet] {
            if let node = nodes[name] { return node }
            let rows = try session.rows(
                "SELECT owner, type, ttl, name, rdata FROM dnsstore_record WHERE zone = \(zone) AND owner = \(Data(OwnerKey.key(name)))")
            let node = RRSet.node(of: try rows.map { try PostgresZoneStore.record($0, zone: origin) })
            nodes[name] = node
            return node
        }

        func leaseExpiry(_ name: DNSName) throws -> UInt64? {
            try session.rows("SELECT expires FROM dnsstore_lease WHERE zone = \(zone) AND owner = \(Data(OwnerKey.key(name)))")
                .first.map { UInt64(clamping: try $0.decode(Int64.self)) }
        }

        func hasDescendants(_ name: DNSName) throws -> Bool {
            let (after, before) = OwnerKey.descendants(of: OwnerKey.key(name))
            return try !session.rows(
                "SELECT 1 FROM dnsstore_record WHERE zone = \(zone) AND owner > \(Data(after)) AND owner < \(Data(before)) LIMIT 1"
            ).isEmpty
        }
    }

    /// A transfer's frozen view: its own connection, in one REPEATABLE READ transaction, closed
    /// when the transfer lets go of it.
    final class Snapshot: ZoneSnapshot, @unchecked Sendable {
        let session: Session
        let origin: DNSName
        let soa: ResourceRecord?
        private let closed: @Sendable () -> Void
        private let lock = Locked(())

        init(session: Session, origin: DNSName, soa: ResourceRecord?, closed: @escaping @Sendable () -> Void) {
            self.session = session
            self.origin = origin
            self.soa = soa
            self.closed = closed
        }

        deinit {
            PostgresZoneStore.close(session.connection)
            closed()
        }

        func records(after: [UInt8]?, limit: Int) throws -> (records: [ResourceRecord], next: [UInt8]?) {
            try lock.withLock { _ in
                let zone = Data(OwnerKey.key(origin))
                let rows: [PostgresRow]
                if let after, let position = SQLiteZoneStore.Snapshot.Position(after) {
                    rows = try session.rows(
                        """
                        SELECT owner, type, ttl, name, rdata, rdata_key FROM dnsstore_record
                        WHERE zone = \(zone) AND (owner, type, rdata_key) > (\(Data(position.owner)), \(position.type), \(Data(position.key)))
                        ORDER BY owner, type, rdata_key LIMIT \(limit)
                        """)
                } else {
                    rows = try session.rows(
                        "SELECT owner, type, ttl, name, rdata, rdata_key FROM dnsstore_record WHERE zone = \(zone) ORDER BY owner, type, rdata_key LIMIT \(limit)")
                }
                var records: [ResourceRecord] = []
                for row in rows {
                    let record = try PostgresZoneStore.record(row, zone: origin)
                    if record.type == .soa && record.name == origin { continue }
                    records.append(record)
                }
                guard rows.count == limit, let last = rows.last else { return (records, nil) }
                let (owner, type, _, _, _, key) = try last.decode((Data, Int, Int, Data?, Data, Data).self)
                return (records, SQLiteZoneStore.Snapshot.Position(owner: Array(owner), type: type, key: Array(key)).encoded)
            }
        }
    }
}
#endif

#if PostgreSQL
import DNSWire
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

extension PostgresZoneStore {
    func journal(_ origin: DNSName, after serial: UInt32) throws -> (any JournalSnapshot)? {
        // The transfer keeps a connection of its own, in one transaction, until it is done.
        let connection = try take()
        let session = Session(connection: connection, logger: logger, timeout: statementTimeout, statements: statements)
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

    /// One statement on a kept connection, where a journal view would open a connection of its
    /// own (a new PostgreSQL backend) for every catch-up of the cache.
    func changedNames(_ origin: DNSName, after serial: UInt32, upTo current: UInt32, limit: Int) throws -> Set<DNSName>? {
        let zone = Data(OwnerKey.key(origin))
        let cap = limit * 4 + 64
        let rows = try withConnection { session in
            try session.rows(
                """
                SELECT s.step, s.from_serial, s.to_serial, j.name FROM dnsstore_journal_step s
                LEFT JOIN dnsstore_journal j ON j.zone = s.zone AND j.step = s.step
                WHERE s.zone = \(zone) AND s.step >= (
                    SELECT MAX(step) FROM dnsstore_journal_step WHERE zone = \(zone) AND from_serial = \(Int(serial)))
                ORDER BY s.step
                LIMIT \(cap)
                """)
        }
        var links: [(from: UInt32, to: UInt32)] = []
        var lastStep: Int?
        var names = Set<DNSName>()
        for row in rows {
            let (step, from, to, name) = try row.decode((Int, Int, Int, Data?).self)
            if step != lastStep {
                lastStep = step
                links.append((UInt32(truncatingIfNeeded: from), UInt32(truncatingIfNeeded: to)))
            }
            if let name { names.insert(try DNSName(wire: Array(name))) }
            if names.count > limit { return nil }
        }
        // The steps must chain from `serial` to `current`; steps past it are later commits, whose
        // names may go too.
        guard rows.count < cap, let end = links.firstIndex(where: { $0.to == current }),
            ZoneDiff.chains(links[...end], from: serial, to: current)
        else { return nil }
        return names
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
        let session = Session(connection: connection, logger: logger, timeout: statementTimeout, statements: statements)
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

    // MARK: Reading

    /// One zone read by name within the session's transaction (or statement by statement, outside
    /// one); each name is read once.
    final class Reader: ZoneReading {
        let session: Session
        let origin: DNSName
        let zone: Data
        /// Whether the first statement also reads the zone row's version (see `version`).
        let versioned: Bool
        /// The zone row's version when the reader's first statement ran: its `xmin`, the
        /// transaction that last wrote the row. Every write of the zone writes the row, so a row
        /// that still has this version has not been written since (see `write`).
        private(set) var version: String?
        /// The statements this reader sent.
        private(set) var reads = 0
        private var nodes: [DNSName: [RRType: RRSet]] = [:]

        init(session: Session, origin: DNSName, versioned: Bool = false) {
            self.session = session
            self.origin = origin
            self.zone = Data(OwnerKey.key(origin))
            self.versioned = versioned
        }

        func node(_ name: DNSName) throws -> [RRType: RRSet] {
            if let node = nodes[name] { return node }
            try fetch([name])
            return nodes[name] ?? [:]
        }

        func prefetch(_ names: Set<DNSName>) throws {
            let missing = names.filter { nodes[$0] == nil }
            if !missing.isEmpty { try fetch(missing) }
        }

        /// A versioned reader reads the version with (or before) its first read.
        private func readVersion() throws {
            if versioned && version == nil { try fetch([origin]) }
        }

        /// The nodes of `names`, in one statement.
        private func fetch(_ names: some Collection<DNSName>) throws {
            let owners = names.map { ByteBuffer(bytes: OwnerKey.key($0)) }
            // By owner key, as stored: a name asked for may differ from the stored one in case.
            var records: [Data: [ResourceRecord]] = [:]
            reads += 1
            if versioned && version == nil {
                // The zone row joined to the records: one row with no record when none match.
                let rows = try session.rows(
                    """
                    SELECT z.xmin::text, r.owner, r.type, r.ttl, r.name, r.rdata FROM dnsstore_zone z
                    LEFT JOIN dnsstore_record r ON r.zone = z.zone AND r.owner = ANY(\(owners)::bytea[]) WHERE z.zone = \(zone)
                    """)
                guard !rows.isEmpty else { throw StorageError.damaged("zone \(origin) is missing from its database") }
                for row in rows {
                    let (version, owner, type, ttl, name, rdata) = try row.decode((String, Data?, Int?, Int?, Data?, Data?).self)
                    self.version = version
                    if let owner, let type, let ttl, let rdata {
                        records[owner, default: []].append(
                            try PostgresZoneStore.record(owner: owner, type: type, ttl: ttl, name: name, rdata: rdata, zone: origin))
                    }
                }
            } else {
                for row in try session.rows(
                    "SELECT owner, type, ttl, name, rdata FROM dnsstore_record WHERE zone = \(zone) AND owner = ANY(\(owners)::bytea[])")
                {
                    let (owner, type, ttl, name, rdata) = try row.decode((Data, Int, Int, Data?, Data).self)
                    records[owner, default: []].append(
                        try PostgresZoneStore.record(owner: owner, type: type, ttl: ttl, name: name, rdata: rdata, zone: origin))
                }
            }
            for name in names { nodes[name] = RRSet.node(of: records[Data(OwnerKey.key(name))] ?? []) }
        }

        func leaseExpiry(_ name: DNSName) throws -> UInt64? {
            try readVersion()
            reads += 1
            return try session.rows("SELECT expires FROM dnsstore_lease WHERE zone = \(zone) AND owner = \(Data(OwnerKey.key(name)))")
                .first.map { UInt64(clamping: try $0.decode(Int64.self)) }
        }

        func hasDescendants(_ name: DNSName) throws -> Bool {
            try readVersion()
            reads += 1
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
                if let after, let position = PagePosition(after) {
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
                return (records, PagePosition(owner: Array(owner), type: type, key: Array(key)).encoded)
            }
        }
    }
}
#endif

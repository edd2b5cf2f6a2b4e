import Crypto
import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// Data files carry a schema version: older files are brought forward, newer ones refused.
@Suite("Data file schema")
struct SchemaTests {
    static func sqlite(_ path: String, _ statements: String) async throws {
        let script = "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nc.executescript(sys.argv[2])\nc.commit()"
        let result = try await Subprocess.run("python3", ["-c", script, path, statements])
        try #require(result.status == 0, "\(result.stderr)")
    }

    /// Octets as an SQL blob literal.
    static func hex(_ bytes: [UInt8]) -> String { "x'" + bytes.map { String(format: "%02x", $0) }.joined() + "'" }

    static func open(_ path: String) throws -> Authority {
        try Authority(databasePath: path, configuration: AuthorityConfiguration(zones: ["example.test."], keys: []))
    }

    static func send(_ authority: Authority, _ update: UpdateBuilder) throws -> ResponseCode {
        try Message(decoding: authority.handle(try update.message(id: 7).encode(), over: .local)[0]).rcode
    }

    static func txt(_ authority: Authority, _ name: DNSName) throws -> [RData] {
        let answer = try Message(decoding: authority.handle(try Message.query(name, type: .txt, id: 9).encode(), over: .local)[0])
        return answer.answers.map(\.rdata)
    }

    /// A file as versions 0 and 1 wrote it: records keyed by zone and owner in wire form, by the
    /// RDATA itself (version 0) or its digest (version 1).
    static func oldFile(_ path: String, version: Int, records: [ResourceRecord], duplicate: ResourceRecord? = nil) async throws {
        func key(_ rdata: RData) -> [UInt8] {
            version == 0 ? rdata.canonicalWire : Array(SHA256.hash(data: rdata.canonicalWire).prefix(16))
        }
        let origin = DNSName("example.test.").lowercased.wire
        var sql = """
            CREATE TABLE record (origin BLOB NOT NULL, owner_key BLOB NOT NULL, owner BLOB NOT NULL, type INTEGER NOT NULL,
                ttl INTEGER NOT NULL, rdata_key BLOB NOT NULL, rdata BLOB NOT NULL, PRIMARY KEY (origin, owner_key, type, rdata_key)) WITHOUT ROWID;
            CREATE TABLE journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, origin BLOB NOT NULL, serial INTEGER NOT NULL, action INTEGER NOT NULL,
                owner BLOB NOT NULL, type INTEGER NOT NULL, ttl INTEGER NOT NULL, rdata BLOB NOT NULL);
            PRAGMA user_version = \(version);

            """
        func row(_ r: ResourceRecord, key k: [UInt8]) -> String {
            "INSERT INTO record VALUES (\(hex(origin)), \(hex(r.name.lowercased.wire)), \(hex(r.name.wire)), \(r.type.rawValue), \(r.ttl), \(hex(k)), \(hex(r.rdata.uncompressedWire)));\n"
        }
        for r in records { sql += row(r, key: key(r.rdata)) }
        // A row written under the other key, as a file from just before the change could hold.
        if let duplicate { sql += row(duplicate, key: Array(SHA256.hash(data: duplicate.rdata.canonicalWire).prefix(16))) }
        try await Self.sqlite(path, sql)
    }

    static let soa = ResourceRecord(
        name: "example.test.", type: .soa, ttl: 300,
        rdata: .soa(SOA(mname: "localhost.", rname: "hostmaster.example.test.", serial: 41, refresh: 3600, retry: 600, expire: 604_800, minimum: 30)))
    static let ns = ResourceRecord(name: "example.test.", type: .ns, ttl: 300, rdata: .ns("localhost."))

    /// A file as version 2 wrote it: zones by key, owner keys in canonical order from the root,
    /// 16-octet RDATA digests, a journal of steps.
    static func version2File(_ path: String, records: [ResourceRecord]) async throws {
        func key(_ name: DNSName) -> [UInt8] { name.lowercased.labels.reversed().flatMap { $0 + [0] } }
        let zone = hex(key("example.test."))
        var sql = """
            CREATE TABLE zone (zone BLOB PRIMARY KEY, octets INTEGER NOT NULL DEFAULT 0, journal_octets INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
            CREATE TABLE record (zone BLOB NOT NULL, owner BLOB NOT NULL, type INTEGER NOT NULL, rdata_key BLOB NOT NULL,
                name BLOB, ttl INTEGER NOT NULL, rdata BLOB NOT NULL, PRIMARY KEY (zone, owner, type, rdata_key)) WITHOUT ROWID;
            CREATE TABLE journal_step (zone BLOB NOT NULL, step INTEGER NOT NULL, from_serial INTEGER NOT NULL, to_serial INTEGER NOT NULL,
                at INTEGER NOT NULL, octets INTEGER NOT NULL, PRIMARY KEY (zone, step)) WITHOUT ROWID;
            CREATE TABLE journal (zone BLOB NOT NULL, step INTEGER NOT NULL, seq INTEGER NOT NULL, action INTEGER NOT NULL,
                name BLOB NOT NULL, type INTEGER NOT NULL, ttl INTEGER NOT NULL, rdata BLOB NOT NULL, PRIMARY KEY (zone, step, seq)) WITHOUT ROWID;
            INSERT INTO zone VALUES (\(zone), 400, 0);
            PRAGMA user_version = 2;

            """
        for r in records {
            let name = r.name.wire == r.name.lowercased.wire ? "NULL" : hex(r.name.wire)
            let digest = Array(SHA256.hash(data: r.rdata.canonicalWire).prefix(16))
            sql += "INSERT INTO record VALUES (\(zone), \(hex(key(r.name))), \(r.type.rawValue), \(hex(digest)), \(name), \(r.ttl), \(hex(r.rdata.uncompressedWire)));\n"
        }
        try await Self.sqlite(path, sql)
    }

    /// A file as version 3 wrote it: zones numbered, owner keys relative to the zone, 8-octet
    /// digests, RDATA as sent, a journal of a row per change and a row per step. Version 4 added a
    /// column naming each row's packing dictionary (none here) and their table. `journal`: steps
    /// already written, each its serials and changes.
    static func version3File(
        _ path: String, version: Int = 3, records: [ResourceRecord], journal: [(from: UInt32, to: UInt32, changes: [ZoneChange])] = []
    ) async throws {
        func key(_ name: DNSName) -> [UInt8] { Array(name.lowercased.labels.dropLast(2).reversed().flatMap { $0 + [0] }) }
        let dict = version == 4 ? ", dict INTEGER" : ""
        var sql = """
            CREATE TABLE zone (id INTEGER PRIMARY KEY, origin BLOB NOT NULL UNIQUE, octets INTEGER NOT NULL DEFAULT 0,
                journal_octets INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE record (zone INTEGER NOT NULL, owner BLOB NOT NULL, type INTEGER NOT NULL, rdata_key BLOB NOT NULL,
                name BLOB, ttl INTEGER NOT NULL, rdata BLOB NOT NULL\(dict), PRIMARY KEY (zone, owner, type, rdata_key)) WITHOUT ROWID;
            CREATE TABLE journal_step (zone INTEGER NOT NULL, step INTEGER NOT NULL, from_serial INTEGER NOT NULL, to_serial INTEGER NOT NULL,
                at INTEGER NOT NULL, octets INTEGER NOT NULL, PRIMARY KEY (zone, step)) WITHOUT ROWID;
            CREATE TABLE journal (zone INTEGER NOT NULL, step INTEGER NOT NULL, seq INTEGER NOT NULL, action INTEGER NOT NULL,
                name BLOB NOT NULL, type INTEGER NOT NULL, ttl INTEGER NOT NULL, rdata BLOB NOT NULL\(dict), PRIMARY KEY (zone, step, seq)) WITHOUT ROWID;
            INSERT INTO zone VALUES (1, \(hex(DNSName("example.test.").lowercased.labels.reversed().flatMap { $0 + [0] })), 400, 0);
            \(version == 4 ? "CREATE TABLE dictionary (id INTEGER PRIMARY KEY, octets BLOB NOT NULL);" : "")
            PRAGMA user_version = \(version);

            """
        let null = version == 4 ? ", NULL" : ""
        for r in records {
            let name = r.name.wire == r.name.lowercased.wire ? "NULL" : hex(r.name.wire)
            let digest = Array(SHA256.hash(data: r.rdata.canonicalWire).prefix(8))
            sql += "INSERT INTO record VALUES (1, \(hex(key(r.name))), \(r.type.rawValue), \(hex(digest)), \(name), \(r.ttl), \(hex(r.rdata.uncompressedWire))\(null));\n"
        }
        for (step, planned) in journal.enumerated() {
            sql += "INSERT INTO journal_step VALUES (1, \(step + 1), \(planned.from), \(planned.to), CAST(strftime('%s', 'now') AS INTEGER), 100);\n"
            for (seq, change) in planned.changes.enumerated() {
                let r = change.record
                sql += "INSERT INTO journal VALUES (1, \(step + 1), \(seq), \(change.action.rawValue), \(hex(r.name.wire)), \(r.type.rawValue), \(r.ttl), \(hex(r.rdata.uncompressedWire))\(null));\n"
            }
        }
        try await Self.sqlite(path, sql)
    }

    @Test(arguments: [0, 1, 2, 3, 4])
    func filesFromEarlierSchemaVersionsAreMigrated(_ version: Int) async throws {
        let dir = try TempDirectory.make("schema")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("zones.sqlite").path
        let one = ResourceRecord.txt("a.example.test.", TXT("one"), ttl: 300)
        let two = ResourceRecord.txt("B.Example.test.", TXT("two"), ttl: 300)
        if version >= 3 {
            try await Self.version3File(path, version: version, records: [Self.soa, Self.ns, one, two])
        } else if version == 2 {
            try await Self.version2File(path, records: [Self.soa, Self.ns, one, two])
        } else {
            try await Self.oldFile(path, version: version, records: [Self.soa, Self.ns, one, two], duplicate: version == 0 ? one : nil)
        }
        let authority = try Self.open(path)
        #expect(try Self.txt(authority, "a.example.test.") == [.txt(TXT("one"))])
        var delete = UpdateBuilder(zone: "example.test.")
        delete.apply(.deleteRecord("a.example.test.", .txt, .txt(TXT("one"))))
        #expect(try Self.send(authority, delete) == .noError)
        // Opened again, the deleted record stays deleted, nothing is doubled, names keep their case.
        let reopened = try Self.open(path)
        #expect(try Self.txt(reopened, "a.example.test.").isEmpty)
        #expect(try Self.txt(reopened, "b.example.test.") == [.txt(TXT("two"))])
        #expect(try reopened.salvage("example.test.").records.contains { $0.name.description == "B.Example.test." })
        let soa = try Message(decoding: reopened.handle(try Message.query("example.test.", type: .soa, id: 4).encode(), over: .local)[0])
        guard case .soa(let record)? = soa.answers.first?.rdata else { Issue.record("no SOA"); return }
        #expect(record.serial == 42)
        let stored = try await Subprocess.run("python3", ["-c", "import sqlite3,sys;print(sqlite3.connect(sys.argv[1]).execute('PRAGMA user_version').fetchone()[0])", path])
        #expect(stored.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "6")
    }

    /// Version 5 had no leases: opened, the file gains their table and keeps everything else.
    @Test func aVersion5FileGainsLeases() async throws {
        let dir = try TempDirectory.make("schema")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("zones.sqlite").path
        var add = UpdateBuilder(zone: "example.test.")
        add.add(.txt("a.example.test.", TXT("one"), ttl: 300))
        #expect(try Self.send(try Self.open(path), add) == .noError)
        // As a build of version 5 left it: no leases, and its version only in `user_version`.
        try await Self.sqlite(path, "DROP TABLE lease; DROP TABLE grdb_migrations; PRAGMA user_version = 5;")
        let authority = try Self.open(path)
        #expect(try Self.txt(authority, "a.example.test.") == [.txt(TXT("one"))])
        var builder = UpdateBuilder(zone: "example.test.")
        builder.add(.txt("b.example.test.", TXT("two"), ttl: 300))
        var leased = builder.message(id: 8)
        leased.edns = EDNS(options: [.updateLease(1)])
        let answer = try Message(decoding: authority.handle(try leased.encode(), over: .local)[0])
        #expect(answer.rcode == .noError)
        #expect(authority.expireLeases(now: WallClock.seconds() + 5) == 1)
        #expect(try Self.txt(authority, "b.example.test.").isEmpty)
    }

    /// Version 4 kept a journal row per change; its history still answers IXFR after the move to a
    /// row per step, and the steps written after it number on from it.
    @Test func aVersion4JournalStillAnswersIXFR() async throws {
        let dir = try TempDirectory.make("schema")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("zones.sqlite").path
        func soa(_ serial: UInt32) -> ResourceRecord {
            var record = Self.soa
            guard case .soa(var fields) = record.rdata else { return record }
            fields.serial = serial
            record.rdata = .soa(fields)
            return record
        }
        let one = ResourceRecord.txt("a.example.test.", TXT("one"), ttl: 300)
        let earlier = ResourceRecord.txt("a.example.test.", TXT("zero"), ttl: 300)
        try await Self.version3File(
            path, version: 4, records: [Self.soa, Self.ns, one],
            journal: [(40, 41, [ZoneChange(action: .delete, record: soa(40)), ZoneChange(action: .delete, record: earlier),
                ZoneChange(action: .add, record: soa(41)), ZoneChange(action: .add, record: one)])])
        let authority = try Self.open(path)
        var add = UpdateBuilder(zone: "example.test.")
        add.add(.txt("b.example.test.", TXT("two"), ttl: 300))
        #expect(try Self.send(authority, add) == .noError)
        // SOA 42; from 40: SOA 40, "zero" deleted, SOA 41, "one" added; SOA 41, SOA 42, "two" added; SOA 42.
        let records = try StorageTests.ixfr(authority, from: 40)
        let serials = records.compactMap { record -> UInt32? in
            guard case .soa(let fields) = record.rdata else { return nil }
            return fields.serial
        }
        #expect(serials == [42, 40, 41, 41, 42, 42])
        #expect(records.filter { $0.type == .txt }.map(\.rdata) == [.txt(TXT("zero")), .txt(TXT("one")), .txt(TXT("two"))])
        #expect(authority.statistics.incrementalTransfers.load(ordering: .relaxed) == 1)
    }

    @Test func filesFromANewerVersionAreRefusedByName() async throws {
        let dir = try TempDirectory.make("schema")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("zones.sqlite").path
        _ = try Self.open(path)
        try await Self.sqlite(path, "PRAGMA user_version = 99;")
        #expect {
            try Self.open(path)
        } throws: { error in
            "\(error)".contains("\(path) has schema version 99, written by a newer dnsstore; this one reads versions up to 6")
        }
        // The command line says the same, and exits without touching the file.
        let cli = try await Subprocess.run(
            try BuiltProducts.executable("dnsstore"), ["get", "db/c/x", "--data", dir.path])
        #expect(cli.status == 8)
        #expect(cli.stderr.contains("cannot be used") && cli.stderr.contains("schema version 99"))

        // A newer build's migration, by its name, is refused the same way.
        try await Self.sqlite(path, "PRAGMA user_version = 6; INSERT INTO grdb_migrations VALUES ('v7');")
        #expect {
            try Self.open(path)
        } throws: { error in
            "\(error)".contains("has migrations v7, applied by a newer dnsstore; this one reads versions up to 6")
        }
    }

    /// Each layout is a named migration; a file that knew its version only by number is marked
    /// with the migrations up to it and given the rest.
    @Test func aFileRecordsTheMigrationsItHad() async throws {
        let dir = try TempDirectory.make("schema")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("zones.sqlite").path
        try await Self.version3File(path, version: 4, records: [Self.soa, Self.ns, .txt("a.example.test.", TXT("one"), ttl: 300)])
        _ = try Self.open(path)
        let applied = try await Subprocess.run(
            "python3", ["-c", "import sqlite3,sys;print(','.join(r[0] for r in sqlite3.connect(sys.argv[1]).execute('SELECT identifier FROM grdb_migrations ORDER BY identifier')))", path])
        #expect(applied.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "v3,v4,v5,v6")
        // A new file goes through every migration and ends at the same layout.
        let fresh = dir.appendingPathComponent("new.sqlite").path
        _ = try Self.open(fresh)
        // Tables by name with their columns (name, type, not null, key), and indexes by name.
        let schema = """
            import sqlite3,sys
            c=sqlite3.connect(sys.argv[1])
            names=[r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'grdb%' ORDER BY name")]
            print([(n,[(r[1],r[2],r[3],r[5]) for r in c.execute('PRAGMA table_info(%s)'%n)]) for n in names])
            print([r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='index' AND sql IS NOT NULL ORDER BY name")])
            """
        let a = try await Subprocess.run("python3", ["-c", schema, path])
        let b = try await Subprocess.run("python3", ["-c", schema, fresh])
        #expect(a.status == 0 && a.stdout == b.stdout, "\(a.stderr)")
    }

    /// Engines that share a file may open a new one at the same moment: every one of them gets
    /// the migrated file, none an error.
    @Test func aNewFileOpenedByFourAtOnceIsMigratedOnce() async throws {
        let dir = try TempDirectory.make("schema")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("zones.sqlite").path
        let opened = try await withThrowingTaskGroup(of: Bool.self) { group in
            for _ in 0..<4 { group.addTask { (try? Self.open(path)) != nil } }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(opened == 4)
        var add = UpdateBuilder(zone: "example.test.")
        add.add(.txt("a.example.test.", TXT("one"), ttl: 300))
        #expect(try Self.send(try Self.open(path), add) == .noError)
    }
}

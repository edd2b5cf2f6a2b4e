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
    /// digests, RDATA as sent.
    static func version3File(_ path: String, records: [ResourceRecord]) async throws {
        func key(_ name: DNSName) -> [UInt8] { Array(name.lowercased.labels.dropLast(2).reversed().flatMap { $0 + [0] }) }
        var sql = """
            CREATE TABLE zone (id INTEGER PRIMARY KEY, origin BLOB NOT NULL UNIQUE, octets INTEGER NOT NULL DEFAULT 0,
                journal_octets INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE record (zone INTEGER NOT NULL, owner BLOB NOT NULL, type INTEGER NOT NULL, rdata_key BLOB NOT NULL,
                name BLOB, ttl INTEGER NOT NULL, rdata BLOB NOT NULL, PRIMARY KEY (zone, owner, type, rdata_key)) WITHOUT ROWID;
            CREATE TABLE journal_step (zone INTEGER NOT NULL, step INTEGER NOT NULL, from_serial INTEGER NOT NULL, to_serial INTEGER NOT NULL,
                at INTEGER NOT NULL, octets INTEGER NOT NULL, PRIMARY KEY (zone, step)) WITHOUT ROWID;
            CREATE TABLE journal (zone INTEGER NOT NULL, step INTEGER NOT NULL, seq INTEGER NOT NULL, action INTEGER NOT NULL,
                name BLOB NOT NULL, type INTEGER NOT NULL, ttl INTEGER NOT NULL, rdata BLOB NOT NULL, PRIMARY KEY (zone, step, seq)) WITHOUT ROWID;
            INSERT INTO zone VALUES (1, \(hex(DNSName("example.test.").lowercased.labels.reversed().flatMap { $0 + [0] })), 400, 0);
            PRAGMA user_version = 3;

            """
        for r in records {
            let name = r.name.wire == r.name.lowercased.wire ? "NULL" : hex(r.name.wire)
            let digest = Array(SHA256.hash(data: r.rdata.canonicalWire).prefix(8))
            sql += "INSERT INTO record VALUES (1, \(hex(key(r.name))), \(r.type.rawValue), \(hex(digest)), \(name), \(r.ttl), \(hex(r.rdata.uncompressedWire)));\n"
        }
        try await Self.sqlite(path, sql)
    }

    @Test(arguments: [0, 1, 2, 3])
    func filesFromEarlierSchemaVersionsAreMigrated(_ version: Int) async throws {
        let dir = try TempDirectory.make("schema")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("zones.sqlite").path
        let one = ResourceRecord.txt("a.example.test.", TXT("one"), ttl: 300)
        let two = ResourceRecord.txt("B.Example.test.", TXT("two"), ttl: 300)
        if version == 3 {
            try await Self.version3File(path, records: [Self.soa, Self.ns, one, two])
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
        #expect(stored.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "4")
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
            "\(error)".contains("\(path) has schema version 99, written by a newer dnsstore; this one reads versions up to 4")
        }
        // The command line says the same, and exits without touching the file.
        let cli = try await Subprocess.run(
            try BuiltProducts.executable("dnsstore"), ["get", "db/c/x", "--data", dir.path])
        #expect(cli.status == 1)
        #expect(cli.stderr.contains("cannot be used") && cli.stderr.contains("schema version 99"))
    }
}

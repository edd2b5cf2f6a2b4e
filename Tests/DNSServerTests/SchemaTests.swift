import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// Data files carry a schema version: older files are brought forward, newer ones refused.
@Suite("Data file schema")
struct SchemaTests {
    static func sqlite(_ path: String, _ statements: String) throws {
        let script = "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nc.executescript(sys.argv[2])\nc.commit()"
        let result = try Subprocess.run("python3", ["-c", script, path, statements])
        try #require(result.status == 0, "\(result.stderr)")
    }

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

    @Test func filesFromBeforeSchemaVersionsAreMigrated() throws {
        let dir = try TempDirectory.make("schema")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("zones.sqlite").path
        do {
            let authority = try Self.open(path)
            var update = UpdateBuilder(zone: "example.test.")
            update.add(.txt("a.example.test.", TXT("one")))
            update.add(.txt("b.example.test.", TXT("two")))
            #expect(try Self.send(authority, update) == .noError)
        }
        // As files were before versions: no version, records keyed by their RDATA itself.
        try Self.sqlite(path, "UPDATE record SET rdata_key = rdata; PRAGMA user_version = 0;")
        let authority = try Self.open(path)
        var delete = UpdateBuilder(zone: "example.test.")
        delete.apply(.deleteRecord("a.example.test.", .txt, .txt(TXT("one"))))
        #expect(try Self.send(authority, delete) == .noError)
        // Opened again, the deleted record stays deleted and nothing is doubled.
        let reopened = try Self.open(path)
        #expect(try Self.txt(reopened, "a.example.test.").isEmpty)
        #expect(try Self.txt(reopened, "b.example.test.") == [.txt(TXT("two"))])
        let version = try Subprocess.run("python3", ["-c", "import sqlite3,sys;print(sqlite3.connect(sys.argv[1]).execute('PRAGMA user_version').fetchone()[0])", path])
        #expect(version.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1")
    }

    @Test func filesFromANewerVersionAreRefusedByName() throws {
        let dir = try TempDirectory.make("schema")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("zones.sqlite").path
        _ = try Self.open(path)
        try Self.sqlite(path, "PRAGMA user_version = 99;")
        #expect {
            try Self.open(path)
        } throws: { error in
            "\(error)".contains("\(path) has schema version 99, written by a newer dnsstore; this one reads versions up to 1")
        }
        // The command line says the same, and exits without touching the file.
        let cli = try Subprocess.run(
            try BuiltProducts.executable("dnsstore"), ["get", "db/c/x", "--data", dir.path])
        #expect(cli.status == 1)
        #expect(cli.stderr.contains("cannot be used") && cli.stderr.contains("schema version 99"))
    }
}

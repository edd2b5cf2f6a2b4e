import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// The SQLite file keeps RDATA packed with a dictionary trained on its own records: answers,
/// transfers and the journal give back exactly what was written, in this process and another.
@Suite("Packed RDATA")
struct CompressionTests {
    static func python(_ path: String, _ query: String) async throws -> String {
        let script = "import sqlite3,sys\nc=sqlite3.connect(sys.argv[1])\nfor r in c.execute(sys.argv[2]): print(*r)\nc.commit()"
        let result = try await Subprocess.run("python3", ["-c", script, path, query])
        try #require(result.status == 0, "\(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A document-like TXT text: the same keys, varying values.
    static func text(_ i: Int) -> String {
        #"{"h":"\#(String(i * 7919, radix: 36))","id":"host-\#(i)","n":\#(60 + i % 9),"v":1}"# + "\n"
            + #"{"host":"host-\#(i).example.net","role":"\#(["web", "db", "cache"][i % 3])","rack":\#(i % 40)}"#
    }

    static func name(_ i: Int) -> DNSName { try! DNSName("h\(i).example.test.") }

    @Test func packedRowsReadBackExactlyHereInAnotherEngineInTransfersAndInTheJournal() async throws {
        let dir = try TempDirectory.make("packed")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("zones.sqlite").path
        let engine = try StorageTests.engine(path)
        let count = 4_000
        for start in stride(from: 0, to: count, by: 100) {
            #expect(try StorageTests.update(engine) { u in
                for i in start..<(start + 100) { u.add(.txt(Self.name(i), TXT(splitting: Array(Self.text(i).utf8)))) }
            } == .noError)
        }
        // Enough records to train on: the rows it learned from and later ones are packed, and
        // take far fewer octets.
        await #expect(try Self.python(path, "SELECT COUNT(*) FROM dictionary") == "1")
        let packed = try await Self.python(path, "SELECT COUNT(*), SUM(length(rdata)) FROM record WHERE dict IS NOT NULL").split(separator: " ")
        #expect(Int(packed[0])! >= 3_500)
        let raw = (0..<count).map { RData.txt(TXT(splitting: Array(Self.text($0).utf8))).uncompressedWire.count }.reduce(0, +) / count
        #expect(Double(packed[1])! / Double(packed[0])! < Double(raw) * 0.7)
        // Replaced and deleted packed rows: the journal keeps them as written.
        let serialBefore = try StorageTests.serial(engine)
        #expect(try StorageTests.update(engine) { u in
            u.replace(Self.name(count - 1), .txt, with: [.txt(TXT("replaced"))], ttl: 300)
            u.apply(.deleteName(Self.name(count - 2)))
        } == .noError)
        let diff = try StorageTests.ixfr(engine, from: serialBefore)
        #expect(diff.contains { $0.name == Self.name(count - 1) && $0.rdata == .txt(TXT(splitting: Array(Self.text(count - 1).utf8))) })
        #expect(diff.contains { $0.name == Self.name(count - 2) && $0.rdata == .txt(TXT(splitting: Array(Self.text(count - 2).utf8))) })
        #expect(diff.contains { $0.name == Self.name(count - 1) && $0.rdata == .txt(TXT("replaced")) })
        // Another engine on the file (its dictionaries read from it) answers every name as written.
        let other = try StorageTests.engine(path)
        for i in stride(from: 0, to: count - 2, by: 7) {
            #expect(try StorageTests.text(StorageTests.query(other, Self.name(i))) == Self.text(i))
        }
        #expect(try StorageTests.text(StorageTests.query(other, Self.name(count - 1))) == "replaced")
        let everything = try other.salvage("example.test.")
        #expect(everything.damaged.isEmpty)
        #expect(everything.records.filter { $0.type == .txt }.count == count - 1)
        for record in everything.records where record.type == .txt && record.name != Self.name(count - 1) {
            let i = Int(record.name.description.dropFirst().prefix { $0 != "." })!
            #expect(record.rdata == .txt(TXT(splitting: Array(Self.text(i).utf8))))
        }
    }

    @Test func aRowPackedWithADictionaryTheFileLacksIsNamedAsDamage() async throws {
        let dir = try TempDirectory.make("packed")
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("zones.sqlite").path
        let engine = try StorageTests.engine(path)
        for start in stride(from: 0, to: 2_600, by: 100) {
            #expect(try StorageTests.update(engine) { u in
                for i in start..<(start + 100) { u.add(.txt(Self.name(i), TXT(splitting: Array(Self.text(i).utf8)))) }
            } == .noError)
        }
        let packed = try await Self.python(path, "SELECT COUNT(*) FROM record WHERE dict IS NOT NULL AND type = 16")
        #expect(Int(packed)! > 0)
        _ = try await Self.python(path, "UPDATE record SET dict = 99 WHERE dict IS NOT NULL AND type = 16")
        let reopened = try StorageTests.engine(path)
        let salvaged = try reopened.salvage("example.test.")
        #expect(salvaged.damaged.count == Int(packed)!)
        #expect(salvaged.damaged.first?.contains("dictionary 99, which the file does not hold") == true)
        // The damaged rows are answered SERVFAIL; what is written now is packed with the
        // dictionary the file holds, and reads back.
        #expect(try StorageTests.query(reopened, Self.name(0)).rcode == .servFail)
        #expect(try StorageTests.update(reopened) { $0.add(.txt(Self.name(9_999), TXT(splitting: Array(Self.text(9_999).utf8)))) } == .noError)
        await #expect(try Self.python(path, "SELECT dict FROM record WHERE owner = x'683939393900'") == "1")
        #expect(try StorageTests.text(StorageTests.query(reopened, Self.name(9_999))) == Self.text(9_999))
    }
}

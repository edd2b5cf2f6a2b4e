import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// fsck repairs only what can be made whole; damaged documents are kept, deleted or quarantined.
@Suite("Command line: fsck")
struct FsckTests {
    /// Changes the embedded store's zone behind the store's back.
    static func tamper(_ cli: CLI, _ edit: (inout UpdateBuilder) -> Void) throws {
        let authority = try Authority(
            databasePath: cli.directory.appendingPathComponent("dnsstore-data/zones.sqlite").path,
            configuration: AuthorityConfiguration(zones: ["dnsstore.localhost."], keys: []))
        var update = UpdateBuilder(zone: "dnsstore.localhost.")
        edit(&update)
        let answer = try Message(decoding: authority.handle(try update.message(id: 1).encode(), over: .local)[0])
        #expect(answer.rcode == .noError)
    }

    static func recordName(_ cli: CLI, _ path: String) async throws -> DNSName {
        let inspected = try await cli.run("inspect", path).out
        return try DNSName(try #require(inspected.split(separator: " ").first.map(String.init)))
    }

    static func txt(_ text: String) -> RData { .txt(TXT(text)) }

    @Test func damagedDocumentsAreNeverRelinkedAndCanBeQuarantined() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        for i in 0..<4 { try await cli.run("put", "db/c/doc\(i)", "{\"i\":\(i)}") }
        let bad = try await Self.recordName(cli, "db/c/doc1")
        let orphan = try await Self.recordName(cli, "db/c/doc2")
        let notJSON = try await Self.recordName(cli, "db/c/doc3")
        // doc1: content that fails its digest. doc2: the same, and gone from its index.
        // doc3: a record whose digest matches, but whose content is not JSON.
        try Self.tamper(cli) { u in
            u.replace(bad, .txt, with: [Self.txt(#"{"h":"AAAAAAAAAAAAAAAAAAAAAA","id":"doc1","n":7,"v":1}"# + "\n{\"i\":9}")], ttl: 30)
            u.replace(orphan, .txt, with: [Self.txt(#"{"h":"AAAAAAAAAAAAAAAAAAAAAA","id":"doc2","n":7,"v":1}"# + "\n{\"i\":9}")], ttl: 30)
            // digest of "{i:3}" computed the way section 7 says
            u.replace(notJSON, .txt, with: [Self.txt(#"{"h":"RBlGW8So1IPoHv9kzG7f_w","id":"doc3","n":5,"v":1}"# + "\n{i:3}")], ttl: 30)
        }
        #expect(try idList(await cli.run("list", "db/c").out).sorted() == ["doc0", "doc1", "doc2", "doc3"])
        // Unlink doc2 from its index: an empty page in place of its chunk's. Whole documents that
        // shared the chunk come back through fsck's own repair below.
        let pageName = orphan.parent
        try Self.tamper(cli) { u in
            u.replace(pageName, .txt, with: [Self.txt("{\"id\":\(String(decoding: pageName.labels[0], as: UTF8.self)),\"record\":{}}")], ttl: 30)
        }

        let check = try await cli.run("fsck")
        #expect(check.status == 9)
        #expect(check.out.contains("damaged document"))
        #expect(check.out.contains("its digest does not match its content"))
        #expect(check.out.contains("is not strict JSON"))

        // A repair re-links whole documents only; damaged ones stay out of sight and are reported.
        let repaired = try await cli.run("fsck", "--repair")
        #expect(repaired.status == 9)
        #expect(!(try await cli.run("list", "db/c").out.contains("doc2")))
        let read = try await cli.run("get", "db/c/doc1")
        #expect(read.status == 9)
        #expect(read.err.contains("fails its digest") && read.err.contains("fsck --repair --quarantine"))

        // Quarantine saves the texts and takes the documents out; the store is then clean.
        let quarantined = try await cli.run("fsck", "--repair", "--quarantine", "q")
        #expect(quarantined.status == 0, "\(quarantined.out) \(quarantined.err)")
        let saved = try FileManager.default.contentsOfDirectory(atPath: cli.directory.appendingPathComponent("q").path)
        #expect(Set(saved) == [bad.description, orphan.description, notJSON.description])
        let text = try String(contentsOf: cli.directory.appendingPathComponent("q").appendingPathComponent(notJSON.description), encoding: .utf8)
        #expect(text.hasSuffix("\n{i:3}"))
        #expect(try await cli.run("fsck").status == 0)
        #expect(try await cli.run("list", "db/c").out == #"["doc0"]"#)
        // Versions still never repeat: doc1 comes back above what was quarantined.
        #expect(try await cli.run("put", "db/c/doc1", "{}").out.contains(#""version":2"#))
    }

    @Test func oversizeIndexPagesAreFoundAndLaidOutAgain() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        try await cli.run("db", "create", "db")
        try await cli.run("collection", "create", "db/c", "--chunks", "1")
        try await cli.run("put", "db/c/seed", "{}")
        let pageName = try await Self.recordName(cli, "db/c/seed").parent
        // An earlier writer's page of 170 long ids, over 16,000 octets; their records exist.
        let ids = (0..<170).map { "id\($0)-" + String(repeating: "x", count: 90) }
        let page = "{\"id\":0,\"record\":{" + (ids + ["seed"]).map { "\"\($0)\":{}" }.joined(separator: ",") + "}}"
        try #require(page.utf8.count > 16_000)
        for start in stride(from: 0, to: ids.count, by: 40) {
            let lines = ids[start..<min(start + 40, ids.count)].map { #"{"id":"\#($0)","doc":{}}"# }.joined(separator: "\n")
            try await cli.run("import", "db/c", "-", input: lines)
        }
        try Self.tamper(cli) { u in
            u.replace(pageName, .txt, with: [.txt(TXT(splitting: Array(page.utf8)))], ttl: 30)
            u.apply(.deleteName(try! pageName.prepending("_p1")))
        }
        let check = try await cli.run("fsck")
        #expect(check.status == 9 && check.out.contains("index page over 16,000 octets"))
        #expect(try await cli.run("fsck", "--repair").status == 0)
        #expect(try await cli.run("fsck").status == 0)
        let listed = try await cli.run("list", "db/c").out
        #expect(listed.components(separatedBy: ",").count == 171)
    }
}

import ArgumentParser
import DNSStore
import Foundation

/// JSON Lines rows `{"id":ID,"version":V,"doc":DOC}` with the document's stored octets, which
/// `get --with-version` and `find` print too, so every command shows a document the same way.
enum JSONLines {
    static func line(_ document: Document) -> [UInt8] {
        Array("{\"id\":".utf8) + JSONText.string(document.id) + Array(",\"version\":\(document.version),\"doc\":".utf8)
            + document.json + [UInt8(ascii: "}")]
    }

    /// The id and document octets of a row: any JSON object with a string "id" and a "doc"
    /// (other members are ignored). The document's octets are taken as they are in the row.
    static func parse(_ line: [UInt8], number: Int) throws -> (String, [UInt8]) {
        let members: [(name: String, value: Range<Int>)]
        do {
            members = try JSONText.members(ofObject: line)
        } catch {
            throw CLIError.invalidInput("line \(number) is not a JSON object: \(error)")
        }
        guard let idMember = members.first(where: { $0.name == "id" }), let id = JSONText.stringValue(line[idMember.value]) else {
            throw CLIError.invalidInput("line \(number) has no string \"id\"")
        }
        guard let doc = members.first(where: { $0.name == "doc" }) else {
            throw CLIError.invalidInput("line \(number) has no \"doc\"")
        }
        do {
            try Naming.validate(id)
        } catch let error as StoreError {
            throw CLIError.invalidInput("line \(number): \(error)")
        }
        return (id, Array(line[doc.value]))
    }
}

/// A progress line on a terminal's standard error; nothing when it is not a terminal.
struct Progress {
    let total: Int?
    let label: String
    let enabled = Output.stderrIsTerminal
    private var last = ContinuousClock.now

    init(total: Int?, label: String) {
        self.total = total
        self.label = label
    }

    mutating func update(_ done: Int, force: Bool = false) {
        guard enabled, force || ContinuousClock.now - last > .milliseconds(100) else { return }
        last = .now
        var text = "\r\(label) \(done)"
        if let total, total > 0 {
            let width = 30
            let filled = min(width, done * width / total)
            text = "\r\(label) [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] \(done)/\(total)"
        }
        FileHandle.standardError.write(Data(text.utf8))
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a collection's documents as JSON Lines.",
        discussion: "Example: dnsstore export inventory/hosts > hosts.jsonl")
    @OptionGroup var store: StoreOptions
    @Argument(help: "database/collection") var path: String
    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.") var output: String?

    func run() async throws {
        try await report(store) {
            let p = try StorePath(path, needs: 2)
            let collection = p.collection(in: try await store.openStore())
            let ids = try await collection.ids()
            var progress = Progress(total: ids.count, label: "exporting")
            var out = [UInt8]()
            var done = 0
            for start in stride(from: 0, to: ids.count, by: 64) {
                let page = Array(ids[start..<min(start + 64, ids.count)])
                let documents = try await withThrowingTaskGroup(of: (Int, Document?).self) { group in
                    for (i, id) in page.enumerated() { group.addTask { (i, try await collection.get(id)) } }
                    var found = [Document?](repeating: nil, count: page.count)
                    for try await (i, document) in group { found[i] = document }
                    return found.compactMap { $0 }
                }
                for document in documents {
                    out += JSONLines.line(document)
                    out.append(0x0A)
                }
                done += page.count
                progress.update(done)
            }
            progress.update(done, force: true)
            progress.finish()
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: Data(out)) else {
                    throw CLIError.invalidInput("cannot write \(output)")
                }
            } else {
                FileHandle.standardOutput.write(Data(out))
            }
        }
    }
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Put documents from JSON Lines ({\"id\": ..., \"doc\": ...} per line).",
        discussion: "Creates the database and collection if needed. Example: dnsstore import inventory/hosts hosts.jsonl")
    @OptionGroup var store: StoreOptions
    @Argument(help: "database/collection") var path: String
    @Argument(help: "A JSON Lines file, or - for standard input.") var file: String = "-"

    func run() async throws {
        try await report(store) {
            let p = try StorePath(path, needs: 2)
            let bytes = try readDocument(file == "-" ? "-" : "@" + file)
            let lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: true).map { Array($0) }
                .filter { !$0.allSatisfy { $0 == 0x20 || $0 == 0x0D || $0 == 0x09 } }
            var rows: [(String, [UInt8])] = []
            for (i, line) in lines.enumerated() { rows.append(try JSONLines.parse(line, number: i + 1)) }
            let collection = try await store.openStore().collectionForWriting(p.database, p.collection!, documents: rows.map { ($0.0, $0.1) })
            var progress = Progress(total: rows.count, label: "importing")
            var done = 0
            for start in stride(from: 0, to: rows.count, by: 16) {
                let page = Array(rows[start..<min(start + 16, rows.count)])
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (id, doc) in page { group.addTask { _ = try await collection.putJSON(id, doc) } }
                    try await group.waitForAll()
                }
                done += page.count
                progress.update(done)
            }
            progress.update(done, force: true)
            progress.finish()
            print(try Output.value(["imported": rows.count], compact: store.compact))
        }
    }
}

import ArgumentParser
import DNSStore
import DNSWire
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
final class Progress: Sendable {
    let total: Int?
    let label: String
    let enabled = Output.stderrIsTerminal
    private let started = ContinuousClock.now
    private let last = Locked(ContinuousClock.now - .seconds(1))

    init(total: Int?, label: String) {
        self.total = total
        self.label = label
    }

    /// Redraws the line (at most ten times a second unless `force`): bar, count, size, rate and,
    /// when the total is known, the time left. The rest of the line is erased, so a shorter
    /// text leaves nothing of a longer one behind.
    func update(_ done: Int, octets: Int? = nil, force: Bool = false) {
        guard enabled else { return }
        let due = last.withLock { last -> Bool in
            guard force || ContinuousClock.now - last > .milliseconds(100) else { return false }
            last = .now
            return true
        }
        guard due else { return }
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let text = Self.line(label: label, done: done, total: total, octets: octets, seconds: seconds)
        FileHandle.standardError.write(Data(("\r" + text + "\u{1B}[K").utf8))
    }

    /// The progress line for `done` of `total` after `seconds`.
    static func line(label: String, done: Int, total: Int?, octets: Int?, seconds: Double) -> String {
        var text = "\(label) \(done)"
        if let total, total > 0 {
            let width = 30
            let filled = min(width, done * width / total)
            text = "\(label) [" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] \(done)/\(total)"
        }
        text += " documents"
        if let octets { text += ", " + size(octets) }
        guard seconds >= 0.5, done > 0 else { return text }
        let rate = Double(done) / seconds
        text += String(format: ", %.0f/s", rate)
        if let total, total > done { text += ", " + duration(Double(total - done) / rate) + " left" }
        return text
    }

    static func size(_ octets: Int) -> String {
        if octets < 1 << 20 { return String(format: "%.1f KiB", Double(octets) / 1024) }
        return String(format: "%.1f MiB", Double(octets) / 1_048_576)
    }

    static func duration(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded(.up))
        return whole < 60 ? "\(whole) s" : whole < 3600 ? "\(whole / 60) min \(whole % 60) s" : "\(whole / 3600) h \(whole % 3600 / 60) min"
    }

    func finish() {
        if enabled { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}

/// The lines of a file or of standard input, read a block at a time, so that a large import
/// never holds the whole file.
struct LineReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var start = 0
    private var ended = false
    /// The number of the line last returned, from 1.
    private(set) var number = 0

    init(_ path: String) throws {
        if path == "-" {
            handle = FileHandle.standardInput
        } else {
            guard FileManager.default.fileExists(atPath: path) else { throw CLIError.invalidInput("the file \(path) does not exist") }
            guard let opened = FileHandle(forReadingAtPath: path) else { throw CLIError.invalidInput("cannot read the file \(path)") }
            handle = opened
        }
    }

    /// The next line without its end (LF or CRLF), or nil at the end.
    mutating func next() throws -> [UInt8]? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                var line = Array(buffer[start..<newline])
                if line.last == 0x0D { line.removeLast() }
                start = newline + 1
                number += 1
                return line
            }
            if ended {
                guard start < buffer.count else { return nil }
                let line = Array(buffer[start...])
                start = buffer.count
                number += 1
                return line
            }
            buffer.removeFirst(start)
            start = 0
            let block = try handle.read(upToCount: 1 << 20) ?? Data()
            if block.isEmpty { ended = true } else { buffer += block }
        }
    }
}

struct ExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export", abstract: "Write a collection's documents as JSON Lines.",
        discussion: "Example: dnsstore export inventory/hosts > hosts.jsonl")
    @Argument(help: "database/collection") var path: String
    @Option(name: .shortAndLong, help: "Write to this file instead of standard output.") var output: String?
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await report(store) {
            let p = try StorePath(path, needs: 2)
            let collection = p.collection(in: try await store.openStore())
            // Written as it is read, a page of the index at a time: memory stays flat.
            let out: FileHandle
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: nil), let file = FileHandle(forWritingAtPath: output) else {
                    throw CLIError.invalidInput("cannot write \(output)")
                }
                out = file
            } else {
                out = FileHandle.standardOutput
            }
            let progress = Progress(total: nil, label: "exporting")
            var done = 0
            var octets = 0
            for try await documents in collection.scan() {
                var lines = [UInt8]()
                for document in documents {
                    lines += JSONLines.line(document)
                    lines.append(0x0A)
                    octets += document.json.count
                }
                try out.write(contentsOf: lines)
                done += documents.count
                progress.update(done, octets: octets)
            }
            progress.update(done, octets: octets, force: true)
            progress.finish()
            if output != nil { try out.close() }
        }
    }
}

struct ImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import", abstract: "Put documents from JSON Lines ({\"id\": ..., \"doc\": ...} per line).",
        discussion: "Creates the database and collection if needed. Example: dnsstore import inventory/hosts hosts.jsonl")
    @Argument(help: "database/collection") var path: String
    @Argument(help: "A JSON Lines file, or - for standard input.") var file: String = "-"

    @Option(parsing: .unconditional, help: "UPDATEs in flight at once (1 to 64).") var concurrency = 4
    @OptionGroup var store: StoreOptions

    func validate() throws {
        guard (1...64).contains(concurrency) else { throw ValidationError("--concurrency must be 1 to 64, not \(concurrency)") }
    }

    func run() async throws {
        try await report(store) {
            let p = try StorePath(path, needs: 2)
            // A file is checked whole before anything is written: a bad line stops the import
            // with nothing changed. Standard input is checked a window at a time.
            var total: Int?
            if file != "-" {
                var reader = try LineReader(file)
                var count = 0
                while let line = try reader.next() {
                    guard let row = try Self.row(line, number: reader.number) else { continue }
                    try Self.check(row, number: reader.number)
                    count += 1
                }
                total = count
            }
            let opened = try await store.openStore()
            var collection: DocumentCollection?
            let progress = Progress(total: total, label: "importing")
            var done = BulkWriteProgress()
            var reader = try LineReader(file)
            var window: [(id: String, json: [UInt8])] = []
            func flush() async throws {
                guard !window.isEmpty else { return }
                if collection == nil {
                    collection = try await opened.collectionForWriting(p.database, p.collection!, documents: window)
                }
                let before = done
                do {
                    let result = try await collection!.putMany(window, concurrency: concurrency) { now in
                        progress.update(before.documents + now.documents, octets: before.octets + now.octets)
                    }
                    done.written += result.written
                    done.unchanged += result.unchanged
                    done.octets += result.octets
                } catch let error as BulkWriteError {
                    progress.finish()
                    let inPlace = before.documents + error.progress.documents
                    let note = " (the import stopped with \(inPlace) documents in place; run it again to finish: documents already there are left as they are)"
                    throw (error.underlying as? StoreError)?.noting(note) ?? error
                }
                window = []
            }
            while let line = try reader.next() {
                guard let row = try Self.row(line, number: reader.number) else { continue }
                if total == nil { try Self.check(row, number: reader.number) }
                window.append(row)
                if window.count >= 5_000 { try await flush() }
            }
            try await flush()
            progress.update(done.documents, octets: done.octets, force: true)
            progress.finish()
            print(try Output.value(["imported": done.documents, "written": done.written, "unchanged": done.unchanged], compact: store.compact))
        }
    }

    /// The row a line holds, or nil for a blank line.
    static func row(_ line: [UInt8], number: Int) throws -> (id: String, json: [UInt8])? {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x0D || $0 == 0x09 }) { return nil }
        let (id, json) = try JSONLines.parse(line, number: number)
        return (id, json)
    }

    static func check(_ row: (id: String, json: [UInt8]), number: Int) throws {
        do {
            try DocumentStore.check(id: row.id, json: row.json)
        } catch let error as StoreError {
            throw CLIError.invalidInput("line \(number): \(error)")
        }
    }
}

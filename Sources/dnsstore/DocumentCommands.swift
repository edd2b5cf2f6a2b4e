import ArgumentParser
import DNSStore
import Foundation

/// Versions start at 1.
func requireVersion(_ version: Int) throws {
    guard version >= 1 else { throw ValidationError("--if-version must be a version, 1 or more, not \(version)") }
}

/// Index chunks a node is created with.
func requireChunks(_ chunks: Int?) throws {
    if let chunks, !(1...4096).contains(chunks) { throw ValidationError("--chunks must be 1 to 4096, not \(chunks)") }
}

struct Written: Encodable {
    var path: String
    var version: Int
}

struct Deleted: Encodable {
    var deleted: String
    var version: Int
}

/// `--lease ID`: the lease a written document is attached to.
struct LeaseOption: ParsableArguments {
    @Option(name: .customLong("lease"), help: "Attach the document to this lease (from 'dnsstore lease grant'): it lives only while the lease is renewed. Without it, a write detaches the document from any lease.")
    var id: String?

    func validate() throws {
        if let id, !Lease.isValidID(id) { throw ValidationError("--lease takes a lease id (16 lower-case hex digits), not '\(id)'") }
    }

    var lease: Lease? { id.map { Lease(id: $0, ttl: 1) } }
}

struct PutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put", abstract: "Create or replace a document.",
        discussion: """
            The document is JSON: inline, @FILE, or - for standard input.
            Example: dnsstore put inventory/hosts/web1 '{"ip": "10.0.0.5"}'
            """)
    @OptionGroup var lease: LeaseOption
    @Argument(help: "database/collection/id") var path: String
    @Argument(help: "JSON, @FILE or -") var document: String
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await report(store) {
            let p = try StorePath(path, needs: 3)
            let body = try readDocument(document)
            let collection = try await store.openStore().collectionForWriting(p.database, p.collection!, documents: [(p.id!, body)])
            let version = try await collection.putJSON(p.id!, body, lease: lease.lease)
            print(try Output.value(Written(path: path, version: version), compact: store.compact))
        }
    }
}

struct InsertCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "insert", abstract: "Create a document; fails (exit 4) if it exists.",
        discussion: "Example: dnsstore insert inventory/hosts/web1 @web1.json")
    @OptionGroup var lease: LeaseOption
    @Argument(help: "database/collection/id") var path: String
    @Argument(help: "JSON, @FILE or -") var document: String
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await report(store) {
            let p = try StorePath(path, needs: 3)
            let body = try readDocument(document)
            let collection = try await store.openStore().collectionForWriting(p.database, p.collection!, documents: [(p.id!, body)])
            let version = try await collection.insertJSON(p.id!, body, lease: lease.lease)
            print(try Output.value(Written(path: path, version: version), compact: store.compact))
        }
    }
}

struct UpdateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update", abstract: "Replace a document only at the given version (compare-and-swap; exit 4 if it moved).",
        discussion: "Example: dnsstore update inventory/hosts/web1 '{\"ip\": \"10.0.0.6\"}' --if-version 3")
    @OptionGroup var lease: LeaseOption
    @Argument(help: "database/collection/id") var path: String
    @Argument(help: "JSON, @FILE or -") var document: String
    @Option(parsing: .unconditional, help: "The version the document must be at.") var ifVersion: Int
    @OptionGroup var store: StoreOptions

    func validate() throws { try requireVersion(ifVersion) }

    func run() async throws {
        try await report(store) {
            let p = try StorePath(path, needs: 3)
            let version = try await p.collection(in: store.openStore()).updateJSON(
                p.id!, try readDocument(document), ifVersion: ifVersion, lease: lease.lease)
            print(try Output.value(Written(path: path, version: version), compact: store.compact))
        }
    }
}

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get", abstract: "Print a document (exit 3 if there is none).",
        discussion: "Example: dnsstore get inventory/hosts/web1 | jq .ip")
    @Argument(help: "database/collection/id") var path: String
    @Flag(help: "Print {\"id\", \"version\", \"doc\"} instead of the document alone.") var withVersion = false
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await report(store) {
            let p = try StorePath(path, needs: 3)
            guard let document = try await p.collection(in: store.openStore()).get(p.id!) else {
                throw StoreError.notFound("document '\(path)'")
            }
            print(Output.json(withVersion ? JSONLines.line(document) : document.json, compact: store.compact))
        }
    }
}

struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete a document, optionally only at a version.",
        discussion: "Example: dnsstore delete inventory/hosts/web1 --if-version 4")
    @Argument(help: "database/collection/id") var path: String
    @Option(parsing: .unconditional, help: "Delete only if the document is at this version.") var ifVersion: Int?
    @OptionGroup var store: StoreOptions

    func validate() throws { try ifVersion.map(requireVersion) }

    func run() async throws {
        try await report(store) {
            let p = try StorePath(path, needs: 3)
            let version = try await p.collection(in: store.openStore()).delete(p.id!, ifVersion: ifVersion)
            print(try Output.value(Deleted(deleted: path, version: version), compact: store.compact))
        }
    }
}

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List document ids of a collection in index order, as they are read.",
        discussion: """
            Ids come chunk by chunk of the collection's index, and in UTF-8 order within a chunk; the same \
            store lists in the same order. --after resumes after an id of an earlier listing, so \
            --limit N --after LAST pages through a collection of any size.
            Example: dnsstore list inventory/hosts --limit 100 --after web1 --table
            """)
    @Argument(help: "database/collection") var path: String
    @Option(help: "Ids after this one (the previous page's last).") var after: String?
    @Option(parsing: .unconditional, help: "At most this many ids.") var limit: Int?
    @OptionGroup var store: StoreOptions

    func validate() throws {
        if let limit, limit < 0 { throw ValidationError("--limit must be 0 or more, not \(limit)") }
    }
    @Flag(help: "A table instead of JSON.") var table = false

    func run() async throws {
        try await report(store) {
            let p = try StorePath(path, needs: 2)
            let collection = p.collection(in: try await store.openStore())
            var left = limit ?? Int.max
            let writer = Output.ArrayWriter(compact: store.compact)
            var rows = 0
            var width = 0
            if left > 0 {
                for try await ids in collection.scanIDs(after: after) {
                    let page = ids.prefix(left)
                    if table {
                        if rows == 0 {
                            width = max(2, page.map(\.count).max() ?? 0)
                            print("id".padding(toLength: width, withPad: " ", startingAt: 0))
                            print(String(repeating: "-", count: width))
                        }
                        for id in page { print(id) }
                    } else {
                        for id in page { writer.append(JSONText.string(id)) }
                    }
                    rows += page.count
                    left -= page.count
                    if left == 0 { break }
                }
            }
            if table {
                if rows == 0 { print("id\n--") }
                print("(\(rows) \(rows == 1 ? "row" : "rows"))")
            } else {
                writer.finish()
            }
        }
    }
}

struct FindCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "find", abstract: "Print the documents whose fields match (path=value, path>value, path^=prefix; all must hold).",
        discussion: """
            Values are JSON when they parse (42, true, null, "text"), text otherwise. Paths use dots. Ranges (>, >=, <, <=) \
            compare numbers with numbers and strings with strings; ^= matches strings that start with the text. An index \
            answers path=value; an ordered index (index create --ordered) also answers ranges and prefixes, in the order \
            of their values. Quote conditions with < or > for the shell.
            Example: dnsstore find inventory/hosts role=web site.city=Oslo --table --fields role,site.city; \
            dnsstore find inventory/hosts 'age>=30' 'age<40'
            """)
    @Argument(help: "database/collection") var path: String
    @Argument(help: "Conditions: path=value, path>value, path>=value, path<value, path<=value, path^=prefix.") var conditions: [String] = []
    @Flag(help: "A table instead of JSON: id, version and a column per field.") var table = false
    @Option(help: "With --table, the fields shown (comma-separated paths); by default the top-level ones of the first documents found.")
    var fields: String?
    @Flag(help: "Print how the find would read (the index it uses and the queries it costs) instead of running it.") var explain = false
    @OptionGroup var store: StoreOptions

    func validate() throws {
        if fields != nil, !table { throw ValidationError("--fields goes with --table") }
        if explain, table { throw ValidationError("--explain prints a plan, not a table") }
        if let fields, fields.split(separator: ",").contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
            throw ValidationError("--fields takes paths separated by commas, not '\(fields)'")
        }
    }

    func run() async throws {
        try await report(store) {
            let p = try StorePath(path, needs: 2)
            let filter = Filter.and(try conditions.map { try Filter(parsing: $0) })
            let collection = p.collection(in: try await store.openStore())
            if explain {
                let plan = try await collection.explain(filter)
                print(try Output.value(FindExplanation(plan), compact: store.compact))
                return
            }
            // Matched as they are read, a page at a time: memory stays flat.
            let writer = Output.ArrayWriter(compact: store.compact)
            var rows: DocumentTable?
            var count = 0
            for try await matched in collection.matching(filter) {
                count += matched.count
                if table {
                    guard !matched.isEmpty else { continue }
                    if rows == nil {
                        rows = DocumentTable(fields: fields?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }, first: matched)
                        print(rows!.header)
                    }
                    for document in matched { print(rows!.row(document)) }
                } else {
                    for document in matched { writer.append(JSONLines.line(document)) }
                }
            }
            if table {
                if rows == nil { print("id  version\n--  -------") }
                print("(\(count) \(count == 1 ? "row" : "rows"))")
            } else {
                writer.finish()
            }
        }
    }
}

/// Documents as rows of text for people: id, version, then one column per field, each as wide as
/// the first page of rows needs (at most 40 characters; longer cells end in "…"). Strings are
/// shown as they are, other values as JSON, missing fields empty.
struct DocumentTable {
    let fields: [String]
    let widths: [Int]
    static let widest = 40

    init(fields: [String]?, first: [Document]) {
        let values = first.map { Self.value($0) }
        var chosen = fields ?? []
        if fields == nil {
            var seen = Set<String>()
            for value in values {
                guard case .object(let members)? = value else { continue }
                for key in members.keys.sorted() where seen.insert(key).inserted { chosen.append(key) }
            }
        }
        self.fields = chosen
        var widths = (["id", "version"] + chosen).map(\.count)
        for (document, value) in zip(first, values) {
            let cells = [document.id, String(document.version)] + chosen.map { Self.cell(value?.lookup($0)) }
            for (i, cell) in cells.enumerated() { widths[i] = max(widths[i], min(cell.count, Self.widest)) }
        }
        self.widths = widths
    }

    var header: String {
        let names = ["id", "version"] + fields
        return line(names) + "\n" + line(widths.map { String(repeating: "-", count: $0) })
    }

    func row(_ document: Document) -> String {
        let value = Self.value(document)
        return line([document.id, String(document.version)] + fields.map { Self.cell(value?.lookup($0)) })
    }

    private func line(_ cells: [String]) -> String {
        var out = ""
        for (i, cell) in cells.enumerated() {
            let text = cell.count > widths[i] ? String(cell.prefix(widths[i] - 1)) + "…" : cell
            out += i == cells.count - 1 ? text : text.padding(toLength: widths[i], withPad: " ", startingAt: 0) + "  "
        }
        while out.hasSuffix(" ") { out.removeLast() }
        return out
    }

    static func value(_ document: Document) -> JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: Data(document.json)) }

    static func cell(_ value: JSONValue?) -> String {
        switch value {
        case nil: return ""
        case .string(let text): return text.replacingOccurrences(of: "\n", with: " ")
        case let other?:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return (try? String(decoding: encoder.encode(other), as: UTF8.self)) ?? ""
        }
    }
}

/// `find --explain`'s answer.
struct FindExplanation: Encodable {
    var index: String?
    var value: String?
    var listQueries: Int
    var readsEveryDocument: Bool
    var queriesPerValue: Int?
    var plan: String

    init(_ plan: FindPlan) {
        queriesPerValue = plan.queriesPerValue
        index = plan.index
        value = plan.value
        listQueries = plan.listQueries
        readsEveryDocument = plan.readsEveryDocument
        self.plan = plan.description
    }
}

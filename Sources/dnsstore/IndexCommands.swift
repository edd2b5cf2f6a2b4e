import ArgumentParser
import DNSStore

/// `dnsstore index create|list|drop`: a collection's secondary indexes (docs/FORMAT.md section 14).
struct IndexCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "index", abstract: "Create, list and drop a collection's secondary indexes.",
        discussion: """
            An index lists, for each value of a field, the documents that hold it; every write keeps it in the \
            same UPDATE as the document, and 'find' uses it for a condition field=value. An ordered index \
            (--ordered) also answers ranges and prefixes: field>value, field>=value, field<value, field<=value, field^=prefix.
            Example: dnsstore index create inventory/hosts role; dnsstore find inventory/hosts role=web --explain
            """,
        subcommands: [Create.self, List.self, Drop.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an index of a field and build it online (run it again to finish one that was stopped).",
            discussion: """
                Example: dnsstore index create inventory/hosts site.city; dnsstore index create accounts/users email --unique; \
                dnsstore index create inventory/hosts age --ordered
                """)
        @Argument(help: "database/collection") var path: String
        @Argument(help: "The field, a dotted path (site.city).") var field: String
        @Flag(help: "At most one document per value: a write that would give a second one is refused (exit 4).") var unique = false
        @Option(parsing: .unconditional, help: "Chunks of each value's list, 1 to 64 (default 4; a unique index has 1).") var chunks: Int?
        @Flag(help: "Also keep a directory of the values, so that find answers ranges and prefixes of the field (not in a private collection).")
        var ordered = false
        @Option(parsing: .unconditional, help: "Chunks of an ordered index's directory of values, 1 to 64 (default 8).") var directoryChunks: Int?
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await report(store) {
                let p = try StorePath(path, needs: 2)
                // On a terminal, how far the build of a large collection has come.
                let progress = Progress(total: nil, label: "indexing")
                let built = try await p.collection(in: try await store.openStore()).createIndex(
                    field, unique: unique, chunks: chunks, ordered: ordered, directoryChunks: directoryChunks
                ) {
                    progress.update($0)
                }
                if built.documents > 0 {
                    progress.update(built.documents, force: true)
                    progress.finish()
                }
                print(try Output.value(IndexCreated(created: field, added: built.added, documents: built.documents), compact: store.compact))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a collection's indexes.", discussion: "Example: dnsstore index list inventory/hosts")
        @Argument(help: "database/collection") var path: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await report(store) {
                let p = try StorePath(path, needs: 2)
                let indexes = try await p.collection(in: try await store.openStore()).indexes()
                let rows = indexes.keys.sorted().map { field in
                    IndexRow(
                        field: field, state: indexes[field]!.state.rawValue, unique: indexes[field]!.isUnique, chunks: indexes[field]!.chunks.total,
                        ordered: indexes[field]!.isOrdered)
                }
                print(try Output.value(rows, compact: store.compact))
            }
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drop an index.", discussion: "Example: dnsstore index drop inventory/hosts role")
        @Argument(help: "database/collection") var path: String
        @Argument(help: "The field.") var field: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await report(store) {
                let p = try StorePath(path, needs: 2)
                try await p.collection(in: try await store.openStore()).dropIndex(field)
                print(try Output.value(["dropped": field], compact: store.compact))
            }
        }
    }

    struct IndexCreated: Encodable {
        var created: String
        var added: Int
        var documents: Int
    }

    struct IndexRow: Encodable {
        var field: String
        var state: String
        var unique: Bool
        var chunks: Int
        var ordered: Bool
    }
}

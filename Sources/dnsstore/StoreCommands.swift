import ArgumentParser
import DNSStore
import Foundation

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Create the store's root record under its domain (safe to repeat).",
        discussion: "Example: dnsstore init -s 127.0.0.1:5353 -d example.test -k tsig.key")
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await report(store) {
            let s = try await store.openStore()
            try await s.initialize()
            print(try Output.value(["root": s.rootName.description], compact: store.compact))
        }
    }
}

struct DatabaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "db", abstract: "Create, list and drop databases.", subcommands: [Create.self, List.self, Drop.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a database.", discussion: "Example: dnsstore db create inventory")
        @Argument(help: "The database name.") var name: String
        @Option(parsing: .unconditional, help: "Collection index chunks, 1 to 4096 (fixed for the database's life).") var chunks: Int?
        @OptionGroup var store: StoreOptions

        func validate() throws {
            try requireChunks(chunks)
            guard !name.contains("/") else {
                throw ValidationError("a database name used from the command line cannot contain '/': paths are database/collection/id")
            }
        }

        func run() async throws {
            try await report(store) {
                try await store.openStore().createDatabase(name, chunks: chunks)
                print(try Output.value(["created": name], compact: store.compact))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List databases.", discussion: "Example: dnsstore db list --table")
        @Flag(help: "A table instead of JSON.") var table = false
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await report(store) {
                print(try Output.list(try await store.openStore().databases(), header: "database", table: table, compact: store.compact))
            }
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drop a database with everything in it.", discussion: "Example: dnsstore db drop inventory")
        @Argument(help: "The database name.") var name: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await report(store) {
                try await store.openStore().dropDatabase(name)
                print(try Output.value(["dropped": name], compact: store.compact))
            }
        }
    }
}

struct CollectionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collection", abstract: "Create, list and drop collections.", subcommands: [Create.self, List.self, Drop.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a collection, and its database if it does not exist.", discussion: "Example: dnsstore collection create inventory/hosts")
        @Argument(help: "database/collection") var path: String
        @Option(parsing: .unconditional, help: "Record index chunks, 1 to 4096 (fixed for the collection's life).") var chunks: Int?
        @Flag(name: .customLong("private"), help: "Encrypt its documents and seal its ids with the --encryption-key keys.") var isPrivate = false
        @OptionGroup var store: StoreOptions

        func validate() throws { try requireChunks(chunks) }

        func run() async throws {
            try await report(store) {
                let p = try StorePath(path, needs: 2)
                let opened = try await store.openStore()
                do {
                    try await opened.database(p.database).createCollection(p.collection!, chunks: chunks, private: isPrivate)
                } catch let error as StoreError where error.code == .notFound {
                    // Like put, it makes the database it needs (as mkdir -p would).
                    do { try await opened.createDatabase(p.database) } catch let error as StoreError where error.code == .alreadyExists {}
                    try await opened.database(p.database).createCollection(p.collection!, chunks: chunks, private: isPrivate)
                }
                print(try Output.value(["created": path], compact: store.compact))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a database's collections.", discussion: "Example: dnsstore collection list inventory")
        @Argument(help: "database") var database: String
        @Flag(help: "A table instead of JSON.") var table = false
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await report(store) {
                let p = try StorePath(database, needs: 1)
                print(try Output.list(try await store.openStore().database(p.database).collections(), header: "collection", table: table, compact: store.compact))
            }
        }
    }

    struct Drop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Drop a collection with its documents.", discussion: "Example: dnsstore collection drop inventory/hosts")
        @Argument(help: "database/collection") var path: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            try await report(store) {
                let p = try StorePath(path, needs: 2)
                try await store.openStore().database(p.database).dropCollection(p.collection!)
                print(try Output.value(["dropped": path], compact: store.compact))
            }
        }
    }
}

extension StorePath {
    func collection(in store: DocumentStore) -> DocumentCollection {
        store.database(database).collection(collection!)
    }
}

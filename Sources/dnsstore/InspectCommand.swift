import ArgumentParser
import DNSStore
import DNSWire
import Foundation

struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Show the DNS names and TXT records a document became, as dig shows them.",
        discussion: "Example: dnsstore inspect inventory/hosts/web1")
    @OptionGroup var store: StoreOptions
    @Argument(help: "database/collection/id") var path: String

    func run() async throws {
        try await report {
            let p = try StorePath(path, needs: 3)
            for record in try await p.collection(in: store.openStore()).dnsRecords(of: p.id!) {
                print(record.description)
            }
        }
    }
}

struct FsckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fsck", abstract: "Check a store: dangling chunks, digest mismatches, index entries without records and records without entries.",
        discussion: """
            Reads the whole zone with a transfer (the key must allow it). Exit 0 when clean (or all repaired), 1 otherwise.
            Example: dnsstore fsck --repair
            """)
    @OptionGroup var store: StoreOptions
    @Flag(help: "Mend what can be mended: add or remove index entries, delete dangling chunks and stray names.") var repair = false

    func run() async throws {
        let clean = try await report { () -> Bool in
            let result = try await store.openStore().check(repair: repair)
            print(try Output.value(result, compact: store.compact))
            return result.isClean
        }
        if !clean { throw ExitCode(ExitCodes.failed) }
    }
}

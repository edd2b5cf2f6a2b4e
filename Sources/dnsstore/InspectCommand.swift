import ArgumentParser
import DNSStore
import DNSWire
import Foundation

struct InspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Show the DNS names and TXT records a document became, as dig shows them.",
        discussion: "Example: dnsstore inspect inventory/hosts/web1")
    @Argument(help: "database/collection/id") var path: String
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await report(store) {
            let p = try StorePath(path, needs: 3)
            for record in try await p.collection(in: store.openStore()).dnsRecords(of: p.id!) {
                print(record.description)
            }
        }
    }
}

struct FsckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fsck",
        abstract: "Check a store: index entries without records, records without entries, damaged documents, oversize index pages, dangling chunks.",
        discussion: """
            Reads the whole zone with a transfer (the key must allow it). Exit 0 when clean (or all repaired), 9 when problems remain.
            --repair mends what can be made whole. A damaged document (bad digest, missing chunk, not JSON) cannot be: \
            a repair keeps it unless --delete-damaged or --quarantine DIR says to delete it (the latter first saves its \
            TXT texts in DIR, one file per DNS name).
            Example: dnsstore fsck --repair --quarantine ./damaged
            """)
    @Flag(help: "Mend what can be mended: index entries, oversize pages, dangling chunks and stray names.") var repair = false
    @Flag(help: "With --repair, delete damaged documents.") var deleteDamaged = false
    @Option(help: "With --repair, save each damaged document's TXT texts in this directory, then delete it.") var quarantine: String?
    @OptionGroup var store: StoreOptions

    func validate() throws {
        guard repair || (!deleteDamaged && quarantine == nil) else {
            throw ValidationError("--delete-damaged and --quarantine only act with --repair")
        }
        guard !(deleteDamaged && quarantine != nil) else { throw ValidationError("choose one of --delete-damaged and --quarantine") }
    }

    func run() async throws {
        let clean = try await report(store) { () -> Bool in
            let action: DamagedDocumentAction
            if let quarantine {
                let directory = URL(fileURLWithPath: quarantine)
                try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                action = .quarantine { path, texts in
                    for (name, text) in texts {
                        let file = directory.appendingPathComponent(name.description)
                        guard FileManager.default.createFile(atPath: file.path, contents: Data(text), attributes: [.posixPermissions: 0o600]) else {
                            throw CLIError.invalidInput("cannot write \(file.path) to quarantine \(path)")
                        }
                    }
                }
            } else {
                action = deleteDamaged ? .delete : .keep
            }
            let result = try await store.openStore().check(repair: repair, damaged: action)
            print(try Output.value(result, compact: store.compact))
            return result.isClean
        }
        if !clean { throw ExitCode(ExitCodes.corrupted) }
    }
}

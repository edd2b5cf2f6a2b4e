import ArgumentParser
import DNSStore

struct RekeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rekey",
        abstract: "Move a private collection to a new encryption key, online.",
        discussion: """
            --encryption-key gives the key the collection has now, --new-key the one it moves to (the first key \
            of that file). Every document is rewritten under a new data secret with a compare-and-swap, so \
            writers may go on meanwhile; readers with either key read every document until the rekey ends, \
            and only holders of the new key after it.
            Example: dnsstore rekey ops/credentials --encryption-key old.enckey --new-key new.enckey
            """)

    @Argument(help: "database/collection") var path: String
    @Option(name: .customLong("new-key"), help: "The encryption key file to move to (its first key).") var newKey: String
    @OptionGroup var store: StoreOptions

    func run() async throws {
        try await report(store) {
            let p = try StorePath(path, needs: 2)
            guard let key = try Settings.readEncryptionKeys(newKey).all.first else {
                throw CLIError.invalidInput("the encryption key file \(newKey) holds no key")
            }
            let opened = try await store.openStore()
            let report = try await opened.database(p.database).collection(p.collection!).rekey(to: key)
            print(try Output.value(["rekeyed": path, "documents": "\(report.rewritten)", "key": key.id], compact: store.compact))
        }
    }
}

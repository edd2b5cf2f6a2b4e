import ArgumentParser
import DNSStore
import DNSStoreEmbedded
import Foundation

@main
struct DNSStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dnsstore",
        abstract: "A document store whose data lives in DNS TXT records.",
        discussion: """
            With no server configured, commands use the embedded store in ./dnsstore-data. Configure a server with \
            --server/--domain/--key, the DNSSTORE_SERVER, DNSSTORE_DOMAIN and DNSSTORE_KEY_FILE variables, or a \
            dnsstore.json file (in that order of precedence).
            Exit codes: 2 invalid input, 3 not found, 4 conflict, 5 unauthorized, 6 unreachable or no \
            answer (nothing written), 7 a write sent and unanswered (it may have happened: read before \
            writing again), 8 the server failed (SERVFAIL: nothing written), 9 corrupt store data (damaged, \
            forged or rolled back), 10 a lease lost while held, 11 a read server behind (status --max-lag).
            """,
        subcommands: [
            InitCommand.self, DatabaseCommand.self, CollectionCommand.self, IndexCommand.self, PutCommand.self, InsertCommand.self,
            UpdateCommand.self, GetCommand.self, DeleteCommand.self, ListCommand.self, FindCommand.self,
            ImportCommand.self, ExportCommand.self, WatchCommand.self, ShellCommand.self, InspectCommand.self, FsckCommand.self, KeygenCommand.self,
            RekeyCommand.self, LeaseCommand.self, ReapCommand.self, LockCommand.self, UnlockCommand.self,
            StatusCommand.self, ServeCommand.self, DNSCommand.self,
        ]
    )

    /// Runs the command. Usage errors (a missing or malformed argument, an unknown flag) exit 2
    /// with one line, like every other kind of invalid input, instead of the parser's 64 and its
    /// usage screen.
    /// This program's version (`dnsstore --version`, beside the store format it writes).
    static let version = "0.3.0"

    /// The connection options every store command takes, and whether each takes a value: given
    /// before the subcommand (`dnsstore --server X get ...`, as etcdctl and kubectl allow), they
    /// are moved after it.
    static let globalOptions: [String: Bool] = [
        "--server": true, "-s": true, "--primary": true, "--read-server": true, "--consistency": true, "--domain": true, "-d": true,
        "--zone": true, "--key": true, "-k": true, "--data": true, "--encryption-key": true, "--config": true, "--timeout": true,
        "--attempts": true, "--compact": false, "--stats": false,
    ]

    /// `arguments` with connection options given before the subcommand moved to after its words
    /// (before a `--` that ends the options, if there is one).
    static func movingGlobalOptions(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first, let takesValue = globalOptions[first.split(separator: "=", maxSplits: 1).first.map(String.init) ?? first] {
            leading.append(rest.removeFirst())
            if takesValue, !first.contains("="), let value = rest.first {
                leading.append(value)
                rest.removeFirst()
            }
        }
        guard !leading.isEmpty, !rest.isEmpty else { return arguments }
        var moved = Array(rest)
        let end = moved.firstIndex(of: "--") ?? moved.endIndex
        moved.insert(contentsOf: leading, at: end)
        return moved
    }

    static func main() async {
        let arguments = movingGlobalOptions(Array(CommandLine.arguments.dropFirst()))
        if arguments == ["--version"] || arguments == ["version"] {
            print(#"{"format":\#(DocumentStore.formatVersion),"version":"\#(DNSStoreCommand.version)"}"#)
            return
        }
        if let first = arguments.first, !first.hasPrefix("-"),
            !configuration.subcommands.contains(where: { $0.configuration.commandName == first || $0._commandName == first }),
            first != "help"
        {
            let names = configuration.subcommands.map { $0.configuration.commandName ?? $0._commandName }
            let hint = Suggestion.nearest(to: first, in: Set(names)).map { "; did you mean '\($0)'?" } ?? ""
            FileHandle.standardError.write(Data("dnsstore: unknown command '\(first)'\(hint) (see 'dnsstore --help')\n".utf8))
            Foundation.exit(ExitCodes.invalidInput)
        }
        do {
            var command = try await asyncParseAsRoot(arguments)
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            guard exitCode(for: error) == .validationFailure else { exit(withError: error) }
            FileHandle.standardError.write(Data("dnsstore: \(usageMessage(for: error))\n".utf8))
            Foundation.exit(ExitCodes.invalidInput)
        }
    }

    /// The parser's message for a usage error on one line, with where to find help.
    static func usageMessage(for error: any Error) -> String {
        let full = fullMessage(for: error, columns: 10_000)
        let lines = full.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        let message = lines.first { $0.hasPrefix("Error: ") }.map { String($0.dropFirst("Error: ".count)) } ?? message(for: error)
        guard let see = lines.first(where: { $0.hasPrefix("See '") }), let end = see.dropFirst(5).firstIndex(of: "'") else {
            return message
        }
        return message + " (see '" + see[see.index(see.startIndex, offsetBy: 5)..<end] + "')"
    }
}

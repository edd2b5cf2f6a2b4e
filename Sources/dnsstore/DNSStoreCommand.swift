import ArgumentParser

@main
struct DNSStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dnsstore",
        abstract: "A document store whose data lives in DNS TXT records.",
        discussion: """
            With no server configured, commands use the embedded store in ./dnsstore-data. Configure a server with \
            --server/--domain/--key, the DNSSTORE_SERVER, DNSSTORE_DOMAIN and DNSSTORE_KEY_FILE variables, or a \
            dnsstore.json file (in that order of precedence).
            Exit codes: 2 invalid input, 3 not found, 4 conflict, 5 unauthorized, 6 unreachable.
            """,
        subcommands: [
            InitCommand.self, DatabaseCommand.self, CollectionCommand.self, PutCommand.self, InsertCommand.self,
            UpdateCommand.self, GetCommand.self, DeleteCommand.self, ListCommand.self, FindCommand.self,
            ImportCommand.self, ExportCommand.self, InspectCommand.self, FsckCommand.self, KeygenCommand.self,
            ServeCommand.self, DNSCommand.self,
        ]
    )
}

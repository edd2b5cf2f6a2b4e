import ArgumentParser

@main
struct DNSStoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dnsstore",
        abstract: "A document store whose data lives in DNS TXT records.",
        subcommands: [DNSCommand.self, KeygenCommand.self, ServeCommand.self]
    )
}

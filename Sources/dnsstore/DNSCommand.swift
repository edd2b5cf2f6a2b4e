import ArgumentParser
import DNSClient
import DNSStore
import DNSStoreEmbedded
import DNSWire
import Foundation

/// Plain DNS operations against any server, or the embedded store when none is configured:
/// what the store is built from.
struct DNSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dns",
        abstract: "Query and update DNS records directly.",
        discussion: "The server, key and zone come from the same flags, environment and config file as the store commands.",
        subcommands: [Query.self, SetTXT.self, Delete.self]
    )

    /// The options every raw DNS command takes: the store's, and two of their own.
    struct Options: ParsableArguments {
        @Option(name: .customLong("key-string"), help: "A TSIG key as [algorithm:]name:base64-secret, instead of a key file.")
        var keyString: String?
        @Flag(help: "Use TCP only.") var tcp = false
        @OptionGroup var store: StoreOptions

        /// Sends a message to the configured server, or to the embedded store's engine.
        func target() throws -> Target {
            let settings = try store.settings()
            guard let server = settings.server else {
                return .local(try LocalTransport.open(directory: settings.dataDirectory, zone: settings.domain))
            }
            let key = try keyString.map { try TSIGKey(parsing: $0) }
            return .client(DNSClient(configuration: settings.client(server, key: key, alwaysTCP: tcp)))
        }

        /// The zone UPDATEs go to: --zone, else the domain.
        func zone() throws -> DNSName {
            let settings = try store.settings()
            if let zone = settings.zone { return zone }
            guard settings.domainGiven || settings.server == nil else {
                throw CLIError.invalidInput("an update needs its zone: pass --zone or --domain, or set DNSSTORE_ZONE or DNSSTORE_DOMAIN")
            }
            return settings.domain
        }
    }

    enum Target {
        case client(DNSClient)
        case local(LocalTransport)

        /// The answer; any RCODE but NOERROR is thrown as its `DNSError`.
        func send(_ message: Message) async throws -> Message {
            let answer: Message
            switch self {
            case .client(let client):
                answer = try await client.send(message)
                await client.shutdown()
            case .local(let transport):
                answer = try await transport.answer(to: message)
            }
            if let error = DNSError(rcode: answer.rcode) { throw error }
            return answer
        }
    }

    struct Query: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask for the records of a name, as dig's answer section shows them.",
            discussion: "Example: dnsstore dns query -s 127.0.0.1:5353 doc.example.test TXT")

        @OptionGroup var options: Options
        @Argument(help: "The name to ask about.") var name: String
        @Argument(help: "The record type (TXT, A, SOA, ... or TYPEnnn).") var type: String = "TXT"

        func run() async throws {
            try await report(options.store) {
                guard let rrtype = RRType(mnemonic: type) else { throw CLIError.invalidInput("unknown record type '\(type)'") }
                let answer = try await options.target().send(Message.query(try parseName(name), type: rrtype))
                for record in answer.answers { print(record) }
            }
        }
    }

    struct SetTXT: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Replace the TXT RRset of a name with one record, atomically.",
            discussion: """
                With --if-absent the write happens only if the name has no TXT RRset; with --if-value only if \
                the RRset is exactly that one value (compare-and-swap). A failed condition changes nothing.
                Example: dnsstore dns set -s 127.0.0.1:5353 -k tsig.key --zone example.test doc.example.test 'v2' --if-value 'v1'
                """)

        @OptionGroup var options: Options
        @Option(parsing: .unconditional, help: "TTL of the record, in seconds (0 to 2147483647).") var ttl: Int = 300
        @Flag(help: "Only create: fail if the name already has TXT records.") var ifAbsent = false
        @Option(help: "Only replace this exact current value.") var ifValue: String?
        @Argument(help: "The name to write.") var name: String
        @Argument(help: "The text (cut into 255-octet character-strings).") var value: String

        func validate() throws {
            guard (0...Int(Int32.max)).contains(ttl) else { throw ValidationError("--ttl must be 0 to 2147483647 seconds, not \(ttl)") }
        }

        func run() async throws {
            try await report(options.store) {
                let owner = try parseName(name)
                var update = UpdateBuilder(zone: try options.zone())
                if ifAbsent { update.require(.rrsetDoesNotExist(owner, .txt)) }
                if let ifValue { update.require(.rrsetEquals(owner, .txt, [.txt(TXT(ifValue))])) }
                update.replace(owner, .txt, with: [.txt(TXT(value))], ttl: UInt32(ttl))
                _ = try await options.target().send(update.message())
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete the TXT RRset of a name.",
            discussion: "Example: dnsstore dns delete -s 127.0.0.1:5353 -k tsig.key --zone example.test doc.example.test")

        @OptionGroup var options: Options
        @Argument(help: "The name whose TXT records go.") var name: String

        func run() async throws {
            try await report(options.store) {
                var update = UpdateBuilder(zone: try options.zone())
                update.apply(.deleteRRset(try parseName(name), .txt))
                _ = try await options.target().send(update.message())
            }
        }
    }
}

import ArgumentParser
import DNSClient
import DNSWire
import Foundation

/// Plain DNS operations against any server: what the store is built from.
struct DNSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dns",
        abstract: "Query and update DNS records directly.",
        subcommands: [Query.self, SetTXT.self, Delete.self]
    )

    struct Query: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask for the records of a name, as dig's answer section shows them.",
            discussion: "Example: dnsstore dns query -s 127.0.0.1:5353 doc.example.test TXT")

        @OptionGroup var options: ServerOptions
        @Argument(help: "The name to ask about.") var name: String
        @Argument(help: "The record type (TXT, A, SOA, ... or TYPEnnn).") var type: String = "TXT"

        func run() async throws {
            guard let rrtype = RRType(mnemonic: type) else { throw ValidationError("unknown record type '\(type)'") }
            let client = DNSClient(configuration: try options.clientConfiguration())
            defer { Task { await client.shutdown() } }
            let answer = try await report { try await client.query(try parseName(name), type: rrtype) }
            for record in answer.answers { print(record) }
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

        @OptionGroup var options: ServerOptions
        @Option(help: "The zone the name is in.") var zone: String
        @Option(help: "TTL of the record.") var ttl: UInt32 = 300
        @Flag(help: "Only create: fail if the name already has TXT records.") var ifAbsent = false
        @Option(help: "Only replace this exact current value.") var ifValue: String?
        @Argument(help: "The name to write.") var name: String
        @Argument(help: "The text (cut into 255-octet character-strings).") var value: String

        func run() async throws {
            let owner = try parseName(name)
            var update = UpdateBuilder(zone: try parseName(zone))
            if ifAbsent { update.require(.rrsetDoesNotExist(owner, .txt)) }
            if let ifValue { update.require(.rrsetEquals(owner, .txt, [.txt(TXT(ifValue))])) }
            update.replace(owner, .txt, with: [.txt(TXT(value))], ttl: ttl)
            let client = DNSClient(configuration: try options.clientConfiguration())
            defer { Task { await client.shutdown() } }
            try await report { try await client.update(update) }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete the TXT RRset of a name.",
            discussion: "Example: dnsstore dns delete -s 127.0.0.1:5353 -k tsig.key --zone example.test doc.example.test")

        @OptionGroup var options: ServerOptions
        @Option(help: "The zone the name is in.") var zone: String
        @Argument(help: "The name whose TXT records go.") var name: String

        func run() async throws {
            var update = UpdateBuilder(zone: try parseName(zone))
            update.apply(.deleteRRset(try parseName(name), .txt))
            let client = DNSClient(configuration: try options.clientConfiguration())
            defer { Task { await client.shutdown() } }
            try await report { try await client.update(update) }
        }
    }
}

import ArgumentParser
import DNSStore
import DNSWire

struct KeygenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Print a new TSIG key in BIND's key file format, or with --encryption a key for private collections.",
        discussion: """
            With --output the key goes to a new file readable by its owner only (mode 0600 from the start); \
            an existing file is never replaced.
            Example: dnsstore keygen dnsstore-key --output tsig.key
            Example: dnsstore keygen --encryption --output cluster.enckey
            """)

    @Argument(help: "The key's name.") var name: String = "dnsstore-key"
    @Option(help: "hmac-sha256, hmac-sha384, hmac-sha512 or hmac-sha1.") var algorithm: String = "hmac-sha256"
    @Option(name: .shortAndLong, help: "Write the key to this new file (mode 0600) instead of standard output.") var output: String?
    @Flag(help: "An encryption key for private collections (32 random octets), not a TSIG key.") var encryption = false

    func run() async throws {
        try await report {
            if encryption {
                let text = "# DNSStore encryption key: the first line encrypts, every line decrypts.\n\(EncryptionKey.generate().fileLine)\n"
                if let output { try SecretFile.create(output, text) } else { print(text, terminator: "") }
                return
            }
            let algo = try TSIGAlgorithm(mnemonic: algorithm)
            let text = TSIGKey.generate(name: try parseName(name), algorithm: algo).bindKeyFile
            if let output {
                try SecretFile.create(output, text)
            } else {
                print(text, terminator: "")
            }
        }
    }
}

import ArgumentParser
import DNSWire

struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Print a new TSIG key in BIND's key file format.",
        discussion: "Example: dnsstore keygen dnsstore-key > tsig.key")

    @Argument(help: "The key's name.") var name: String = "dnsstore-key"
    @Option(help: "hmac-sha256, hmac-sha384, hmac-sha512 or hmac-sha1.") var algorithm: String = "hmac-sha256"

    func run() throws {
        let algo = try TSIGAlgorithm(mnemonic: algorithm)
        print(TSIGKey.generate(name: try parseName(name), algorithm: algo).bindKeyFile, terminator: "")
    }
}

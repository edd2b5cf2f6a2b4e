import ArgumentParser
import DNSClient
import DNSStore
import DNSWire
import Foundation

/// Where the store is: flags, then environment variables, then a config file, then the embedded
/// default (a data directory in the working directory).
struct StoreOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "DNS server ADDRESS[:PORT] (env DNSSTORE_SERVER). Without one, the embedded store in --data is used.")
    var server: String?
    @Option(name: .shortAndLong, help: "The store's domain (env DNSSTORE_DOMAIN); default dnsstore.localhost for the embedded store.")
    var domain: String?
    @Option(help: "The zone UPDATEs go to, if not the domain (env DNSSTORE_ZONE).")
    var zone: String?
    @Option(name: .shortAndLong, help: "TSIG key file in BIND's format (env DNSSTORE_KEY_FILE).")
    var key: String?
    @Option(help: "Data directory of the embedded store (env DNSSTORE_DATA); default ./dnsstore-data.")
    var data: String?
    @Option(help: "Config file: JSON with server, domain, zone, key, data (env DNSSTORE_CONFIG); default ./dnsstore.json if present.")
    var config: String?
    @Option(help: "Seconds to wait for each DNS answer.")
    var timeout: Double = 3
    @Flag(help: "Compact JSON output even on a terminal.")
    var compact = false

    struct FileConfig: Decodable {
        var server: String?
        var domain: String?
        var zone: String?
        var key: String?
        var data: String?
    }

    private func fileConfig() throws -> FileConfig {
        let env = ProcessInfo.processInfo.environment
        let explicit = config ?? env["DNSSTORE_CONFIG"]
        let path = explicit ?? "dnsstore.json"
        guard FileManager.default.fileExists(atPath: path) else {
            if let explicit { throw CLIError.invalidInput("config file \(explicit) does not exist") }
            return FileConfig()
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError.invalidInput("cannot read config file \(path)")
        }
        do {
            return try JSONDecoder().decode(FileConfig.self, from: data)
        } catch {
            throw CLIError.invalidInput("config file \(path) is not valid JSON with string fields server, domain, zone, key, data")
        }
    }

    /// Opens the store these options describe.
    func openStore() throws -> DNSStore {
        let env = ProcessInfo.processInfo.environment
        let file = try fileConfig()
        let server = self.server ?? env["DNSSTORE_SERVER"] ?? file.server
        let domainText = domain ?? env["DNSSTORE_DOMAIN"] ?? file.domain
        let zoneText = zone ?? env["DNSSTORE_ZONE"] ?? file.zone
        let keyPath = key ?? env["DNSSTORE_KEY_FILE"] ?? file.key
        let dataDir = data ?? env["DNSSTORE_DATA"] ?? file.data ?? LocalTransport.defaultDirectory
        let domain = try domainText.map(parseName) ?? LocalTransport.defaultZone
        guard let server else {
            return try DNSStore.embedded(directory: dataDir, domain: domain)
        }
        guard domainText != nil else {
            throw CLIError.invalidInput("a server needs a domain: pass --domain or set DNSSTORE_DOMAIN")
        }
        var keyValue: TSIGKey?
        if let keyPath {
            guard let text = try? String(contentsOfFile: keyPath, encoding: .utf8) else {
                throw CLIError.invalidInput("cannot read the key file \(keyPath); create one with 'dnsstore keygen'")
            }
            keyValue = try TSIGKey.parseBINDKeyFile(text).first
        }
        var client = DNSClientConfiguration(servers: [try ServerOptions.parseAddress(server)], key: keyValue)
        client.timeout = .milliseconds(Int(timeout * 1000))
        client.attempts = 2
        var config = StoreConfiguration(domain: domain, zone: try zoneText.map(parseName))
        config.maxAttempts = 100
        return try DNSStore(configuration: config, transport: DNSClient(configuration: client))
    }
}

/// `database/collection/id`, `database/collection` or `database`. Slashes inside names are not
/// supported on the command line.
struct StorePath {
    var database: String
    var collection: String?
    var id: String?

    init(_ text: String, needs parts: Int, allowMore: Bool = false) throws {
        let pieces = text.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        let shape = ["database", "database/collection", "database/collection/id"][parts - 1]
        guard pieces.count == parts || (allowMore && pieces.count > parts), !pieces.contains(where: \.isEmpty) else {
            throw CLIError.invalidInput("'\(text)' is not a path of the form \(shape)")
        }
        database = pieces[0]
        collection = pieces.count > 1 ? pieces[1] : nil
        id = pieces.count > 2 ? pieces[2] : nil
    }
}

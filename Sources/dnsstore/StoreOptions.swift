import ArgumentParser
import DNSClient
import DNSStore
import DNSWire
import Foundation
import NIOCore

/// Where the store is: flags, then environment variables, then a config file, then the embedded
/// default (a data directory in the working directory). Every command that reaches a store or a
/// DNS server resolves it this one way.
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
    @Option(parsing: .unconditional, help: "Seconds to wait for each answer (default 2).")
    var timeout: Double = 2
    @Option(parsing: .unconditional, help: "Tries per request before giving up (default 2): a silent server is reported after about timeout x attempts.")
    var attempts: Int = 2
    @Flag(help: "Compact JSON output even on a terminal.")
    var compact = false

    func validate() throws {
        guard timeout > 0, timeout <= 600 else { throw ValidationError("--timeout must be above 0 and at most 600 seconds, not \(timeout)") }
        guard (1...20).contains(attempts) else { throw ValidationError("--attempts must be 1 to 20, not \(attempts)") }
    }

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

    /// The settings these options, the environment and the config file give.
    func settings() throws -> Settings {
        let env = ProcessInfo.processInfo.environment
        let file = try fileConfig()
        let serverText = self.server ?? env["DNSSTORE_SERVER"] ?? file.server
        let domainText = domain ?? env["DNSSTORE_DOMAIN"] ?? file.domain
        let zoneText = zone ?? env["DNSSTORE_ZONE"] ?? file.zone
        let keyPath = key ?? env["DNSSTORE_KEY_FILE"] ?? file.key
        return Settings(
            server: try serverText.map(ServerAddress.parse),
            domain: try domainText.map(parseName) ?? LocalTransport.defaultZone,
            domainGiven: domainText != nil,
            zone: try zoneText.map(parseName),
            key: try keyPath.map(Settings.readKey),
            dataDirectory: data ?? env["DNSSTORE_DATA"] ?? file.data ?? LocalTransport.defaultDirectory,
            timeout: timeout, attempts: attempts)
    }

    /// Opens the store these options describe.
    func openStore() throws -> DNSStore {
        let settings = try settings()
        guard let server = settings.server else {
            return try DNSStore.embedded(directory: settings.dataDirectory, domain: settings.domain)
        }
        guard settings.domainGiven else {
            throw CLIError.invalidInput("a server needs a domain: pass --domain or set DNSSTORE_DOMAIN")
        }
        var config = StoreConfiguration(domain: settings.domain, zone: settings.zone)
        config.maxAttempts = 100
        return try DNSStore(configuration: config, transport: DNSClient(configuration: settings.client(server)))
    }
}

/// Resolved configuration: a server or the embedded store, and how to talk to it.
struct Settings {
    /// Nil: the embedded store in `dataDirectory`.
    var server: SocketAddress?
    var domain: DNSName
    var domainGiven: Bool
    var zone: DNSName?
    var key: TSIGKey?
    var dataDirectory: String
    var timeout: Double
    var attempts: Int

    func client(_ server: SocketAddress, key: TSIGKey? = nil, alwaysTCP: Bool = false) -> DNSClientConfiguration {
        var config = DNSClientConfiguration(servers: [server], key: key ?? self.key)
        config.timeout = .milliseconds(Int(timeout * 1000))
        config.attempts = attempts
        config.alwaysTCP = alwaysTCP
        return config
    }

    static func readKey(_ path: String) throws -> TSIGKey {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CLIError.invalidInput("cannot read the key file \(path); create one with 'dnsstore keygen'")
        }
        guard let key = try TSIGKey.parseBINDKeyFile(text).first else {
            throw CLIError.invalidInput("the key file \(path) holds no key")
        }
        return key
    }
}

/// `database/collection/id`, `database/collection` or `database`. Database and collection names
/// cannot hold a slash on the command line; an id can: everything after the second slash is the id.
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

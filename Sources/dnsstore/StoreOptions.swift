import ArgumentParser
import DNSClient
import DNSStore
import DNSStoreEmbedded
import DNSStoreRoute53
import DNSWire
import Foundation
import Logging
import NIOCore

/// Where the store is: flags, then environment variables, then a config file, then the embedded
/// default (a data directory in the working directory). Every command that reaches a store or a
/// DNS server resolves it this one way.
struct StoreOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "DNS server ADDRESS[:PORT] for reads and writes (env DNSSTORE_SERVER). Without one, the embedded store in --data is used.")
    var server: String?
    @Option(name: .customLong("primary"), help: "A primary for writes, ADDRESS[:PORT]; repeat it to fail over in order (env DNSSTORE_PRIMARY, comma-separated). Found from the zone's SOA when read servers are given without one.")
    var primary: [String] = []
    @Option(name: .customLong("read-server"), help: "A server to read from, ADDRESS[:PORT]; repeatable, the fastest that answers is used (env DNSSTORE_READ_SERVERS, comma-separated). With --route53-zone: the hosted zone's name servers.")
    var readServer: [String] = []
    @Option(help: "How fresh reads from read servers must be: latest, session or any (env DNSSTORE_CONSISTENCY; default latest).")
    var consistency: ReadConsistency?
    @Option(name: .shortAndLong, help: "The store's domain (env DNSSTORE_DOMAIN); default dnsstore.localhost for the embedded store.")
    var domain: String?
    @Option(help: "The zone UPDATEs go to, if not the domain (env DNSSTORE_ZONE).")
    var zone: String?
    @Option(name: .shortAndLong, help: "TSIG key file in BIND's format (env DNSSTORE_KEY_FILE).")
    var key: String?
    @Option(help: "Data directory of the embedded store (env DNSSTORE_DATA); default ./dnsstore-data.")
    var data: String?
    @Option(name: .customLong("encryption-key"), help: "Encryption key file of private collections (env DNSSTORE_ENCRYPTION_KEY_FILE); 'dnsstore keygen --encryption' makes one.")
    var encryptionKey: String?
    @Option(help: "Config file: JSON with server, domain, zone, key, data, privateCollections (env DNSSTORE_CONFIG); default ./dnsstore.json if present.")
    var config: String?
    @Option(name: .customLong("route53-zone"), help: "Keep the store in this Route 53 hosted zone (its id), through the Route 53 API with the AWS credentials of the environment or ~/.aws (env DNSSTORE_ROUTE53_ZONE). Needs --domain.")
    var route53Zone: String?
    @Option(name: .customLong("route53-endpoint"), help: "The Route 53 API's URL when not AWS's: a compatible server or a proxy (env DNSSTORE_ROUTE53_ENDPOINT).")
    var route53Endpoint: String?
    @Option(parsing: .unconditional, help: "Seconds to wait for each answer (default 2).")
    var timeout: Double = 2
    @Option(parsing: .unconditional, help: "Tries per request before giving up (default 2): a silent server is reported after about timeout x attempts.")
    var attempts: Int = 2
    @Flag(help: "Compact JSON output even on a terminal.")
    var compact = false
    @Flag(help: "When the command ends, print on standard error the DNS queries, UPDATEs and zone transfers it sent, their answers and their octets.")
    var stats = false

    func validate() throws {
        guard timeout > 0, timeout <= 600 else { throw ValidationError("--timeout must be above 0 and at most 600 seconds, not \(timeout)") }
        guard (1...20).contains(attempts) else { throw ValidationError("--attempts must be 1 to 20, not \(attempts)") }
    }

    private func fileConfig() throws -> ConfigurationFile {
        do {
            return try ConfigurationFile.load(explicit: config ?? ProcessInfo.processInfo.environment["DNSSTORE_CONFIG"])
        } catch {
            throw CLIError.invalidInput(error.description)
        }
    }

    /// The settings these options, the environment and the config file give; `defaultConsistency`
    /// when none of them names one.
    func settings(defaultConsistency: ReadConsistency = .latest) throws -> Settings {
        var flags = ConfigurationFile()
        (flags.server, flags.primaries, flags.readServers, flags.consistency) = (server, primary, readServer, consistency)
        (flags.domain, flags.zone, flags.key, flags.encryptionKey, flags.data) = (domain, zone, key, encryptionKey, data)
        (flags.route53Zone, flags.route53Endpoint) = (route53Zone, route53Endpoint)
        let file = try fileConfig()
        let merged: ConfigurationFile
        do {
            merged = try file.overridden(by: ProcessInfo.processInfo.environment, given: flags)
        } catch {
            throw CLIError.invalidInput(error.description)
        }
        return Settings(
            server: try merged.server.map(ServerAddress.cli),
            primaries: try (merged.primaries ?? []).map(ServerAddress.cli),
            readServers: try (merged.readServers ?? []).map(ServerAddress.cli),
            consistency: merged.consistency ?? defaultConsistency,
            domain: try merged.domain.map(parseName) ?? LocalTransport.defaultZone,
            domainGiven: merged.domain != nil,
            zone: try merged.zone.map(parseName),
            key: try merged.key.map(Settings.readKey),
            encryptionKeys: try merged.encryptionKey.map(Settings.readEncryptionKeys),
            dataDirectory: merged.data ?? LocalTransport.defaultDirectory,
            privateCollections: Set(merged.privateCollections ?? []),
            route53Zone: merged.route53Zone, route53Endpoint: merged.route53Endpoint,
            timeout: timeout, attempts: attempts, traffic: stats ? CommandTraffic.start() : nil)
    }

    /// The store's configuration: what the settings give, with the private collections this user's
    /// earlier commands saw (`PinFile`) pinned, and any new ones recorded there as they are seen.
    private func configuration(_ settings: Settings, where location: String, clockSkew: Duration?) -> StoreConfiguration {
        var config = StoreConfiguration(domain: settings.domain, zone: settings.zone)
        if let clockSkew { config.leaseClockSkew = clockSkew }
        config.maxAttempts = 100
        config.consistency = settings.consistency
        config.encryptionKeys = settings.encryptionKeys
        config.serverHealth = settings.health
        // A command reports its own failure on standard error, once: the store speaks only of
        // what the command's result does not say.
        config.logger.logLevel = .warning
        let pins = PinFile(root: (try? settings.domain.prepending("_dnsstore")) ?? settings.domain, where: location)
        config.privateCollections = settings.privateCollections.union(pins.load())
        config.privateCollectionsChanged = { pins.save($0.subtracting(settings.privateCollections)) }
        return config
    }

    /// Opens the store these options describe; `clockSkew`: how far apart the cluster's clocks
    /// may be, for leases (the store's default otherwise).
    func openStore(clockSkew: Duration? = nil, defaultConsistency: ReadConsistency = .latest) async throws -> DocumentStore {
        let settings = try settings(defaultConsistency: defaultConsistency)
        if let hostedZone = settings.route53Zone {
            let transport = try settings.route53Transport(hostedZone)
            var config = configuration(settings, where: "route53:\(hostedZone)", clockSkew: clockSkew)
            Route53Transport.fit(&config)
            // Read servers are the zone's name servers: reads at session and any go there.
            let readers = try settings.readServers.map { address -> (transport: any StoreTransport, name: String) in
                (try Route53NameServer(DNSClient(configuration: settings.readClient(address)), zone: transport.zone), address.display)
            }
            return try DocumentStore(configuration: config, transport: transport, readServers: readers)
        }
        guard settings.server != nil || !settings.primaries.isEmpty || !settings.readServers.isEmpty else {
            let transport = try LocalTransport.open(directory: settings.dataDirectory, zone: settings.domain, traffic: settings.traffic)
            let directory = URL(fileURLWithPath: settings.dataDirectory).standardizedFileURL.path
            return try DocumentStore(configuration: configuration(settings, where: directory, clockSkew: clockSkew), transport: transport)
        }
        guard settings.domainGiven else {
            throw CLIError.invalidInput("a server needs a domain: pass --domain or set DNSSTORE_DOMAIN")
        }
        let location = (settings.primaries.first ?? settings.server ?? settings.readServers.first).map(\.display) ?? ""
        let config = configuration(settings, where: location, clockSkew: clockSkew)
        if let server = settings.server, settings.primaries.isEmpty, settings.readServers.isEmpty {
            return try DocumentStore(configuration: config, transport: DNSClient(configuration: settings.client(server)))
        }
        var primaries = settings.primaries
        if primaries.isEmpty {
            if let server = settings.server {
                primaries = [server]
            } else {
                primaries = [try await PrimaryDiscovery.primary(of: config.zone, asking: settings.readServers, timeout: settings.timeout)]
            }
        }
        let readServers = settings.readServers.isEmpty ? settings.server.map { [$0] } ?? primaries : settings.readServers
        var primary = settings.client(primaries[0])
        primary.servers = primaries
        primary.attempts = max(settings.attempts, primaries.count)
        let readers = readServers.map { address -> (transport: any StoreTransport, name: String) in
            (DNSClient(configuration: settings.readClient(address)), address.display)
        }
        return try DocumentStore(configuration: config, transport: DNSClient(configuration: primary), readServers: readers)
    }
}

/// Resolved configuration: a server or the embedded store, and how to talk to it.
struct Settings {
    /// Nil (and no primaries or read servers): the embedded store in `dataDirectory`.
    var server: SocketAddress?
    var primaries: [SocketAddress]
    var readServers: [SocketAddress]
    var consistency: ReadConsistency
    var domain: DNSName
    var domainGiven: Bool
    var zone: DNSName?
    var key: TSIGKey?
    /// The keys of private collections, from --encryption-key.
    var encryptionKeys: EncryptionKeys?
    var dataDirectory: String
    /// Collections pinned private by the configuration (`privateCollections`, DNSSTORE_PRIVATE_COLLECTIONS).
    var privateCollections: Set<String>
    /// The Route 53 hosted zone the store is kept in, and the API's URL when not AWS's.
    var route53Zone: String?
    var route53Endpoint: String?
    var timeout: Double
    var attempts: Int
    /// Counts what the command sends (`--stats`).
    var traffic: TrafficCount?

    /// Which servers failed in this command and the ones before it (`HealthFile`).
    let health = HealthFile.load()

    /// The transport to a store in Route 53: the domain given, no DNS servers, credentials found
    /// as the AWS command line finds them.
    func route53Transport(_ hostedZone: String) throws -> Route53Transport {
        guard domainGiven else {
            throw CLIError.invalidInput("a store in Route 53 needs its domain, the hosted zone's name or a name in it: pass --domain or set DNSSTORE_DOMAIN")
        }
        guard server == nil, primaries.isEmpty else {
            throw CLIError.invalidInput(
                "--route53-zone keeps the store in Route 53, written through its API: it takes no --server or --primary (--read-server names the zone's name servers, for reads at session and any)")
        }
        guard !hostedZone.isEmpty, hostedZone.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "/" }) else {
            throw CLIError.invalidInput("--route53-zone '\(hostedZone)' is not a hosted zone id (letters and digits, as Z0123456789ABC)")
        }
        let credentials: AWSCredentials
        do {
            credentials = try AWSCredentials.standard()
        } catch {
            throw StoreError.unauthorized("\(error) (the store in Route 53 hosted zone \(hostedZone) is written and read with them)")
        }
        var api = Route53Configuration(credentials: credentials)
        if traffic != nil { api.requests = CommandTraffic.route53Requests }
        if let endpoint = route53Endpoint {
            guard let url = URL(string: endpoint), ["http", "https"].contains(url.scheme ?? ""), url.host != nil else {
                throw CLIError.invalidInput("--route53-endpoint '\(endpoint)' is not an http or https URL")
            }
            api.endpoint = url
        }
        return try Route53Transport(client: Route53Client(configuration: api), hostedZone: hostedZone, zone: zone ?? domain)
    }

    /// A read server's client: unsigned, one try with at most a second's timeout (the store's read
    /// servers keep their health themselves, in ReplicaSet, with the same file).
    func readClient(_ address: SocketAddress) -> DNSClientConfiguration {
        var reader = DNSClientConfiguration(servers: [address])
        reader.traffic = traffic
        reader.timeout = .milliseconds(Int(min(timeout, 1) * 1000))
        reader.attempts = 1
        return reader
    }

    func client(_ server: SocketAddress, key: TSIGKey? = nil, alwaysTCP: Bool = false) -> DNSClientConfiguration {
        var config = DNSClientConfiguration(servers: [server], key: key ?? self.key)
        config.health = health
        config.traffic = traffic
        config.timeout = .milliseconds(Int(timeout * 1000))
        config.attempts = attempts
        config.alwaysTCP = alwaysTCP
        return config
    }

    static func readKey(_ path: String) throws -> TSIGKey {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            // A new key would be one the server does not know: name the file the server was given.
            let why = FileManager.default.fileExists(atPath: path) ? "it cannot be read" : "it does not exist"
            throw CLIError.invalidInput(
                "cannot read the key file \(path): \(why); give the key file the server accepts (the one 'dnsstore serve --key' or the server's configuration names)")
        }
        guard let key = try TSIGKey.parseBINDKeyFile(text).first else {
            throw CLIError.invalidInput("the key file \(path) holds no key")
        }
        return key
    }

    static func readEncryptionKeys(_ path: String) throws -> EncryptionKeys {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CLIError.invalidInput("cannot read the encryption key file \(path); create one with 'dnsstore keygen --encryption --output FILE'")
        }
        do {
            return EncryptionKeys(try EncryptionKey.parseFile(text))
        } catch let error as StoreError where error.code == .encryptionKey {
            let why = error.detail
            throw CLIError.invalidInput("the encryption key file \(path): \(why)")
        }
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

extension ReadConsistency: ExpressibleByArgument {}

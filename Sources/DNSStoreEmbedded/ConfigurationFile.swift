import DNSStore
import DNSWire
import Foundation

/// A store's configuration file (`dnsstore.json`), as the command line and
/// ``DNSStore/DocumentStore/fromEnvironment(_:configuration:)`` read it: JSON with string fields
/// `server`, `domain`, `zone`, `key` (a TSIG key file), `data`, `consistency`, `encryptionKey`,
/// `route53Zone`, `route53Endpoint` and lists `primaries`, `readServers`, `privateCollections`. A key it does not know is refused
/// by name, so that a misspelt one is never silently ignored.
public struct ConfigurationFile: Decodable, Sendable {
    public var server: String?
    public var primaries: [String]?
    public var readServers: [String]?
    public var consistency: ReadConsistency?
    public var domain: String?
    public var zone: String?
    public var key: String?
    public var data: String?
    public var encryptionKey: String?
    public var privateCollections: [String]?
    /// A Route 53 hosted zone's id: the store is kept there, through the Route 53 API.
    public var route53Zone: String?
    /// The Route 53 API's URL when not AWS's (a compatible server, a proxy).
    public var route53Endpoint: String?

    /// Every key a configuration file may hold.
    public static let keys: Set<String> = [
        "server", "primaries", "readServers", "consistency", "domain", "zone", "key", "data", "encryptionKey", "privateCollections",
        "route53Zone", "route53Endpoint",
    ]

    /// An empty configuration: nothing set.
    public init() {}

    /// The file at `explicit`, which must exist; without one, `dnsstore.json` in the working
    /// directory when there is one, else an empty configuration.
    public static func load(explicit: String?) throws(ConfigurationError) -> ConfigurationFile {
        let path = explicit ?? "dnsstore.json"
        guard FileManager.default.fileExists(atPath: path) else {
            if let explicit { throw ConfigurationError("config file \(explicit) does not exist") }
            return ConfigurationFile()
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("cannot read config file \(path)")
        }
        if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let unknown = object.keys.sorted().first(where: { !keys.contains($0) })
        {
            let hint = Suggestion.nearest(to: unknown, in: keys).map { " (did you mean '\($0)'?)" } ?? ""
            throw ConfigurationError(
                "config file \(path): unknown key '\(unknown)'\(hint); the keys are \(keys.sorted().joined(separator: ", "))")
        }
        do {
            return try JSONDecoder().decode(ConfigurationFile.self, from: data)
        } catch {
            throw ConfigurationError(
                "config file \(path) is not valid JSON with string fields server, domain, zone, key, data, consistency and lists primaries, readServers")
        }
    }
}

extension ConfigurationFile {
    /// The settings in force: each one as `given` directly (the command line's flags), else as the
    /// environment's `DNSSTORE_*` variable sets it, else as this file does. Lists in variables
    /// are comma-separated. The one order of precedence for the command line and
    /// ``DNSStore/DocumentStore/fromEnvironment(_:configuration:)``.
    public func overridden(by environment: [String: String], given: ConfigurationFile = ConfigurationFile()) throws(ConfigurationError)
        -> ConfigurationFile
    {
        func list(_ given: [String]?, _ variable: String, _ fromFile: [String]?) -> [String]? {
            if let given, !given.isEmpty { return given }
            guard let value = environment[variable] else { return fromFile }
            return value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        var merged = ConfigurationFile()
        merged.server = given.server ?? environment["DNSSTORE_SERVER"] ?? server
        merged.primaries = list(given.primaries, "DNSSTORE_PRIMARY", primaries)
        merged.readServers = list(given.readServers, "DNSSTORE_READ_SERVERS", readServers)
        merged.domain = given.domain ?? environment["DNSSTORE_DOMAIN"] ?? domain
        merged.zone = given.zone ?? environment["DNSSTORE_ZONE"] ?? zone
        merged.key = given.key ?? environment["DNSSTORE_KEY_FILE"] ?? key
        merged.encryptionKey = given.encryptionKey ?? environment["DNSSTORE_ENCRYPTION_KEY_FILE"] ?? encryptionKey
        merged.data = given.data ?? environment["DNSSTORE_DATA"] ?? data
        merged.privateCollections = list(given.privateCollections, "DNSSTORE_PRIVATE_COLLECTIONS", privateCollections)
        merged.route53Zone = given.route53Zone ?? environment["DNSSTORE_ROUTE53_ZONE"] ?? route53Zone
        merged.route53Endpoint = given.route53Endpoint ?? environment["DNSSTORE_ROUTE53_ENDPOINT"] ?? route53Endpoint
        if let consistency = given.consistency {
            merged.consistency = consistency
        } else if let text = environment["DNSSTORE_CONSISTENCY"] {
            guard let parsed = ReadConsistency(rawValue: text) else {
                throw ConfigurationError("DNSSTORE_CONSISTENCY is '\(text)'; it must be latest, session or any")
            }
            merged.consistency = parsed
        } else {
            merged.consistency = consistency
        }
        return merged
    }
}

/// A configuration that cannot be used: a file, a variable or a key file, named with what is wrong.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

extension DocumentStore {
    /// A store configured the way the command line is: `DNSSTORE_SERVER`, `DNSSTORE_PRIMARY` and
    /// `DNSSTORE_READ_SERVERS` (comma-separated, host names or addresses), `DNSSTORE_DOMAIN`,
    /// `DNSSTORE_ZONE`, `DNSSTORE_KEY_FILE`, `DNSSTORE_ENCRYPTION_KEY_FILE`,
    /// `DNSSTORE_CONSISTENCY`, `DNSSTORE_DATA` and `DNSSTORE_PRIVATE_COLLECTIONS`, each over the
    /// configuration file (`DNSSTORE_CONFIG`, else `./dnsstore.json`). With no server, the
    /// embedded store in the data directory. `configuration` gives the rest (logger, coding,
    /// `createIfMissing`); its domain, zone, keys and consistency are replaced by what is set.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment, configuration base: StoreConfiguration? = nil
    ) throws -> DocumentStore {
        let settings = try ConfigurationFile.load(explicit: environment["DNSSTORE_CONFIG"]).overridden(by: environment)
        func name(_ text: String, _ what: String) throws -> DNSName {
            do { return try DNSName(text) } catch { throw ConfigurationError("the \(what) '\(text)' is not a DNS name: \(error)") }
        }
        func contents(_ path: String, _ what: String) throws -> String {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ConfigurationError("cannot read the \(what) \(path)")
            }
            return text
        }
        if let zone = settings.route53Zone {
            // Its transport lives in DNSStoreRoute53, which this library does not link.
            throw ConfigurationError("route53Zone \(zone) is set: open a store on Route 53 with DNSStoreRoute53's Route53Transport")
        }
        let server = settings.server
        let primaries = settings.primaries ?? []
        let readServers = settings.readServers ?? []
        let domainText = settings.domain
        var configuration = base ?? StoreConfiguration(domain: LocalTransport.defaultZone)
        if let domainText { configuration.domain = try name(domainText, "domain") }
        configuration.zone = try settings.zone.map { try name($0, "zone") } ?? configuration.domain
        if let consistency = settings.consistency { configuration.consistency = consistency }
        if let path = settings.encryptionKey {
            configuration.encryptionKeys = EncryptionKeys(try EncryptionKey.parseFile(try contents(path, "encryption key file")))
        }
        configuration.privateCollections.formUnion(settings.privateCollections ?? [])

        guard server != nil || !primaries.isEmpty || !readServers.isEmpty else {
            let directory = settings.data ?? LocalTransport.defaultDirectory
            return try embedded(directory: directory, domain: configuration.domain, configuration: configuration)
        }
        guard domainText != nil else { throw ConfigurationError("a server is configured but no domain: set DNSSTORE_DOMAIN") }
        let writers = primaries.isEmpty ? server.map { [$0] } ?? [] : primaries
        guard !writers.isEmpty else {
            throw ConfigurationError("read servers are configured but no server to write to: set DNSSTORE_PRIMARY or DNSSTORE_SERVER")
        }
        // A server named beside primaries is read from.
        let readers = readServers + (primaries.isEmpty ? [] : server.map { [$0] } ?? [])
        let key = try settings.key.map { path -> TSIGKey in
            guard let key = try TSIGKey.parseBINDKeyFile(try contents(path, "key file")).first else {
                throw ConfigurationError("the key file \(path) holds no key")
            }
            return key
        }
        return try DocumentStore(configuration: configuration, primaries: writers, readServers: readers, key: key)
    }
}

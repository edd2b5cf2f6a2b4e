import DNSClient
import DNSServer
import DNSStore
import DNSWire
import Foundation
import Logging
import NIOCore
import NIOPosix

/// The store on the embedded server in the same process: the same DNS messages, handed to the
/// engine without sockets. What a store uses when no server is configured.
public final class LocalTransport: StoreTransport {
    /// The engine the messages go to.
    public let authority: Authority
    /// Whether the transport opened the engine, and so closes it when shut down.
    private let ownsAuthority: Bool
    /// Counts the messages handed to the engine and its answers, when set.
    public let traffic: TrafficCount?

    /// A transport to an authority the caller made (an in-memory one, say), which stays the
    /// caller's to shut down.
    public convenience init(authority: Authority, traffic: TrafficCount? = nil) {
        self.init(authority: authority, owned: false, traffic: traffic)
    }

    private init(authority: Authority, owned: Bool, traffic: TrafficCount?) {
        self.authority = authority
        self.ownsAuthority = owned
        self.traffic = traffic
    }

    /// Closes the engine and its data file when this transport opened them (`open`).
    public func shutdown() async {
        if ownsAuthority { await authority.close() }
    }

    /// The default data directory, relative to the working directory.
    public static let defaultDirectory = "dnsstore-data"
    /// The zone of a store that names none; `.localhost` is reserved for local use (RFC 6761).
    public static let defaultZone: DNSName = "dnsstore.localhost."

    /// Opens (creating if needed) the zone database in `directory`, serving `zone`. The engine
    /// logs to `logger` (by default: warnings and worse, under `dnsstore.embedded`); `traffic`
    /// counts the messages.
    public static func open(
        directory: String = defaultDirectory, zone: DNSName = defaultZone, logger: Logger? = nil, traffic: TrafficCount? = nil
    ) throws -> LocalTransport {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw StoreError.serverFailure("cannot create the data directory \(directory): \(error.localizedDescription)")
        }
        let path = (directory as NSString).appendingPathComponent("zones.sqlite")
        var config = AuthorityConfiguration(zones: [zone], keys: [])
        // A store in one process reads most names once (a scan, an export); a small cache holds
        // the metadata and index pages it reads again, and memory stays flat as the store grows.
        config.cacheOctets = 8 << 20
        // The engine inside a command speaks only of what goes wrong.
        let logger = logger ?? {
            var quiet = Logger(label: "dnsstore.embedded")
            quiet.logLevel = .warning
            return quiet
        }()
        do {
            let authority = try Authority(databasePath: path, configuration: config, logger: logger)
            // No thread expires leases in a store that lives for one command: it does so as it opens.
            authority.expireLeases()
            return LocalTransport(authority: authority, owned: true, traffic: traffic)
        } catch let error as AuthorityError {
            throw StoreError.serverFailure("the data directory \(directory) cannot be used: \(error)")
        }
    }

    /// Hands `request` to the engine and each of its answers to `each`, a step at a time as the
    /// engine produces them (a zone transfer is held one page at a time). What the engine does
    /// not answer at once (it waits for the disk) runs on the thread pool, off the caller's
    /// executor. `overTCP` means nothing here: nothing is truncated in-process.
    public func send(_ request: Message, overTCP: Bool, each: (Message) throws -> Void) async throws {
        var request = request
        request.id = UInt16.random(in: .min ... .max)
        let octets = try request.encode()
        let kind = TrafficCount.kind(of: request)
        traffic?.sent(kind, octets: octets.readableBytes)
        try await authority.handle(octets, over: .local) { [traffic] answers in
            for answer in answers {
                traffic?.received(kind, octets: answer.readableBytes)
                let message: Message
                do {
                    message = try Message(decoding: answer)
                } catch let error as DNSWireError {
                    throw DNSError.malformedResponse(error)
                }
                try each(message)
            }
        }
    }
}

extension DocumentStore {
    /// A store on the embedded server, in-process, with its data in `directory`: the default
    /// when no DNS server is configured, serving `domain` (else the configuration's, else
    /// `dnsstore.localhost`). The store owns the engine: `shutdown()` (or the end of
    /// its `run()` as a service) closes the data file. The engine logs to `configuration.logger`
    /// when a configuration is given, else warnings only.
    public static func embedded(
        directory: String = LocalTransport.defaultDirectory, domain: DNSName? = nil,
        encryptionKeys: EncryptionKeys? = nil, configuration: StoreConfiguration? = nil
    ) throws -> DocumentStore {
        // The zone is the domain: given, else the configuration's, else the default.
        let zone = domain ?? configuration?.domain ?? LocalTransport.defaultZone
        let transport = try LocalTransport.open(directory: directory, zone: zone, logger: configuration?.logger)
        var settings = configuration ?? StoreConfiguration(domain: zone)
        settings.domain = zone
        settings.zone = zone
        if let encryptionKeys { settings.encryptionKeys = encryptionKeys }
        return try DocumentStore(configuration: settings, transport: transport, ownsTransports: true)
    }
}

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

    /// A transport to an authority the caller made (an in-memory one, say).
    public init(authority: Authority) {
        self.authority = authority
    }

    /// The default data directory, relative to the working directory.
    public static let defaultDirectory = "dnsstore-data"
    /// The zone of a store that names none; `.localhost` is reserved for local use (RFC 6761).
    public static let defaultZone: DNSName = "dnsstore.localhost."

    /// Opens (creating if needed) the zone database in `directory`, serving `zone`.
    public static func open(directory: String = defaultDirectory, zone: DNSName = defaultZone) throws -> LocalTransport {
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
        var logger = Logger(label: "dnsstore.embedded")
        logger.logLevel = .warning
        do {
            let authority = try Authority(databasePath: path, configuration: config, logger: logger)
            // No thread expires leases in a store that lives for one command: it does so as it opens.
            authority.expireLeases()
            return LocalTransport(authority: authority)
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
        try await authority.handle(try request.encode(), over: .local) { answers in
            for answer in answers {
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
    /// when no DNS server is configured.
    public static func embedded(
        directory: String = LocalTransport.defaultDirectory, domain: DNSName = LocalTransport.defaultZone,
        encryptionKeys: EncryptionKeys? = nil
    ) throws -> DocumentStore {
        let transport = try LocalTransport.open(directory: directory, zone: domain)
        var configuration = StoreConfiguration(domain: domain)
        configuration.encryptionKeys = encryptionKeys
        return try DocumentStore(configuration: configuration, transport: transport)
    }
}

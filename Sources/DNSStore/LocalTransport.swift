import DNSClient
import DNSServer
import DNSWire
import Foundation
import NIOCore
import NIOPosix

/// The store on the embedded server in the same process: the same DNS messages, handed to the
/// engine without sockets. What a store uses when no server is configured.
public final class LocalTransport: StoreTransport {
    public let authority: Authority

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
        let config = AuthorityConfiguration(zones: [zone], keys: [])
        do {
            return LocalTransport(authority: try Authority(databasePath: path, configuration: config))
        } catch let error as AuthorityError {
            throw StoreError.serverFailure("the data directory \(directory) cannot be used: \(error)")
        }
    }

    /// Hands any DNS message to the engine and returns its answer, whatever its RCODE.
    public func send(_ message: Message) async throws -> Message {
        try await exchange(message, onPool: message.opcode != .query)
    }

    private func exchange(_ message: Message, onPool: Bool) async throws -> Message {
        var request = message
        request.id = UInt16.random(in: .min ... .max)
        let octets = try request.encode()
        let authority = self.authority
        let answers: [ByteBuffer]
        if onPool {
            // UPDATEs wait for the disk; keep that off the caller's executor.
            answers = try await NIOThreadPool.singleton.runIfActive { authority.handle(octets, over: .local) }
        } else {
            answers = authority.handle(octets, over: .local)
        }
        guard let first = answers.first else { throw DNSError.timeout }
        do {
            return try Message(decoding: first)
        } catch let error as DNSWireError {
            throw DNSError.malformedResponse(error)
        }
    }

    public func txt(at name: DNSName, overTCP: Bool) async throws -> [RData] {
        let response = try await exchange(Message.query(name, type: .txt, payloadSize: nil), onPool: false)
        if response.rcode == .nxDomain { return [] }
        if let error = DNSError(rcode: response.rcode) { throw error }
        return response.answers.filter { $0.type == .txt && $0.name == name }.map(\.rdata)
    }

    public func zoneRecords(_ zone: DNSName) async throws -> [ResourceRecord] {
        var request = Message.query(zone, type: .axfr, payloadSize: nil)
        request.id = UInt16.random(in: .min ... .max)
        let octets = try request.encode()
        let authority = self.authority
        let answers = try await NIOThreadPool.singleton.runIfActive { authority.handle(octets, over: .local) }
        var records: [ResourceRecord] = []
        for answer in answers {
            let message = try Message(decoding: answer)
            if let error = DNSError(rcode: message.rcode) { throw error }
            records += message.answers
        }
        return records
    }

    public func apply(_ update: UpdateBuilder) async throws {
        let response = try await exchange(update.message(), onPool: true)
        if let error = DNSError(rcode: response.rcode) { throw error }
    }
}

extension DNSStore {
    /// A store on the embedded server, in-process, with its data in `directory`: the default
    /// when no DNS server is configured.
    public static func embedded(
        directory: String = LocalTransport.defaultDirectory, domain: DNSName = LocalTransport.defaultZone
    ) throws -> DNSStore {
        let transport = try LocalTransport.open(directory: directory, zone: domain)
        return try DNSStore(configuration: StoreConfiguration(domain: domain), transport: transport)
    }
}

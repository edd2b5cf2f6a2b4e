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

    /// Hands any DNS message to the engine and returns its answer, whatever its RCODE. What the
    /// engine does not answer at once (it waits for the disk) runs on the thread pool, off the
    /// caller's executor.
    public func send(_ message: Message) async throws -> Message {
        guard let first = try await answers(to: message).first else { throw DNSError.timeout }
        do {
            return try Message(decoding: first)
        } catch let error as DNSWireError {
            throw DNSError.malformedResponse(error)
        }
    }

    private func answers(to message: Message) async throws -> [ByteBuffer] {
        var request = message
        request.id = UInt16.random(in: .min ... .max)
        switch authority.receive(try request.encode(), over: .local) {
        case .answered(let answers):
            return answers
        case .work(let work):
            return try await NIOThreadPool.singleton.runIfActive { work.runToEnd() }
        }
    }

    public func txt(at name: DNSName, overTCP: Bool) async throws -> [RData] {
        let response = try await send(Message.query(name, type: .txt, payloadSize: nil))
        if response.rcode == .nxDomain { return [] }
        if let error = DNSError(rcode: response.rcode) { throw error }
        return response.answers.filter { $0.type == .txt && $0.name == name }.map(\.rdata)
    }

    public func zoneRecords(_ zone: DNSName) async throws -> [ResourceRecord] {
        var records: [ResourceRecord] = []
        for answer in try await answers(to: Message.query(zone, type: .axfr, payloadSize: nil)) {
            let message = try Message(decoding: answer)
            if let error = DNSError(rcode: message.rcode) { throw error }
            records += message.answers
        }
        return records
    }

    public func apply(_ update: UpdateBuilder) async throws {
        let response = try await send(update.message())
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

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
        var answers: [ByteBuffer] = []
        try await steps(of: message) { answers += $0 }
        return answers
    }

    /// Hands `body` the engine's answers to `message` a step at a time, as it produces them (work
    /// that blocks runs on the thread pool): a zone transfer is held one page at a time.
    private func steps(of message: Message, _ body: ([ByteBuffer]) throws -> Void) async throws {
        var request = message
        request.id = UInt16.random(in: .min ... .max)
        var next: BlockingWork?
        switch authority.receive(try request.encode(), over: .local) {
        case .answered(let answers):
            try body(answers)
        case .work(let work):
            next = work
        case .deferred(let work):
            try body(await withCheckedContinuation { continuation in
                work.start(on: NIOThreadPool.singleton) { continuation.resume(returning: $0) }
            })
        }
        while let work = next {
            let step = try await NIOThreadPool.singleton.runIfActive { work.run() }
            next = step.next
            do {
                try body(step.answers)
            } catch {
                next?.abandon()
                throw error
            }
        }
    }

    public func txt(at name: DNSName, overTCP: Bool) async throws -> [RData] {
        try await lookup(name, overTCP: overTCP).records
    }

    public func lookup(_ name: DNSName, overTCP: Bool) async throws -> TXTLookup {
        let response = try await send(Message.query(name, type: .txt, payloadSize: nil))
        guard response.rcode == .noError || response.rcode == .nxDomain else {
            throw DNSError(rcode: response.rcode) ?? DNSError.serverFailure
        }
        let records = response.answers.filter { $0.type == .txt && $0.name == name }.map(\.rdata)
        return TXTLookup(records: records, serial: records.isEmpty ? DNSClient.serial(in: response.authority) : nil)
    }

    public func serial(of zone: DNSName) async throws -> UInt32 {
        let response = try await send(Message.query(zone, type: .soa, payloadSize: nil))
        if let error = DNSError(rcode: response.rcode) { throw error }
        guard let serial = DNSClient.serial(in: response.answers) else { throw DNSError.malformedResponse(.truncated("the zone's SOA")) }
        return serial
    }

    public func zoneRecords(_ zone: DNSName) async throws -> [ResourceRecord] {
        try await transferRecords(Message.query(zone, type: .axfr, payloadSize: nil))
    }

    /// The zone a page at a time, as the engine produces it: memory holds one page.
    public func zoneRecords(_ zone: DNSName, each: (ResourceRecord) throws -> Void) async throws {
        try await transfer(Message.query(zone, type: .axfr, payloadSize: nil), each: each)
    }

    public func changes(of zone: DNSName, since serial: UInt32) async throws -> ZoneTransfer? {
        var request = Message.query(zone, type: .ixfr, payloadSize: nil)
        let soa = SOA(mname: .root, rname: .root, serial: serial, refresh: 0, retry: 0, expire: 0, minimum: 0)
        request.authority = [ResourceRecord(name: zone, type: .soa, ttl: 0, rdata: .soa(soa))]
        let records = try await transferRecords(request)
        return ZoneTransfer(records: records, messageCount: 1, isIncremental: records.count > 1 && records[1].type == .soa)
    }

    private func transferRecords(_ request: Message) async throws -> [ResourceRecord] {
        var records: [ResourceRecord] = []
        try await transfer(request) { records.append($0) }
        return records
    }

    /// Every record of a transfer's answers, in order; an RCODE other than NOERROR is thrown.
    private func transfer(_ request: Message, each: (ResourceRecord) throws -> Void) async throws {
        try await steps(of: request) { answers in
            for answer in answers {
                let message = try Message(decoding: answer)
                if let error = DNSError(rcode: message.rcode) { throw error }
                for record in message.answers { try each(record) }
            }
        }
    }

    public func apply(_ update: UpdateBuilder) async throws {
        let response = try await send(update.message())
        if let error = DNSError(rcode: response.rcode) { throw error }
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

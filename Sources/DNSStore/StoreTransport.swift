import DNSClient
import DNSWire

/// How the store reaches one DNS server: queries and updates as DNS messages. `DNSClient`
/// provides it over the network, `LocalTransport` in-process; anything else that answers the same
/// messages can stand in. Only `txt`, `apply` and `zoneRecords` are required; the rest, which
/// replicas and watches use, have answers that mean "not known" by default.
public protocol StoreTransport: Sendable {
    /// The TXT RDATA at `name`; an empty array when the name or its TXT RRset does not exist.
    func txt(at name: DNSName, overTCP: Bool) async throws -> [RData]
    /// Sends an UPDATE; throws `DNSError` for any RCODE but NOERROR.
    func apply(_ update: UpdateBuilder) async throws
    /// Every record of `zone` (a zone transfer), for checks that must see names no index lists.
    func zoneRecords(_ zone: DNSName) async throws -> [ResourceRecord]
    /// Every record of `zone`, each handed to `each` as it arrives; by default from
    /// `zoneRecords(_:)`, all at once.
    func zoneRecords(_ zone: DNSName, each: (ResourceRecord) throws -> Void) async throws

    /// The TXT RDATA at `name`, and for a negative answer the zone serial in its SOA.
    func lookup(_ name: DNSName, overTCP: Bool) async throws -> TXTLookup
    /// The zone's current serial, from its SOA.
    func serial(of zone: DNSName) async throws -> UInt32
    /// The changes of `zone` since `serial` (IXFR); nil when the server does not transfer to us.
    func changes(of zone: DNSName, since serial: UInt32) async throws -> ZoneTransfer?
}

/// A TXT lookup's answer.
public struct TXTLookup: Sendable {
    /// The TXT RDATA; empty for a negative answer.
    public var records: [RData]
    /// The zone's serial, when the answer was negative and carried the SOA (RFC 2308).
    public var serial: UInt32?

    /// An answer, with the serial of a negative one when known.
    public init(records: [RData], serial: UInt32?) {
        self.records = records
        self.serial = serial
    }
}

extension StoreTransport {
    public func zoneRecords(_ zone: DNSName, each: (ResourceRecord) throws -> Void) async throws {
        for record in try await zoneRecords(zone) { try each(record) }
    }

    public func lookup(_ name: DNSName, overTCP: Bool) async throws -> TXTLookup {
        TXTLookup(records: try await txt(at: name, overTCP: overTCP), serial: nil)
    }

    public func serial(of zone: DNSName) async throws -> UInt32 {
        throw DNSError.notImplemented
    }

    public func changes(of zone: DNSName, since serial: UInt32) async throws -> ZoneTransfer? { nil }
}

extension DNSClient: StoreTransport {
    public func txt(at name: DNSName, overTCP: Bool) async throws -> [RData] {
        try await lookup(name, overTCP: overTCP).records
    }

    public func lookup(_ name: DNSName, overTCP: Bool) async throws -> TXTLookup {
        let answer = try await send(Message.query(name, type: .txt, payloadSize: configuration.payloadSize), overTCP: overTCP)
        switch answer.rcode {
        case .noError, .nxDomain:
            let records = answer.answers.filter { $0.type == .txt && $0.name == name }.map(\.rdata)
            return TXTLookup(records: records, serial: records.isEmpty ? Self.serial(in: answer.authority) : nil)
        default:
            throw DNSError(rcode: answer.rcode) ?? DNSError.serverFailure
        }
    }

    public func apply(_ update: UpdateBuilder) async throws {
        try await self.update(update)
    }

    public func zoneRecords(_ zone: DNSName) async throws -> [ResourceRecord] {
        try await transfer(zone: zone).records
    }

    public func zoneRecords(_ zone: DNSName, each: (ResourceRecord) throws -> Void) async throws {
        try await transfer(zone: zone, each: each)
    }

    public func serial(of zone: DNSName) async throws -> UInt32 {
        let answer = try await query(zone, type: .soa)
        guard let serial = Self.serial(in: answer.answers) else { throw DNSError.malformedResponse(.truncated("the zone's SOA")) }
        return serial
    }

    public func changes(of zone: DNSName, since serial: UInt32) async throws -> ZoneTransfer? {
        do {
            return try await transfer(zone: zone, fromSerial: serial)
        } catch DNSError.refused, DNSError.notAuth, DNSError.notImplemented {
            return nil
        } catch DNSError.tsig(.responseNotSigned) {
            return nil
        }
    }

    /// The serial of the first SOA among `records` (an answer's, or a negative answer's authority
    /// section), for transports that read serials from answers.
    public static func serial(in records: [ResourceRecord]) -> UInt32? {
        for record in records { if case .soa(let soa) = record.rdata { return soa.serial } }
        return nil
    }
}

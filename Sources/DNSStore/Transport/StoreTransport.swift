import DNSClient
import DNSWire

/// How the store reaches one DNS server: it sends a DNS message and reads the answers. `DNSClient`
/// provides it over the network, `LocalTransport` in-process; anything else that answers the same
/// messages can stand in, and a wrapper (one that counts, say) forwards the one requirement and
/// loses nothing. Lookups, UPDATEs, serials and transfers are derived from it once, below.
public protocol StoreTransport: Sendable {
    /// Sends `request` and hands `each` every message of its answer in order, whatever its RCODE:
    /// one message for a query or an UPDATE; for a zone transfer (AXFR, IXFR), each message until
    /// the transfer is complete or a message carries an error RCODE. `overTCP` asks for TCP from
    /// the start (a transfer always uses it). A transport that signs requests also checks the
    /// answers' signatures.
    ///
    /// Throws when no usable answer came: `DNSError.timeout`, `.connection` (nothing reached a
    /// server), `.unanswered` (an UPDATE went out and no answer came back; it may have been
    /// applied), `.malformedResponse`, `.tsig`, `.incompleteTransfer`.
    func send(_ request: Message, overTCP: Bool, each: (Message) throws -> Void) async throws

    /// Releases what the transport holds (sockets, an engine's files). Called by a store that
    /// owns its transport when the store shuts down; nothing is sent after. By default nothing.
    func shutdown() async
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
    /// Nothing to release.
    public func shutdown() async {}

    /// The one answer to a query or an UPDATE, whatever its RCODE.
    public func answer(to request: Message, overTCP: Bool = false) async throws -> Message {
        var answer: Message?
        try await send(request, overTCP: overTCP) { if answer == nil { answer = $0 } }
        guard let answer else { throw DNSError.timeout }
        return answer
    }

    /// The TXT RDATA at `name` (an empty array when the name or its TXT RRset does not exist),
    /// and for a negative answer the zone serial in its SOA. RCODEs other than NOERROR and
    /// NXDOMAIN are thrown as their `DNSError`.
    public func lookup(_ name: DNSName, overTCP: Bool = false) async throws -> TXTLookup {
        let answer = try await answer(to: Message.query(name, type: .txt), overTCP: overTCP)
        guard answer.rcode == .noError || answer.rcode == .nxDomain else { throw DNSError.of(answer) }
        let records = answer.answers.filter { $0.type == .txt && $0.name == name }.map(\.rdata)
        return TXTLookup(records: records, serial: records.isEmpty ? Self.serial(in: answer.authority) : nil)
    }

    /// Sends an UPDATE; every RCODE but NOERROR is thrown as its `DNSError` (a failed
    /// prerequisite as NXRRSET, YXRRSET, NXDOMAIN or YXDOMAIN, and nothing changed).
    public func apply(_ update: UpdateBuilder) async throws {
        let answer = try await answer(to: update.message())
        if answer.rcode != .noError { throw DNSError.of(answer) }
    }

    /// The zone's current serial, from its SOA.
    public func serial(of zone: DNSName) async throws -> UInt32 {
        let answer = try await answer(to: Message.query(zone, type: .soa))
        if answer.rcode != .noError { throw DNSError.of(answer) }
        guard let serial = Self.serial(in: answer.answers) else { throw DNSError.malformedResponse(.truncated("the zone's SOA")) }
        return serial
    }

    /// Every record of `zone` (AXFR), each handed to `each` as it arrives: memory holds one message.
    public func zoneRecords(_ zone: DNSName, each: (ResourceRecord) throws -> Void) async throws {
        try await transfer(Message.query(zone, type: .axfr, payloadSize: nil)) { try $0.answers.forEach(each) }
    }

    /// Every record of `zone` (AXFR), for checks that must see names no index lists.
    public func zoneRecords(_ zone: DNSName) async throws -> [ResourceRecord] {
        var records: [ResourceRecord] = []
        try await zoneRecords(zone) { records.append($0) }
        return records
    }

    /// The changes of `zone` since `serial` (IXFR, RFC 1995), or the whole zone when the server
    /// sends that instead; nil when the server does not transfer to us (REFUSED, NOTAUTH, NOTIMP,
    /// or an unsigned answer to a signed request).
    public func changes(of zone: DNSName, since serial: UInt32) async throws -> ZoneTransfer? {
        var request = Message.query(zone, type: .ixfr, payloadSize: nil)
        let soa = SOA(mname: .root, rname: .root, serial: serial, refresh: 0, retry: 0, expire: 0, minimum: 0)
        request.authority = [ResourceRecord(name: zone, type: .soa, ttl: 0, rdata: .soa(soa))]
        var transfer = ZoneTransfer(records: [], messageCount: 0, isIncremental: false)
        do {
            try await self.transfer(request) { message in
                transfer.messageCount += 1
                transfer.records += message.answers
            }
        } catch DNSError.refused, DNSError.notAuth, DNSError.notImplemented, DNSError.tsig(.responseNotSigned) {
            return nil
        }
        transfer.isIncremental = transfer.records.count > 1 && transfer.records[1].type == .soa
        return transfer
    }

    /// The messages of a transfer, an error RCODE in any of them thrown as its `DNSError`.
    private func transfer(_ request: Message, each: (Message) throws -> Void) async throws {
        try await send(request, overTCP: true) { message in
            if message.rcode != .noError { throw DNSError.of(message) }
            try each(message)
        }
    }

    /// The serial of the first SOA among `records` (an answer's, or a negative answer's authority
    /// section).
    public static func serial(in records: [ResourceRecord]) -> UInt32? {
        for record in records { if case .soa(let soa) = record.rdata { return soa.serial } }
        return nil
    }
}

extension DNSError {
    /// The error an answer's RCODE stands for; SERVFAIL for one with none.
    static func of(_ answer: Message) -> DNSError { DNSError(rcode: answer.rcode) ?? .serverFailure }
}

extension DNSClient: StoreTransport {
    /// Queries and UPDATEs go through `send(_:overTCP:)` (retries, server order, TSIG); a query
    /// that asks for EDNS advertises this client's payload size. Transfers go through
    /// `transfer(_:each:)` on a connection of their own.
    public func send(_ request: Message, overTCP: Bool, each: (Message) throws -> Void) async throws {
        switch request.questions.first?.type {
        case .axfr?, .ixfr?:
            try await transfer(request, each: each)
        default:
            var request = request
            if request.edns != nil, request.opcode == .query { request.edns?.udpPayloadSize = configuration.payloadSize }
            try each(try await send(request, overTCP: overTCP))
        }
    }
}

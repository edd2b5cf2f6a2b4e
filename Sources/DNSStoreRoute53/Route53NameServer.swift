import DNSClient
import DNSStore
import DNSWire

/// A read server for a store in a Route 53 hosted zone: one of the zone's name servers (or a
/// resolver in front of them), asked over DNS. Route 53 keeps the SOA serial of a zone fixed, so
/// this transport answers a query for the zone's SOA with the serial of the zone's serial record
/// (`_dnsstore-serial.<zone>`, which every write through ``Route53Transport`` moves) as this server
/// has it: `watch` and serial-based checks see how far the server has come. Every other query is
/// the server's own answer. Reads through it are what `session` and `any` allow (docs/CONSISTENCY.md):
/// a `session` read that finds the server behind what the store object wrote or read is asked of
/// the API instead.
public final class Route53NameServer: StoreTransport {
    public let server: any StoreTransport
    public let zone: DNSName
    let serialName: DNSName

    /// `server` is a DNS client for the name server (unsigned: the name servers answer anyone).
    public init(_ server: any StoreTransport, zone: DNSName) throws {
        self.server = server
        self.zone = zone
        serialName = try zone.prepending("_dnsstore-serial")
    }

    public func send(_ request: Message, overTCP: Bool, each: (Message) throws -> Void) async throws {
        guard request.opcode == .query, let question = request.questions.first, question.type == .soa, question.name == zone else {
            return try await server.send(request, overTCP: overTCP, each: each)
        }
        async let serial = server.lookup(serialName, overTCP: overTCP)
        var answers: [Message] = []
        try await server.send(request, overTCP: overTCP) { answers.append($0) }
        let number = try await serial.records.first.map(Self.serialNumber) ?? 0
        for var answer in answers {
            answer.answers = answer.answers.map { Self.withSerial($0, number) }
            answer.authority = answer.authority.map { Self.withSerial($0, number) }
            try each(answer)
        }
    }

    public func shutdown() async { await server.shutdown() }

    /// The number at the start of the serial record's text ("7 token"); 0 if none.
    static func serialNumber(_ rdata: RData) -> UInt32 {
        guard case .txt(let txt) = rdata, let first = txt.strings.first else { return 0 }
        return UInt32(String(decoding: first.prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)) ?? 0
    }

    private static func withSerial(_ record: ResourceRecord, _ serial: UInt32) -> ResourceRecord {
        guard case .soa(var soa) = record.rdata else { return record }
        var record = record
        soa.serial = serial
        record.rdata = .soa(soa)
        return record
    }
}

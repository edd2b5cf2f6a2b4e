import DNSClient
import DNSWire

/// How the store reaches DNS: queries and updates as DNS messages. `DNSClient` provides it over
/// the network; anything else that answers the same messages can stand in.
public protocol StoreTransport: Sendable {
    /// The TXT RDATA at `name`; an empty array when the name or its TXT RRset does not exist.
    func txt(at name: DNSName, overTCP: Bool) async throws -> [RData]
    /// Sends an UPDATE; throws `DNSError` for any RCODE but NOERROR.
    func apply(_ update: UpdateBuilder) async throws
    /// Every record of `zone` (a zone transfer), for checks that must see names no index lists.
    func zoneRecords(_ zone: DNSName) async throws -> [ResourceRecord]
}

extension DNSClient: StoreTransport {
    public func txt(at name: DNSName, overTCP: Bool) async throws -> [RData] {
        do {
            let answer = try await query(name, type: .txt, overTCP: overTCP)
            return answer.answers.filter { $0.type == .txt && $0.name == name }.map(\.rdata)
        } catch DNSError.nxDomain {
            return []
        }
    }

    public func apply(_ update: UpdateBuilder) async throws {
        try await self.update(update)
    }

    public func zoneRecords(_ zone: DNSName) async throws -> [ResourceRecord] {
        try await transfer(zone: zone).records
    }
}

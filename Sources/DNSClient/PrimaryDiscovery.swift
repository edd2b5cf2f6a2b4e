import DNSWire
import NIOCore

/// Finds a zone's primary the way nsupdate does: the MNAME of its SOA, and that name's address,
/// asked of a server that has the zone.
public enum PrimaryDiscovery {
    /// The primary's address (port 53), asking `servers` in turn.
    public static func primary(of zone: DNSName, asking servers: [SocketAddress], timeout: Double = 2) async throws -> SocketAddress {
        var lastError: any Error = DNSError.timeout
        for server in servers {
            var config = DNSClientConfiguration(servers: [server])
            config.timeout = .milliseconds(Int(timeout * 1000))
            config.attempts = 2
            let client = DNSClient(configuration: config)
            defer { Task { await client.shutdown() } }
            do {
                let answer = try await client.query(zone, type: .soa)
                guard case .soa(let soa)? = answer.answers.first(where: { $0.type == .soa })?.rdata else { continue }
                for type in [RRType.a, .aaaa] {
                    let addresses = (try? await client.records(soa.mname, type: type)) ?? []
                    for record in addresses {
                        switch record.rdata {
                        case .a(let address): return try SocketAddress(ipAddress: address.description, port: 53)
                        case .aaaa(let address): return try SocketAddress(ipAddress: address.description, port: 53)
                        default: continue
                        }
                    }
                }
                lastError = DNSError.connection("the SOA of \(zone) names \(soa.mname) as its primary, which has no address at \(server.display); pass --primary")
            } catch {
                lastError = error
            }
        }
        throw lastError
    }
}

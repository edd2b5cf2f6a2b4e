import ArgumentParser
import DNSClient
import DNSStore
import DNSStoreRoute53
import DNSWire
import Foundation
import NIOCore

/// `dnsstore status`: the cluster as this client's configuration names it. Each primary and read
/// server is asked for the zone's SOA (its serial, and how long it took to answer) and, with a
/// key, whether it transfers the zone to that key; each read server's lag is counted in serials
/// behind the newest primary; then the store's databases and collections.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the primaries and read servers, their serials and lag, and the store's databases.",
        discussion: """
            JSON by default, --table for people. Exit 6 when a server the configuration names does not answer, \
            11 when a read server is more than --max-lag serials behind the newest primary.
            Example: dnsstore status --primary 10.0.0.1 --read-server 10.0.0.2 --read-server 10.0.0.3 --domain example.com --table
            """)

    @Option(parsing: .unconditional, help: "Serials a read server may be behind before the status fails (default 0).") var maxLag: Int = 0
    @Flag(help: "A table instead of JSON.") var table = false
    @OptionGroup var store: StoreOptions

    func validate() throws {
        guard maxLag >= 0 else { throw ValidationError("--max-lag must be 0 or more, not \(maxLag)") }
    }

    struct ServerStatus: Codable {
        var server: String
        var role: String
        var serial: UInt32?
        var behind: Int?
        var answerMilliseconds: Double?
        /// Whether the server transfers the zone to the configured key (nil: no key, or no answer).
        var transfers: Bool?
        var error: String?
    }

    struct DatabaseStatus: Codable {
        var name: String
        var collections: [String]
    }

    struct Status: Codable {
        var zone: String
        var healthy: Bool
        var servers: [ServerStatus]
        var databases: [DatabaseStatus]?
        var storeError: String?
    }

    func run() async throws {
        try await report(store) {
            let settings = try store.settings()
            let zone = settings.zone ?? settings.domain
            var named: [(SocketAddress, String)] = []
            if settings.primaries.isEmpty, let server = settings.server { named.append((server, "primary")) }
            named += settings.primaries.map { ($0, "primary") }
            named += settings.readServers.map { ($0, "read") }
            var servers: [ServerStatus] = []
            if let hostedZone = settings.route53Zone {
                // A store in Route 53: its serial is the serial record's, through the API, and
                // as each of the zone's name servers has it.
                let api = try settings.route53Transport(hostedZone)
                servers.append(await Self.look(through: api, name: "route53:\(hostedZone)", role: "primary", zone: zone))
                for address in settings.readServers {
                    let nameServer = try Route53NameServer(DNSClient(configuration: settings.readClient(address)), zone: zone)
                    servers.append(await Self.look(through: nameServer, name: address.display, role: "read", zone: zone))
                }
            } else {
                for (address, role) in named {
                    servers.append(await Self.look(at: address, role: role, zone: zone, settings: settings))
                }
            }
            let newest = servers.filter { $0.role == "primary" }.compactMap(\.serial).max { SOA.serial($0, isBefore: $1) }
            for i in servers.indices {
                if let serial = servers[i].serial, let newest {
                    servers[i].behind = SOA.serial(serial, isBefore: newest) ? Int(newest &- serial) : 0
                }
            }
            var status = Status(zone: zone.description, healthy: true, servers: servers)
            do {
                let opened = try await store.openStore()
                var databases: [DatabaseStatus] = []
                for name in try await opened.databases() {
                    databases.append(DatabaseStatus(name: name, collections: try await opened.database(name).collections()))
                }
                status.databases = databases
            } catch {
                status.storeError = Failure(error, options: store)?.message ?? "\(error)"
            }
            let unreachable = servers.contains { $0.serial == nil }
            let lagging = servers.contains { ($0.behind ?? 0) > maxLag }
            status.healthy = !unreachable && !lagging && status.storeError == nil
            print(table ? Self.table(status) : try Output.value(status, compact: store.compact))
            if unreachable { throw ExitCode(ExitCodes.unreachable) }
            if lagging { throw ExitCode(ExitCodes.behind) }
        }
    }

    /// One server: its SOA serial and answer time, and whether it transfers to the key.
    static func look(at address: SocketAddress, role: String, zone: DNSName, settings: Settings) async -> ServerStatus {
        var status = ServerStatus(server: address.display, role: role)
        var config = settings.client(address)
        config.health = nil
        let client = DNSClient(configuration: config)
        defer { Task { await client.shutdown() } }
        let asked = ContinuousClock.now
        do {
            let answer = try await client.query(zone, type: .soa)
            status.answerMilliseconds = milliseconds(since: asked)
            status.serial = (answer.answers + answer.authority).lazy.compactMap { record -> UInt32? in
                if case .soa(let soa) = record.rdata { return soa.serial }
                return nil
            }.first
            if status.serial == nil { status.error = "no SOA for \(zone) (\(answer.rcode))" }
        } catch {
            status.error = "\(error)"
            return status
        }
        if settings.key != nil, let serial = status.serial {
            do {
                _ = try await client.transfer(zone: zone, fromSerial: serial)
                status.transfers = true
            } catch DNSError.refused, DNSError.notAuth {
                status.transfers = false
            } catch {
                status.transfers = nil
            }
        }
        return status
    }

    /// A server reached through a store transport: its serial (``StoreTransport/serial(of:)``)
    /// and how long that took.
    static func look(through transport: any StoreTransport, name: String, role: String, zone: DNSName) async -> ServerStatus {
        var status = ServerStatus(server: name, role: role)
        defer { Task { await transport.shutdown() } }
        let asked = ContinuousClock.now
        do {
            status.serial = try await transport.serial(of: zone)
            status.answerMilliseconds = milliseconds(since: asked)
        } catch {
            status.error = Failure(error, options: nil)?.message ?? "\(error)"
        }
        return status
    }

    /// Milliseconds since `start`, to the microsecond.
    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let took = ContinuousClock.now - start
        return ((Double(took.components.seconds) * 1000 + Double(took.components.attoseconds) / 1e15) * 1000).rounded() / 1000
    }

    static func table(_ status: Status) -> String {
        var lines = ["zone \(status.zone): \(status.healthy ? "healthy" : "NOT healthy")", ""]
        let header = ["server", "role", "serial", "behind", "answer ms", "transfers", "state"]
        var rows: [[String]] = [header]
        for server in status.servers {
            rows.append([
                server.server, server.role, server.serial.map(String.init) ?? "-", server.behind.map(String.init) ?? "-",
                server.answerMilliseconds.map { String(format: "%.1f", $0) } ?? "-",
                server.transfers.map { $0 ? "yes" : "no" } ?? "-",
                server.error.map { "unreachable: \($0)" } ?? ((server.behind ?? 0) > 0 ? "behind" : "current"),
            ])
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            lines.append(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
        lines.append("")
        if let error = status.storeError {
            lines.append("store: \(error)")
        } else {
            for database in status.databases ?? [] {
                lines.append("database \(database.name): \(database.collections.isEmpty ? "no collections" : database.collections.joined(separator: ", "))")
            }
        }
        return lines.joined(separator: "\n")
    }
}

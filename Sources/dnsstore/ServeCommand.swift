import DNSClient
import ArgumentParser
import DNSServer
import DNSStore
import DNSStoreEmbedded
import DNSWire
import Foundation
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle

/// `dnsstore serve`: the embedded authoritative server on the network.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the store's zones over DNS (UDP and TCP), accepting signed UPDATEs.",
        discussion: """
            Zones live in DIR/zones.sqlite. Without --key, the key in DIR/tsig.key is used, generated on first \
            start. Every key in the key files is accepted; --allow KEY=SUBTREE limits a key's UPDATEs to names at \
            or below the subtrees named for it (repeat it for several), while a key given no --allow may change \
            its whole zone. BIND and Knot secondaries can replicate with AXFR/IXFR signed by a key; --notify \
            tells them of each change. The server deletes the documents of leases that lapsed in the stores under \
            its zones (_dnsstore.ZONE) itself, as 'dnsstore reap' does for other servers (--no-reap: it does not), \
            and honours RFC 9664's UPDATE-LEASE on UPDATEs.
            Example: dnsstore serve --data ./dnsstore-data --zone example.test --listen 127.0.0.1:5353 \
            --key admin.key --key app.key --allow app-key=app._dnsstore.example.test
            """)

    @Option(help: "The data directory.") var data: String = "dnsstore-data"
    @Option(help: "Where zones live: postgresql://USER@HOST:PORT[,HOST:PORT…]/DATABASE, shared by every serve given it; with several hosts, the one that takes writes, followed through a failover (default: DIR/zones.sqlite; env DNSSTORE_STORAGE).")
    var storage: String?
    @Option(help: "A zone to serve (repeatable).") var zone: [String] = []
    @Option(help: "Address and port to listen on, UDP and TCP.") var listen: String = "127.0.0.1:5353"
    @Option(help: "TSIG key file in BIND's format, all its keys accepted (repeatable).") var key: [String] = []
    @Option(help: "KEY=SUBTREE: the key named KEY may change names at or below SUBTREE only (repeatable).") var allow: [String] = []
    @Option(help: "A secondary to NOTIFY of changes, as ADDRESS:PORT (repeatable).") var notify: [String] = []
    @Option(help: "Seconds to wait before sending NOTIFY, merging the changes meanwhile.") var notifyDelay: Double = 0
    @Flag(help: "Accept unsigned UPDATEs and transfers (only for trusted networks).") var allowUnsigned = false
    @Flag(help: "Flush each UPDATE to disk before answering (survives power loss; slower).") var fsync = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String = "info"
    @Option(help: "Log format: text, or json (one object a line with stable keys).") var logFormat: String = "text"
    @Option(help: "Serve Prometheus metrics at http://ADDRESS:PORT/metrics (for example 127.0.0.1:9153).") var metrics: String?
    @Option(help: "TCP connections open at once; when all are taken the longest idle is closed (default: 256, or 4 per --notify secondary when that is more).")
    var maxTCPConnections: Int?
    @Option(help: "Seconds a TCP connection may sit idle.") var tcpIdleTimeout: Double = 30
    @Option(help: "Seconds a TCP message may take to arrive, from its first octet to its last.") var tcpMessageTimeout: Double = 10
    @Option(help: "Seconds a TCP client may leave its answers unread before it is cut off.") var tcpStallTimeout: Double = 20
    @Option(help: "UPDATEs queued or being applied at once; more are shed before any work.") var maxPendingUpdates = 64
    @Option(help: "Zone transfers waiting or running at once; more are answered SERVFAIL (logged). Allow one per secondary at least (default: 256, or 4 per --notify secondary when that is more).")
    var maxPendingTransfers: Int?
    @Option(name: .customLong("max-records-per-rrset"), help: "Records one RRset may hold.") var maxRecordsPerRRset = 1_000
    @Option(name: .customLong("prepared-answers-mib"), help: "MiB of answers kept as sent for queries asked again (0: none).") var preparedAnswersMiB = 16
    @Option(name: .customLong("journal-mib"), help: "MiB of history each zone's journal keeps for IXFR (default: a quarter of the zone, at least 0.5).")
    var journalMiB: Double?
    @Option(name: .customLong("journal-days"), help: "Days of history each zone's journal keeps for IXFR.") var journalDays: Double = 7
    @Flag(help: "Do not delete the documents of lapsed leases (leave it to 'dnsstore reap').") var noReap = false
    @Option(parsing: .unconditional, help: "How far apart the clocks of the cluster may be, in seconds: a lapsed lease is reaped this long after its deadline (default 1).")
    var clockSkew: Double = 1
    @Flag(help: "Check the data (every page of the file, every zone's SOA and NS) and exit: 0 when sound, 1 when not.") var check = false
    @Option(help: "Write every record that can still be read, as a zone file per zone, to FILE and exit; list what cannot.") var salvage: String?

    /// Bounds that grow with the secondaries told of changes: every one of them may ask for a
    /// transfer over a connection of its own at the same moment, and one refused fetches the
    /// whole zone (Knot) or waits for its retry timer.
    var tcpConnectionLimit: Int { maxTCPConnections ?? boundForSecondaries }
    var transferLimit: Int { maxPendingTransfers ?? boundForSecondaries }
    private var boundForSecondaries: Int { max(256, 4 * notify.count) }

    func validate() throws {
        guard (0...3600).contains(notifyDelay) else { throw ValidationError("--notify-delay must be 0 to 3600 seconds, not \(notifyDelay)") }
        guard (0...3600).contains(clockSkew) else { throw ValidationError("--clock-skew must be 0 to 3600 seconds, not \(clockSkew)") }
        for (name, value) in [("--tcp-idle-timeout", tcpIdleTimeout), ("--tcp-message-timeout", tcpMessageTimeout), ("--tcp-stall-timeout", tcpStallTimeout)]
        where !(value > 0 && value <= 3600) {
            throw ValidationError("\(name) must be above 0 and at most 3600 seconds, not \(value)")
        }
        if let journalMiB, !(journalMiB > 0 && journalMiB <= 1_048_576) {
            throw ValidationError("--journal-mib must be above 0 and at most 1048576, not \(journalMiB)")
        }
        guard journalDays > 0 && journalDays <= 3650 else { throw ValidationError("--journal-days must be above 0 and at most 3650, not \(journalDays)") }
        for (name, value) in [("--max-tcp-connections", tcpConnectionLimit), ("--max-pending-updates", maxPendingUpdates),
                             ("--max-pending-transfers", transferLimit), ("--max-records-per-rrset", maxRecordsPerRRset)]
        where !(1...1_000_000).contains(value) {
            throw ValidationError("\(name) must be 1 to 1000000, not \(value)")
        }
    }

    func run() async throws {
        try await report { try await serve() }
    }

    private func serve() async throws {
        switch logFormat {
        case "text": break
        case "json": LoggingSystem.bootstrap { JSONLogHandler(label: $0) }
        default: throw CLIError.invalidInput("--log-format is text or json, not '\(logFormat)'")
        }
        var logger = Logger(label: "dnsstore.serve")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        // Metrics are created from here on (the engine's, per zone, per secondary): the backend
        // goes in first, or they would all be no-ops.
        let metricsAddress = try metrics.map(ServerAddress.cli)
        let registry = metricsAddress.map { _ in Self.bootstrapMetrics() }
        let zones = try (zone.isEmpty ? ["dnsstore.localhost."] : zone).map(parseName)
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let keys = try loadOrCreateKeys(logger: logger)
        var config = AuthorityConfiguration(zones: zones, keys: keys)
        config.updateSubtrees = try subtrees(keys: keys, zones: zones)
        for (name, subtrees) in config.updateSubtrees.sorted(by: { $0.key < $1.key }) {
            logger.info("key limited to subtrees", metadata: ["key": "\(name)", "subtrees": "\(subtrees.map(\.description).joined(separator: " "))"])
        }
        config.notify = try notify.map(ServerAddress.cli)
        config.notifyDelay = .milliseconds(Int64(notifyDelay * 1000))
        config.requireSignedUpdates = !allowUnsigned
        config.requireSignedTransfers = !allowUnsigned
        config.syncEveryCommit = fsync
        config.maxPendingUpdates = maxPendingUpdates
        config.maxPendingTransfers = transferLimit
        config.maxRecordsPerRRset = maxRecordsPerRRset
        config.preparedAnswerOctets = max(0, preparedAnswersMiB) << 20
        config.journalMaxOctets = journalMiB.map { Int($0 * 1_048_576) }
        config.journalMaxAge = Int(journalDays * 86_400)
        let storageURL = storage ?? ProcessInfo.processInfo.environment["DNSSTORE_STORAGE"].flatMap { $0.isEmpty ? nil : $0 }
        let databasePath = storageURL.map(Self.redacted) ?? (data as NSString).appendingPathComponent("zones.sqlite")
        if let salvage {
            guard storageURL == nil else { throw ValidationError("--salvage reads a SQLite file; PostgreSQL keeps its own") }
            return try salvageZones(zones, from: databasePath, to: salvage, configuration: config)
        }
        let authority: Authority
        if let storageURL {
            authority = try Self.postgresAuthority(storageURL, configuration: config, logger: logger)
        } else {
            authority = try Authority(databasePath: databasePath, configuration: config, logger: logger)
        }
        // A damaged file is refused before it is served: a quick look at every page at start,
        // a thorough one with --check. The quick look reads the whole file, so a large one is
        // looked at while the server already answers (see StorageCheckService).
        let checkAtStart = check || Self.fileSize(databasePath) < Self.checkBeforeServingBelow
        let problems = checkAtStart ? try authority.checkStorage(thorough: check) : []
        if check {
            for problem in problems { print(problem) }
            print(problems.isEmpty ? "\(databasePath): sound; zones \(zones.map(\.description).joined(separator: " ")) have their SOA and NS" : "\(databasePath): damaged")
            if !problems.isEmpty { throw ExitCode(ExitCodes.failed) }
            return
        }
        guard problems.isEmpty else {
            throw AuthorityError.storage(
                "refusing to serve \(databasePath): " + problems.prefix(5).joined(separator: "; ")
                    + "; 'dnsstore serve --salvage FILE' saves what can still be read")
        }
        let address = try ServerAddress.cli(listen)
        var limits = NetworkServer.Limits()
        limits.maxTCPConnections = tcpConnectionLimit
        limits.tcp.idleTimeout = .milliseconds(Int64(tcpIdleTimeout * 1000))
        limits.tcp.messageDeadline = .milliseconds(Int64(tcpMessageTimeout * 1000))
        limits.tcp.stallTimeout = .milliseconds(Int64(tcpStallTimeout * 1000))
        limits.tcp.tick = .milliseconds(Int64(min(1, tcpIdleTimeout, tcpMessageTimeout, tcpStallTimeout) * 250))
        let server = try await NetworkServer.start(
            authority, host: address.ipAddress ?? "127.0.0.1", port: address.port ?? 5353, limits: limits)
        logger.info(
            "serving",
            metadata: [
                "zones": "\(zones.map(\.description).joined(separator: " "))", "listen": "\(server.localAddress.map { "\($0)" } ?? listen)",
                "data": "\(data)", "secondaries": "\(notify.count)", "max tcp connections": "\(tcpConnectionLimit)",
                "max pending transfers": "\(transferLimit)",
            ])
        var services = [ServiceGroupConfiguration.ServiceConfiguration(service: ServerService(server: server, logger: logger))]
        if let registry, let metricsAddress {
            let endpoint = try await MetricsEndpoint.start(
                registry: registry, host: metricsAddress.ipAddress ?? "127.0.0.1", port: metricsAddress.port ?? 9153,
                group: MultiThreadedEventLoopGroup.singleton)
            logger.info("metrics", metadata: ["url": "http://\(endpoint.localAddress.map { "\($0.ipAddress ?? ""):\($0.port ?? 0)" } ?? "")/metrics"])
            services.append(.init(service: MetricsService(endpoint: endpoint)))
        }
        if !noReap {
            // The store under each zone, reached in this process: its lapsed leases are deleted here.
            let reaperLogger = logger
            let reapers = try zones.map { zone -> LeaseReaper in
                var configuration = StoreConfiguration(domain: zone)
                configuration.leaseClockSkew = .milliseconds(Int(clockSkew * 1000))
                let store = try DocumentStore(configuration: configuration, transport: LocalTransport(authority: authority))
                return LeaseReaper(store: store) { lease, documents in
                    reaperLogger.info("lease lapsed; deleted with its documents", metadata: ["lease": "\(lease)", "documents": "\(documents)"])
                }
            }
            services.append(.init(service: ReaperService(reapers: reapers, logger: logger), successTerminationBehavior: .ignore))
        }
        if !checkAtStart {
            services.append(.init(
                service: StorageCheckService(authority: authority, path: databasePath, logger: logger),
                successTerminationBehavior: .ignore, failureTerminationBehavior: .gracefullyShutdownGroup))
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// Installs Prometheus as the process's metrics backend; returns where its metrics are kept.
    /// Durations get buckets from 100 µs (an UPDATE on SQLite takes a fraction of a millisecond)
    /// to 10 s.
    static func bootstrapMetrics() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5),
            .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
            .seconds(1), .seconds(2), .seconds(5), .seconds(10),
        ]
        MetricsSystem.bootstrap(factory)
        return registry
    }

    /// The engine on PostgreSQL, when this build has it.
    static func postgresAuthority(_ url: String, configuration: AuthorityConfiguration, logger: Logger) throws -> Authority {
        do {
            _ = try PostgresURL(url)
        } catch {
            throw ValidationError("--storage: \(error)")
        }
        #if PostgreSQL
            return try Authority(postgresURL: url, configuration: configuration, logger: logger)
        #else
            throw ValidationError("this dnsstore was built without PostgreSQL storage; build it with 'swift build --traits PostgreSQL'")
        #endif
    }

    /// A storage URL with any password replaced, fit for messages and logs.
    static func redacted(_ url: String) -> String { StorageURL.redacted(url) }

    /// Files smaller than this (about a tenth of a second of reading) are checked before the
    /// first query is answered; larger ones while serving.
    static let checkBeforeServingBelow: UInt64 = 64 << 20

    static func fileSize(_ path: String) -> UInt64 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.uint64Value ?? 0
    }

    /// Writes what can be read of each zone as a master file (RFC 1035 section 5), and says on
    /// standard error what could not. Opens the file without creating zones or checking them.
    private func salvageZones(_ zones: [DNSName], from path: String, to output: String, configuration: AuthorityConfiguration) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw CLIError.invalidInput("\(path) does not exist") }
        var text = ""
        var damagedCount = 0
        let authority = try Authority(databasePath: path, configuration: configuration, checkingZones: false)
        for zone in zones {
            let (records, damaged) = try authority.salvage(zone)
            text += "; zone \(zone): \(records.count) records read, \(damaged.count) could not be\n$ORIGIN .\n"
            for record in records { text += record.description + "\n" }
            for problem in damaged { FileHandle.standardError.write(Data("dnsstore: \(problem)\n".utf8)) }
            damagedCount += damaged.count
        }
        guard FileManager.default.createFile(atPath: output, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw CLIError.invalidInput("cannot write \(output)")
        }
        print("salvaged \(zones.count) zone(s) into \(output); \(damagedCount) record(s) could not be read")
    }

    /// `--allow KEY=SUBTREE` gathered per key; each key must be loaded and each subtree in a served zone.
    private func subtrees(keys: [TSIGKey], zones: [DNSName]) throws -> [DNSName: [DNSName]] {
        var result: [DNSName: [DNSName]] = [:]
        for rule in allow {
            guard let eq = rule.firstIndex(of: "="), eq != rule.startIndex, rule.index(after: eq) != rule.endIndex else {
                throw ValidationError("--allow takes KEY=SUBTREE, not '\(rule)'")
            }
            let name = try parseName(String(rule[..<eq]))
            let subtree = try parseName(String(rule[rule.index(after: eq)...]))
            guard keys.contains(where: { $0.name == name }) else {
                throw ValidationError("--allow names the key \(name), which no key file holds")
            }
            guard zones.contains(where: { subtree.isSubdomain(of: $0) }) else {
                throw ValidationError("--allow gives \(name) the subtree \(subtree), which is in no zone served")
            }
            result[name, default: []].append(subtree)
        }
        return result
    }

    private func loadOrCreateKeys(logger: Logger) throws -> [TSIGKey] {
        if !key.isEmpty {
            var keys: [TSIGKey] = []
            for path in key {
                guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("the key file \(path) does not exist") }
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                    throw ValidationError("cannot read the key file \(path)")
                }
                keys += try TSIGKey.parseBINDKeyFile(text)
            }
            return keys
        }
        let path = (data as NSString).appendingPathComponent("tsig.key")
        if FileManager.default.fileExists(atPath: path) {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("cannot read the key file \(path)")
            }
            return try TSIGKey.parseBINDKeyFile(text)
        }
        let generated = TSIGKey.generate(name: "dnsstore-key.")
        try SecretFile.create(path, generated.bindKeyFile)
        logger.notice("generated a TSIG key", metadata: ["file": "\(path)", "name": "\(generated.name)"])
        FileHandle.standardError.write(Data("dnsstore: generated a TSIG key in \(path); writers need it\n".utf8))
        return [generated]
    }
}

/// Keeps the server up until a shutdown signal, then closes its sockets.
struct ServerService: Service {
    let server: NetworkServer
    let logger: Logger

    func run() async throws {
        try? await gracefulShutdown()
        logger.info("shutting down")
        await server.close()
    }
}

/// The reapers of the stores under the served zones, until shutdown.
struct ReaperService: Service {
    let reapers: [LeaseReaper]
    let logger: Logger

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            for reaper in reapers {
                group.addTask {
                    do {
                        try await cancelWhenGracefulShutdown { try await reaper.run() }
                    } catch is CancellationError {
                    } catch {
                        logger.error("the lease reaper stopped", metadata: ["error": "\(error)"])
                    }
                }
            }
        }
    }
}

/// The start-up look at every page of a large data file, run while the server answers: damage
/// found stops the server, with the same message a small file gets before it is served.
struct StorageCheckService: Service {
    let authority: Authority
    let path: String
    let logger: Logger

    func run() async throws {
        let started = ContinuousClock.now
        let problems = try await NIOThreadPool.singleton.runIfActive { try authority.checkStorage(thorough: false) }
        guard problems.isEmpty else {
            logger.error("data file damaged; stopping", metadata: ["data": "\(path)"])
            throw AuthorityError.storage(
                "refusing to serve \(path): " + problems.prefix(5).joined(separator: "; ")
                    + "; 'dnsstore serve --salvage FILE' saves what can still be read")
        }
        logger.info("data file checked", metadata: ["data": "\(path)", "seconds": "\(started.duration(to: .now))"])
    }
}

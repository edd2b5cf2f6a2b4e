// A service that registers itself in a DNSStore collection under a lease, watches the
// collection, and deregisters when it is told to stop (SIGTERM or SIGINT): the store and the
// registration are two services of one ServiceLifecycle group.
//
// Configured as the `dnsstore` command line is (DNSSTORE_SERVER, DNSSTORE_DOMAIN,
// DNSSTORE_KEY_FILE, ... or ./dnsstore.json; the embedded store with none), plus:
//   REGISTRAR_NAME        the name registered (default: the host name)
//   REGISTRAR_COLLECTION  where, as database/collection (default: cluster/nodes)
// Prints one line of JSON per event on standard output.
import DNSStore
import DNSStoreEmbedded
import Foundation
import Logging
import ServiceLifecycle

struct Node: Codable, Sendable {
    var name: String
    var pid: Int32
    var started: Date
}

/// Registers `name` under a lease kept alive while it runs, prints the collection's changes,
/// and on graceful shutdown revokes the lease, which takes the registration with it.
struct Registration: Service {
    let store: DocumentStore
    let nodes: DocumentCollection
    let name: String
    let logger: Logger

    func run() async throws {
        let lease = try await store.grant(ttl: 10)
        try await nodes.put(name, Node(name: name, pid: ProcessInfo.processInfo.processIdentifier, started: Date()), lease: lease)
        logger.info("registered", metadata: ["name": "\(name)", "lease": "\(lease.id)"])
        emit(["event": "registered", "name": name, "lease": lease.id])
        let keeper = store.keepAlive(lease)
        let watcher = Task {
            for try await change in nodes.watch() {
                emit(["event": "\(change.operation)", "id": change.id, "version": "\(change.version)"])
            }
        }
        try? await gracefulShutdown()
        keeper.cancel()
        watcher.cancel()
        _ = try await store.revoke(lease.id)
        emit(["event": "deregistered", "name": name])
    }

    func emit(_ fields: [String: String]) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let line = try? encoder.encode(fields) else { return }
        FileHandle.standardOutput.write(line + Data("\n".utf8))
    }
}

@main
enum Registrar {
    static func main() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "registrar")
        logger.logLevel = .info
        let environment = ProcessInfo.processInfo.environment
        var configuration = StoreConfiguration(domain: "dnsstore.localhost.")
        configuration.logger = logger
        configuration.createIfMissing = true
        let store = try DocumentStore.fromEnvironment(environment, configuration: configuration)
        let place = (environment["REGISTRAR_COLLECTION"] ?? "cluster/nodes").split(separator: "/").map(String.init)
        guard place.count == 2 else {
            logger.error("REGISTRAR_COLLECTION must be database/collection")
            exit(2)
        }
        let nodes = store.database(place[0]).collection(place[1])
        let name = environment["REGISTRAR_NAME"] ?? ProcessInfo.processInfo.hostName
        let registration = Registration(store: store, nodes: nodes, name: name, logger: logger)
        // Shut down in reverse order: the registration first, then the store it uses.
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: store), .init(service: registration)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

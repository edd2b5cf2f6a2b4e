import DNSTestSupport
import DNSWire
import Foundation

/// The cluster's hosts and what runs on them:
///
/// - `p1` our primary of `a.test` (SQLite), NOTIFYing `b1` (BIND 9) and `k1` (Knot), its
///   secondaries, which ask it again on their own at least every minute;
/// - `db` PostgreSQL, with `f1` and `f2` our front ends of `b.test` on it;
/// - `c1`, `c2`, `c3` the clients.
///
/// Every server listens on port 53 of its host's own address; the hosts are network namespaces
/// made for the run (`TestNetwork`), deleted at its end.
final class Cluster: @unchecked Sendable {
    static let hostNames = ["p1", "b1", "k1", "db", "f1", "f2", "c1", "c2", "c3"]
    static let clients = ["c1", "c2", "c3"]
    let network: TestNetwork
    let folder: URL
    let binary: String
    let key: TSIGKey
    let keyFile: String
    private(set) var primary: ServerProcess?
    private(set) var bind: SecondaryServer?
    private(set) var knot: SecondaryServer?
    private(set) var postgres: PostgresServer?
    private(set) var frontEnds: [String: ServerProcess] = [:]
    private var primaryArguments: [String] = []

    init(network: TestNetwork, folder: URL, binary: String) throws {
        self.network = network
        self.folder = folder
        self.binary = binary
        key = TSIGKey.generate(name: "dnsstore-key.")
        keyFile = folder.appendingPathComponent("tsig.key").path
        try key.bindKeyFile.write(toFile: keyFile, atomically: true, encoding: .utf8)
        chmod(keyFile, 0o600)
    }

    func address(_ host: String) -> String { network[host].address }

    func start() async throws {
        let p1 = folder.appendingPathComponent("p1")
        try FileManager.default.createDirectory(at: p1, withIntermediateDirectories: true)
        primaryArguments = [
            "serve", "--data", p1.path, "--zone", "a.test", "--listen", "\(address("p1")):53", "--key", keyFile,
            "--notify", "\(address("b1")):53", "--notify", "\(address("k1")):53", "--log-level", "notice",
        ]
        try await startPrimary()
        bind = try await SecondaryServer.start(
            .bind, port: 53, zone: "a.test.", primaryPort: 53, key: key, host: network["b1"], primary: address("p1"), boundedStaleness: true)
        knot = try await SecondaryServer.start(
            .knot, port: 53, zone: "a.test.", primaryPort: 53, key: key, host: network["k1"], primary: address("p1"), boundedStaleness: true)
        postgres = try await PostgresServer.start(host: network["db"], port: 5432)
        for name in ["f1", "f2"] { try await startFrontEnd(name) }
    }

    func startPrimary() async throws {
        primary = try await ServerProcess.launch(
            binary, primaryArguments, in: folder, logName: "p1-\(Date().timeIntervalSince1970).log", port: 53, host: network["p1"])
    }

    func startFrontEnd(_ name: String) async throws {
        let data = folder.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        frontEnds[name] = try await ServerProcess.launch(
            binary,
            ["serve", "--data", data.path, "--storage", postgres!.url, "--zone", "b.test", "--listen", "\(address(name)):53",
             "--key", keyFile, "--log-level", "notice"],
            in: folder, logName: "\(name)-\(Date().timeIntervalSince1970).log", port: 53, host: network[name])
    }

    /// The store flags of a client of `a.test` at `consistency` (reads from the secondaries).
    func flagsA(_ consistency: String) -> [String] {
        ["--primary", "\(address("p1")):53", "--read-server", "\(address("b1")):53", "--read-server", "\(address("k1")):53",
         "--domain", "a.test", "--key", keyFile, "--consistency", consistency, "--timeout", "1", "--attempts", "2"]
    }

    /// The store flags of a client of `b.test`: both front ends as primaries, in turn.
    func flagsB() -> [String] {
        ["--primary", "\(address("f1")):53", "--primary", "\(address("f2")):53", "--domain", "b.test", "--key", keyFile,
         "--consistency", "latest", "--timeout", "1", "--attempts", "2"]
    }

    /// The SOA serial of `zone` on `server` as `from` sees it, or nil without an answer.
    func serial(of zone: String, on server: String, from: String = "c1") async -> UInt32? {
        let result = try? await network[from].run("dig", ["+short", "+time=1", "+tries=1", "@\(address(server))", "-p", "53", zone, "SOA"])
        guard let fields = result?.stdout.split(separator: " "), fields.count >= 3 else { return nil }
        return UInt32(fields[2])
    }

    func stop() async {
        // Their logs stay in the run's folder (halt, not stop, which would remove it).
        primary?.halt()
        bind?.stop()
        knot?.stop()
        for frontEnd in frontEnds.values { frontEnd.halt() }
        postgres?.stop()
    }
}

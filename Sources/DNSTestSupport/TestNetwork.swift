import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A host of a `TestNetwork`: a network namespace of its own with one address on the network, or
/// this machine's loopback.
public struct TestHost: Sendable, Hashable {
    public let name: String
    /// Nil for loopback (programs run as they are).
    public let namespace: String?
    public let address: String

    public static let loopback = TestHost(name: "loopback", namespace: nil, address: "127.0.0.1")

    /// `executable` and `arguments` as they run on this host: inside its namespace by `ip netns
    /// exec`, which execs the program, so the PID started is the program's own.
    public func command(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        guard let namespace else { return (executable, arguments) }
        return ("ip", ["netns", "exec", namespace, executable] + arguments)
    }

    /// Runs a program on this host and waits for it.
    public func run(_ executable: String, _ arguments: [String]) async throws -> Subprocess.Result {
        let (program, args) = command(executable, arguments)
        return try await Subprocess.run(program, args)
    }

    /// Starts a program on this host in the background, its output to `logFile`.
    public func start(_ executable: String, _ arguments: [String], logFile: String) throws -> ChildProcess {
        let (program, args) = command(executable, arguments)
        return try Subprocess.start(program, args, logFile: logFile)
    }

    /// Whether a TCP connection from this host to `address`:`port` is accepted within a second.
    public func canConnect(to address: String, port: Int) async -> Bool {
        guard namespace != nil else { return address == "127.0.0.1" && Ports.canConnect(port) }
        let result = try? await run("timeout", ["1", "bash", "-c", "exec 3<>/dev/tcp/\(address)/\(port)"])
        return result?.status == 0
    }
}

/// Hosts in network namespaces made for one test, on one bridge (in a namespace of its own), with
/// addresses of a private /24 that exist only inside them: nothing reaches this machine's own
/// network. A host is cut from all others by taking its bridge port down. Every namespace is
/// deleted by `destroy` (call it also when the test fails: namespaces outlive their maker).
public final class TestNetwork: @unchecked Sendable {
    public let prefix: String
    public let hosts: [String: TestHost]
    private let ports: [String: String]
    private var made: [String]

    private init(prefix: String, hosts: [String: TestHost], ports: [String: String], made: [String]) {
        self.prefix = prefix
        self.hosts = hosts
        self.ports = ports
        self.made = made
    }

    /// Whether namespaces can be made here (root with the `ip` tool).
    public static var isAvailable: Bool { getuid() == 0 && Subprocess.isAvailable("ip") }

    /// Makes a namespace per name in `names`, addressed `subnet`.1, .2, ... in order.
    public static func create(_ names: [String], subnet: String = "10.99.0", prefix: String = "dns\(getpid() % 100_000)") async throws -> TestNetwork {
        var made: [String] = []
        func ip(_ arguments: [String]) async throws {
            let result = try await Subprocess.run("ip", arguments)
            guard result.status == 0 else { throw SubprocessError.failed("ip \(arguments.joined(separator: " "))", result) }
        }
        let bridge = "\(prefix)-br"
        var hosts: [String: TestHost] = [:]
        var ports: [String: String] = [:]
        do {
            try await ip(["netns", "add", bridge])
            made.append(bridge)
            try await ip(["-n", bridge, "link", "add", "br0", "type", "bridge"])
            try await ip(["-n", bridge, "link", "set", "br0", "up"])
            for (i, name) in names.enumerated() {
                let namespace = "\(prefix)-\(name)"
                let address = "\(subnet).\(i + 1)"
                let port = "p\(i + 1)"
                try await ip(["netns", "add", namespace])
                made.append(namespace)
                try await ip(["-n", namespace, "link", "set", "lo", "up"])
                try await ip(["-n", namespace, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", bridge])
                try await ip(["-n", namespace, "addr", "add", "\(address)/24", "dev", "eth0"])
                try await ip(["-n", namespace, "link", "set", "eth0", "up"])
                try await ip(["-n", bridge, "link", "set", port, "master", "br0"])
                try await ip(["-n", bridge, "link", "set", port, "up"])
                hosts[name] = TestHost(name: name, namespace: namespace, address: address)
                ports[name] = port
            }
        } catch {
            for namespace in made { _ = try? await Subprocess.run("ip", ["netns", "del", namespace]) }
            throw error
        }
        return TestNetwork(prefix: prefix, hosts: hosts, ports: ports, made: made)
    }

    public subscript(_ name: String) -> TestHost { hosts[name]! }

    /// Cuts `host` from every other host (its bridge port down): a partition.
    public func cut(_ host: String) async throws { try await link(host, "down") }

    /// Joins it again.
    public func heal(_ host: String) async throws { try await link(host, "up") }

    private func link(_ host: String, _ state: String) async throws {
        let result = try await Subprocess.run("ip", ["-n", "\(prefix)-br", "link", "set", ports[host]!, state])
        guard result.status == 0 else { throw SubprocessError.failed("ip link set \(ports[host]!) \(state)", result) }
    }

    /// Deletes every namespace it made (with their links).
    public func destroy() async {
        for namespace in made.reversed() { _ = try? await Subprocess.run("ip", ["netns", "del", namespace]) }
        made = []
    }
}

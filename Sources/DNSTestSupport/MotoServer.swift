import Foundation

/// moto's server (PyPI `moto[server]`): the AWS APIs, Route 53 among them, as a process on a free
/// loopback port in a temp folder, holding everything in memory. Any credentials are accepted.
public final class MotoServer: Sendable {
    public let port: Int
    private let running: ServerProcess

    private init(port: Int, running: ServerProcess) {
        self.port = port
        self.running = running
    }

    /// Whether moto's server can be started here (scripts/install-deps installs it).
    public static var isAvailable: Bool {
        guard let python = try? Subprocess.locate("python3") else { return false }
        let check = Process()
        check.executableURL = URL(fileURLWithPath: python)
        check.arguments = ["-c", "import moto.server"]
        check.standardOutput = FileHandle.nullDevice
        check.standardError = FileHandle.nullDevice
        guard (try? check.run()) != nil else { return false }
        check.waitUntilExit()
        return check.terminationStatus == 0
    }

    public static func start() async throws -> MotoServer {
        try TestMode.requireExternal("moto's server")
        let python = try Subprocess.locate("python3")
        let dir = try TempDirectory.make("moto")
        let port = Ports.free()
        let running = try await ServerProcess.launch(
            python, ["-c", launcher, "-H", "127.0.0.1", "-p", "\(port)"], in: dir, logName: "moto.log", port: port)
        return MotoServer(port: port, running: running)
    }

    /// moto's server with one check of its own turned off: it refuses a CREATE that repeats an
    /// earlier identical change whenever any record set sorts after the name (not only one at
    /// it), so a set deleted and created again with the same values is refused in a zone with
    /// later names. `Route53Double`'s proxy checks CREATE as AWS does, against the current sets.
    static let launcher = """
        import sys
        try:
            from moto.route53.models import ChangeList
            ChangeList.__contains__ = lambda self, value: False
        except ImportError:
            pass
        from moto.server import main
        main(sys.argv[1:])
        """

    /// The endpoint to give a Route 53 client.
    public var endpoint: URL { URL(string: "http://127.0.0.1:\(port)")! }

    public var log: String { running.log }

    public func stop() { running.stop() }
}

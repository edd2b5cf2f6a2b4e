import Foundation

/// A real PostgreSQL server, a new cluster in a temp folder on a free loopback port (trust
/// authentication, for loopback tests only), stopped by its PID. PostgreSQL refuses to run as
/// root: under root the cluster belongs to the `postgres` user the Debian package creates.
public final class PostgresServer: @unchecked Sendable {
    public let directory: URL
    public let port: Int
    public let host: TestHost
    private var running: ServerProcess
    private let command: (String, [String])

    private init(directory: URL, port: Int, host: TestHost, running: ServerProcess, command: (String, [String])) {
        self.directory = directory
        self.port = port
        self.host = host
        self.running = running
        self.command = command
    }

    /// The folder of PostgreSQL's programs (initdb, postgres), newest version first; nil when
    /// PostgreSQL is not installed.
    public static var binaries: String? {
        let base = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
        return versions.compactMap(Int.init).sorted().last.map { "\(base)/\($0)/bin" }
    }

    public static var isAvailable: Bool { TestMode.externalServers && binaries != nil }

    /// The URL a client connects with.
    public var url: String { "postgresql://postgres@\(host.address):\(port)/postgres" }

    /// Starts a cluster on `host` (by default loopback, on a free port); on a host of a
    /// `TestNetwork`, clients on its network are trusted as loopback ones are.
    public static func start(host: TestHost = .loopback, port: Int? = nil) async throws -> PostgresServer {
        try await launch(host: host, port: port) { data, run in
            let made = try await run("initdb", ["-D", data.path, "-A", "trust", "-U", "postgres", "--no-sync"])
            guard made.status == 0 else { throw SubprocessError.failed("initdb", made) }
            if host.namespace != nil {
                let hba = data.appendingPathComponent("pg_hba.conf")
                let network = host.address.split(separator: ".").prefix(3).joined(separator: ".") + ".0/24"
                let handle = try FileHandle(forWritingTo: hba)
                handle.seekToEndOfFile()
                handle.write(Data("host all all \(network) trust\n".utf8))
                try handle.close()
            }
        }
    }

    /// A streaming standby of this server on loopback: a base backup (`pg_basebackup -R`, which
    /// makes it a standby that follows this one) started on a free port of its own. It answers
    /// reads and refuses writes until promoted.
    public func startStandby() async throws -> PostgresServer {
        let primary = self
        // Its port opens before it takes connections ("the database system is starting up").
        guard try await Poll.until(within: .seconds(30), every: .milliseconds(100), { (try? await primary.sql("SELECT 1")) == "1" }) else {
            throw SubprocessError.notReady("PostgreSQL on port \(port) does not take connections")
        }
        return try await Self.launch(host: .loopback, port: nil) { data, run in
            let copied = try await run(
                "pg_basebackup",
                ["-h", primary.host.address, "-p", "\(primary.port)", "-U", "postgres", "-D", data.path, "-R", "-X", "stream", "--no-sync"])
            guard copied.status == 0 else { throw SubprocessError.failed("pg_basebackup", copied) }
        }
    }

    /// A new server in a temp folder: `prepare` fills its data folder (running PostgreSQL's
    /// programs as the server's user), then the server starts on it.
    private static func launch(
        host: TestHost, port: Int?,
        prepare: (URL, (String, [String]) async throws -> Subprocess.Result) async throws -> Void
    ) async throws -> PostgresServer {
        try TestMode.requireExternal("PostgreSQL")
        guard let bin = binaries else { throw SubprocessError.notFound("PostgreSQL (/usr/lib/postgresql/*/bin)") }
        let dir = try TempDirectory.make("postgres")
        let data = dir.appendingPathComponent("db")
        let port = port ?? Ports.free()
        // As root: the postgres user owns the folder and runs the programs (setpriv execs, so the
        // PID started is the server's own).
        let prefix: [String]
        if getuid() == 0 {
            try FileManager.default.setAttributes([.ownerAccountName: "postgres"], ofItemAtPath: dir.path)
            prefix = ["--reuid=postgres", "--regid=postgres", "--init-groups"]
        } else {
            prefix = []
        }
        func command(_ program: String, _ arguments: [String]) -> (String, [String]) {
            prefix.isEmpty ? ("\(bin)/\(program)", arguments) : ("setpriv", prefix + ["\(bin)/\(program)"] + arguments)
        }
        do {
            try await prepare(data) { program, arguments in
                let (executable, args) = command(program, arguments)
                return try await Subprocess.run(executable, args)
            }
        } catch {
            try? FileManager.default.removeItem(at: dir)
            throw error
        }
        let (postgres, args) = command(
            "postgres",
            ["-D", data.path, "-p", "\(port)", "-k", dir.path, "-c", "listen_addresses=\(host.address)", "-c", "fsync=off",
             "-c", "max_connections=200"])
        // The log goes in a file the server's user can write.
        let running = try await ServerProcess.launch(postgres, args, in: dir, logName: "postgres.log", port: port, host: host)
        return PostgresServer(directory: dir, port: port, host: host, running: running, command: (postgres, args))
    }

    /// The URL of a primary and its standbys, as front ends that follow a failover take it.
    public static func url(of servers: [PostgresServer]) -> String {
        let hosts = servers.map { "\($0.host.address):\($0.port)" }.joined(separator: ",")
        return "postgresql://postgres@\(hosts)/postgres?target_session_attrs=read-write"
    }

    /// Runs one SQL statement with psql and returns its output (unaligned, tuples only).
    @discardableResult
    public func sql(_ statement: String) async throws -> String {
        guard let bin = Self.binaries else { throw SubprocessError.notFound("psql") }
        let result = try await Subprocess.run(
            "\(bin)/psql", ["-h", host.address, "-p", "\(port)", "-U", "postgres", "-d", "postgres", "-Atc", statement])
        guard result.status == 0 else { throw SubprocessError.failed("psql -c '\(statement)'", result) }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Makes every commit wait until a standby has it (`synchronous_standby_names = '*'`), once one
    /// streams from this server: then no commit a client saw acknowledged is lost with this machine.
    public func requireSynchronousStandby(within limit: Duration = .seconds(30)) async throws {
        let streaming = try await Poll.until(within: limit, every: .milliseconds(100)) {
            (try? await self.sql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")) == "1"
        }
        guard streaming else { throw SubprocessError.notReady("no standby streams from PostgreSQL on port \(port)") }
        try await sql("ALTER SYSTEM SET synchronous_standby_names = '*'")
        try await sql("SELECT pg_reload_conf()")
        let synchronous = try await Poll.until(within: limit, every: .milliseconds(100)) {
            (try? await self.sql("SELECT sync_state FROM pg_stat_replication")) == "sync"
        }
        guard synchronous else { throw SubprocessError.notReady("the standby of PostgreSQL on port \(port) did not become synchronous") }
    }

    /// Promotes a standby to primary and returns once it takes writes.
    public func promote() async throws {
        try await sql("SELECT pg_promote(true, 60)")
    }

    /// The server and every backend killed at once with SIGKILL, as when its machine dies: no
    /// shutdown, nothing more written.
    public func killMachine() { signalAll(SIGKILL) }

    /// Stops the server (a fast shutdown), keeping its data, as an outage would.
    public func halt() {
        running.signal(SIGINT)
        running.halt()
    }

    /// Freezes the server and every process it started (SIGSTOP): connections stay open and
    /// nothing answers, as when its machine stalls or the network to it drops packets.
    public func freeze() { signalAll(SIGSTOP) }

    /// Lets a frozen server go on (SIGCONT).
    public func thaw() { signalAll(SIGCONT) }

    /// The postmaster and its children (the backends of open connections), read from /proc.
    private func signalAll(_ signal: Int32) {
        let postmaster = running.pid
        var pids = [postmaster]
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == postmaster { pids.append(pid) }
        }
        for pid in pids { kill(pid, signal) }
    }

    /// Starts it again on the same data and port.
    public func resume() async throws {
        running = try await ServerProcess.launch(command.0, command.1, in: directory, logName: "postgres-again.log", port: port, host: host)
    }

    public var log: String { running.log }

    /// A fast shutdown (SIGINT: sessions ended, no waiting for clients), then the folder removed.
    public func stop() {
        running.signal(SIGINT)
        running.stop()
    }
}

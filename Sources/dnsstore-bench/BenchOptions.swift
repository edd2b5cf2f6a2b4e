import Foundation

/// The benchmark's options, read once from the command line before anything starts: a mistyped
/// mode or flag, or a flag without its value, used to run the whole default benchmark for
/// minutes or stop it on an index out of range.
struct BenchOptions: Sendable {
    /// The benchmark to run; nil runs the client table and then the others (see `usage`).
    var mode: String?
    var seconds: Double = 5
    var rounds = 3
    var updatesOnly = false
    var maxDocuments = 1_000_000
    var profile: String?
    var smoke = false
    /// fanout: how many secondaries, in turn.
    var secondaries = [10, 30, 60]
    var nioExecutor = false
    /// The store benchmark's own child process: the port and key secret of the server to read.
    var measureGet: (port: Int, secret: String)?

    static let usage = """
        usage: dnsstore-bench [client|servers|store|growth|privacy|replication|postgres|leases|fanout|route53|indexes] [options]
          (no mode)             the client table, then servers, store, privacy, replication, leases, fanout, route53 and indexes
          --seconds N           seconds per measured case (default 5; fanout: at least 10)
          --rounds N            servers: rounds, each server in turn (default 3)
          --updates-only        servers: the update columns alone, against BIND 9
          --max-documents N     growth, indexes: the largest collection grown (default 1000000)
          --profile udp|tcp     client: only our concurrent client, for a profiler to watch
          --secondaries N,N     fanout: the numbers of secondaries, in turn (default 10,30,60)
          --smoke               every case once, briefly: checks that the benchmark runs
          --nio-executor        run tasks on SwiftNIO's event loops as the global executor
          -h, --help            this text
        """

    static let modes: Set<String> = ["client", "servers", "store", "growth", "privacy", "replication", "postgres", "leases", "fanout", "route53", "indexes"]

    /// Why a command line cannot be run.
    struct Problem: Error {
        var message: String
    }

    /// Reads `arguments` (the program's name left out).
    init(parsing arguments: [String]) throws(Problem) {
        var rest = arguments[...]
        func value(of option: String) throws(Problem) -> String {
            guard let value = rest.popFirst() else { throw Problem(message: "\(option) needs a value") }
            return value
        }
        /// A value above zero, as `read` makes it of the option's text.
        func positive<N: Comparable & ExpressibleByIntegerLiteral>(
            of option: String, _ read: (String) -> N?
        ) throws(Problem) -> N {
            let text = try value(of: option)
            guard let n = read(text), n > 0 else { throw Problem(message: "\(option) does not take '\(text)'") }
            return n
        }
        while let argument = rest.popFirst() {
            switch argument {
            case _ where Self.modes.contains(argument):
                if let mode { throw Problem(message: "two modes given: \(mode) and \(argument)") }
                mode = argument
            case "--smoke": smoke = true
            case "--updates-only": updatesOnly = true
            case "--nio-executor": nioExecutor = true
            case "--seconds": seconds = try positive(of: argument) { Double($0).flatMap { $0.isFinite ? $0 : nil } }
            case "--rounds": rounds = try positive(of: argument) { Int($0) }
            case "--max-documents": maxDocuments = try positive(of: argument) { Int($0) }
            case "--secondaries":
                let text = try value(of: argument)
                let counts = text.split(separator: ",").compactMap { Int($0) }.filter { (1...200).contains($0) }
                guard !counts.isEmpty, counts.count == text.split(separator: ",", omittingEmptySubsequences: false).count else {
                    throw Problem(message: "--secondaries takes numbers from 1 to 200 separated by commas, not '\(text)'")
                }
                secondaries = counts
            case "--profile":
                let text = try value(of: argument)
                guard text == "udp" || text == "tcp" else { throw Problem(message: "--profile does not take '\(text)'") }
                profile = text
            case "--measure-get":
                guard let port = rest.popFirst().flatMap({ Int($0) }), let secret = rest.popFirst() else {
                    throw Problem(message: "--measure-get needs a port and a secret")
                }
                measureGet = (port, secret)
            default:
                throw Problem(message: "unknown argument '\(argument)'")
            }
        }
        if smoke {
            seconds = 0.3
            rounds = 1
        }
    }

    /// The options of this process's command line. Prints the usage and exits for `--help`;
    /// names the problem and exits 2 for a command line that cannot be run.
    static func fromCommandLine() -> BenchOptions {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.contains("--help") || arguments.contains("-h") {
            print(usage)
            exit(0)
        }
        do {
            return try BenchOptions(parsing: arguments)
        } catch {
            FileHandle.standardError.write(Data("dnsstore-bench: \(error.message)\n\(usage)\n".utf8))
            exit(2)
        }
    }
}

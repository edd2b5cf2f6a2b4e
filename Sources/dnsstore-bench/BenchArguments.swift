import Foundation

/// The command line, checked before anything starts: a mistyped mode or flag, or a flag without
/// its value, used to run the whole default benchmark for minutes or stop it on an index out of range.
enum BenchArguments {
    static let usage = """
        usage: dnsstore-bench [client|servers|store|growth|privacy|replication|postgres] [options]
          (no mode)             the client table, then servers, store, privacy and replication
          --seconds N           seconds per measured case (default 5)
          --rounds N            servers: rounds, each server in turn (default 3)
          --updates-only        servers: the update columns alone, against BIND 9
          --max-documents N     growth: the largest collection grown (default 1000000)
          --profile udp|tcp     client: only our concurrent client, for a profiler to watch
          --smoke               every case once, briefly: checks that the benchmark runs
          --nio-executor        run tasks on SwiftNIO's event loops as the global executor
          -h, --help            this text
        """

    static let modes: Set<String> = ["client", "servers", "store", "growth", "privacy", "replication", "postgres"]
    static let switches: Set<String> = ["--smoke", "--updates-only", "--nio-executor"]
    /// Options with one value, and what the value must be.
    static let valued: [String: @Sendable (String) -> Bool] = [
        "--seconds": { Double($0).map { $0 > 0 && $0.isFinite } ?? false },
        "--rounds": { (Int($0) ?? 0) > 0 },
        "--max-documents": { (Int($0) ?? 0) > 0 },
        "--profile": { $0 == "udp" || $0 == "tcp" },
    ]

    /// Why `arguments` (the program's name left out) cannot be run, or nil when they can.
    static func problem(_ arguments: [String]) -> String? {
        var mode: String?
        var i = 0
        while i < arguments.count {
            let argument = arguments[i]
            defer { i += 1 }
            if modes.contains(argument) {
                if let mode { return "two modes given: \(mode) and \(argument)" }
                mode = argument
            } else if switches.contains(argument) {
                continue
            } else if let valid = valued[argument] {
                guard i + 1 < arguments.count else { return "\(argument) needs a value" }
                i += 1
                guard valid(arguments[i]) else { return "\(argument) does not take '\(arguments[i])'" }
            } else if argument == "--measure-get" {
                // The store benchmark's own child process: a port and a secret.
                guard i + 2 < arguments.count, Int(arguments[i + 1]) != nil else { return "--measure-get needs a port and a secret" }
                i += 2
            } else {
                return "unknown argument '\(argument)'"
            }
        }
        return nil
    }

    /// Prints the usage and exits for `--help`; names the problem and exits 2 for arguments that
    /// cannot be run.
    static func check(_ arguments: [String]) {
        if arguments.contains("--help") || arguments.contains("-h") {
            print(usage)
            exit(0)
        }
        if let problem = problem(arguments) {
            FileHandle.standardError.write(Data("dnsstore-bench: \(problem)\n\(usage)\n".utf8))
            exit(2)
        }
    }
}

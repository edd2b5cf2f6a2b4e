import ArgumentParser
import DNSClient
import DNSServer
import DNSStore
import DNSWire
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

enum CLIError: Error, CustomStringConvertible {
    case invalidInput(String)
    var description: String {
        switch self {
        case .invalidInput(let why): return why
        }
    }
}

/// Exit codes a script can tell apart.
enum ExitCodes {
    static let failed: Int32 = 1
    static let invalidInput: Int32 = 2
    static let notFound: Int32 = 3
    static let conflict: Int32 = 4
    static let unauthorized: Int32 = 5
    static let unreachable: Int32 = 6
    /// An UPDATE was sent and no answer came: it may have been applied.
    static let outcomeUnknown: Int32 = 7
    /// The server answered SERVFAIL: nothing was applied.
    static let serverFailure: Int32 = 8
    /// Stored data that does not follow docs/FORMAT.md: damaged, forged or rolled back.
    static let corrupted: Int32 = 9
    /// A lease was lost while held: not renewed in time, revoked or reaped (`lease keepalive`,
    /// `lock ... -- COMMAND`, whose command is stopped).
    static let leaseLost: Int32 = 10
    /// `status`: a read server is further behind the primary than `--max-lag` allows.
    static let behind: Int32 = 11

    /// A code's name, as `dnsstore shell` reports it beside the number.
    static func name(_ code: Int32) -> String {
        switch code {
        case invalidInput: return "invalidInput"
        case notFound: return "notFound"
        case conflict: return "conflict"
        case unauthorized: return "unauthorized"
        case unreachable: return "unreachable"
        case outcomeUnknown: return "outcomeUnknown"
        case serverFailure: return "serverFailure"
        case corrupted: return "corrupted"
        case leaseLost: return "leaseLost"
        case behind: return "behind"
        default: return "failed"
        }
    }
}

enum Output {
    static var isTerminal: Bool { isatty(STDOUT_FILENO) != 0 }
    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) != 0 }

    /// JSON text: indented on a terminal, as stored in a pipe or with --compact. Member order and
    /// number spelling are kept either way.
    static func json(_ bytes: [UInt8], compact: Bool) -> String {
        guard !compact, isTerminal, let pretty = JSONText.pretty(bytes) else { return String(decoding: bytes, as: UTF8.self) }
        return String(decoding: pretty, as: UTF8.self)
    }

    static func value<T: Encodable>(_ value: T, compact: Bool) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = (!compact && isTerminal) ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Names as a JSON array, or one per line in a table on a terminal when asked.
    static func list(_ names: [String], header: String, table: Bool, compact: Bool) throws -> String {
        guard table else { return try value(names, compact: compact) }
        let width = max(header.count, names.map(\.count).max() ?? 0)
        var lines = [header.padding(toLength: width, withPad: " ", startingAt: 0), String(repeating: "-", count: width)]
        lines += names
        lines.append("(\(names.count) \(names.count == 1 ? "row" : "rows"))")
        return lines.joined(separator: "\n")
    }

    /// A JSON array written to standard output an element at a time, so that a listing of any
    /// length holds one page in memory: compact in a pipe, indented on a terminal.
    final class ArrayWriter {
        private let pretty: Bool
        private(set) var count = 0

        init(compact: Bool) { pretty = !compact && Output.isTerminal }

        func append(_ element: [UInt8]) {
            var out = Array((count == 0 ? "[" : ",").utf8)
            if pretty, let indented = JSONText.pretty(element) {
                out += Array("\n  ".utf8)
                for byte in indented {
                    out.append(byte)
                    if byte == 0x0A { out += Array("  ".utf8) }
                }
            } else {
                out += element
            }
            FileHandle.standardOutput.write(Data(out))
            count += 1
        }

        func finish() {
            let end = count == 0 ? "[]\n" : (pretty ? "\n]\n" : "]\n")
            FileHandle.standardOutput.write(Data(end.utf8))
        }
    }

    /// One line on standard output, written at once (a long-running command's progress).
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static func error(_ message: String) {
        FileHandle.standardError.write(Data("dnsstore: \(message)\n".utf8))
    }
}

/// Runs a command body; a store, DNS or input error becomes one line on standard error naming
/// the problem and what to do, and a distinct exit code.
@discardableResult
func report<T>(_ options: StoreOptions? = nil, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch {
        guard let failure = Failure(error, options: options) else { throw error }
        Output.error(failure.message)
        throw ExitCode(failure.exitCode)
    }
}

/// An error as a command reports it: its message and its exit code (`ExitCodes`). The same for
/// a command run alone and for a request in `dnsstore shell`.
struct Failure {
    var exitCode: Int32
    var message: String

    init(exitCode: Int32, message: String) {
        self.exitCode = exitCode
        self.message = message
    }

    /// Nil for errors that are not the store's, the server's or the input's (the argument parser's
    /// own, `ExitCode`), which pass through.
    init?(_ error: any Error, options: StoreOptions?) {
        let patience = options.map { " (\($0.patience); --timeout and --attempts change it)" } ?? ""
        switch error {
        case let error as StoreError:
            exitCode = error.exitStatus
            message = error.description + (error.code == .timeout ? patience : "") + Failure.hint(for: error)
            if error.code == .unauthorized, let settings = try? options?.settings(), settings.route53Zone != nil {
                // Route 53 takes AWS credentials, not a TSIG key.
                message = "unauthorized: \(error.detail); check the AWS credentials and that they may use the hosted zone"
            } else if error.code == .unauthorized, let settings = try? options?.settings(), settings.key == nil {
                // The cause, rather than the key policy a refusal usually means.
                message = "unauthorized: \(error.detail); no TSIG key is configured, and the server accepts only signed writes (--key FILE, DNSSTORE_KEY_FILE or \"key\" in dnsstore.json)"
            }
            if error.code == .notFound, message.contains("no store at"), let settings = try? options?.settings(),
                settings.server == nil, settings.primaries.isEmpty, settings.readServers.isEmpty
            {
                // Said, so that a user who meant a server sees that none was configured.
                message += " (this is the embedded store in \(settings.dataDirectory): no server is configured; "
                    + "--server, DNSSTORE_SERVER or dnsstore.json names one)"
            }
        case let error as DNSError:
            let mapped = StoreError(error, context: nil)
            exitCode = mapped.exitStatus
            message = mapped.description + (mapped.code == .timeout ? patience : "")
        case let error as CLIError:
            (exitCode, message) = (ExitCodes.invalidInput, error.description)
        case let error as ValidationError:
            (exitCode, message) = (ExitCodes.invalidInput, error.message)
        case let error as TSIGError:
            (exitCode, message) = (ExitCodes.invalidInput, error.description)
        case let error as TSIGKeyError:
            (exitCode, message) = (ExitCodes.invalidInput, error.description)
        case let error as DNSWireError:
            (exitCode, message) = (ExitCodes.invalidInput, error.description)
        case let error as AuthorityError:
            (exitCode, message) = (ExitCodes.failed, error.description)
        default:
            return nil
        }
    }
}

extension Failure {
    /// What the command line adds to a store error: the flag that gives what was missing. The
    /// library's own words name no flag.
    static func hint(for error: StoreError) -> String {
        switch error.missing {
        case .encryptionKeys?: return " (--encryption-key FILE gives it; 'dnsstore keygen --encryption' makes one)"
        case .primary?: return " (give the primary with --primary, or primaries in dnsstore.json)"
        case nil: return ""
        }
    }
}

extension StoreOptions {
    /// How long a silent server is waited for, in words.
    var patience: String {
        let seconds = timeout == timeout.rounded() ? "\(Int(timeout)) s" : "\(timeout) s"
        return attempts == 1 ? "one try of \(seconds)" : "\(attempts) tries of \(seconds) each"
    }
}

/// A document from an argument: inline JSON, `@path` for a file, `-` for standard input.
func readDocument(_ argument: String) throws -> [UInt8] {
    if argument == "-" {
        return Array(FileHandle.standardInput.readDataToEndOfFile())
    }
    if argument.hasPrefix("@") {
        let path = String(argument.dropFirst())
        guard FileManager.default.fileExists(atPath: path) else {
            throw CLIError.invalidInput("the document file \(path) does not exist")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError.invalidInput("cannot read the document file \(path)")
        }
        return Array(data)
    }
    return Array(argument.utf8)
}

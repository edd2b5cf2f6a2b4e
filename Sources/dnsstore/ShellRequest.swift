import ArgumentParser
import DNSStore
import Foundation

/// One request to `dnsstore shell`, from either kind of line it reads:
///
/// - a JSON object: `{"op": "put", "path": "db/c/id", "doc": {...}, "ifVersion": 3, "id": 7}`;
/// - a command as on the command line, without `dnsstore` and the store's flags:
///   `put db/c/id {"n": 1} --lease 0f3c5e9a1b2d4c6e`.
///
/// Both name the same operations and the same fields; `ShellRequest.fields` lists them.
struct ShellRequest {
    /// The request's `id` member as JSON text, echoed in its answer; nil when it had none.
    var tag: [UInt8]?
    /// The operation: `get`, `put`, `db create`, `lease grant`, ...
    var op: String
    /// A document, collection or database path; a lock's or a lease's name for those operations.
    var path: String?
    /// A document's JSON text, as given.
    var doc: [UInt8]?
    var ifVersion: Int?
    var lease: String?
    var ttl: Int?
    var after: String?
    var limit: Int?
    /// `find`'s conditions, `path=value` each.
    var conditions: [String] = []
    var chunks: Int?
    var isPrivate = false
    var withVersion = false
    var holder: String?

    /// The fields a request may have, by their JSON names; a command line gives them as
    /// `--if-version`, `--with-version` and so on, `path` and `doc` (and a lease grant's `ttl`,
    /// `find`'s conditions) as arguments in that order.
    static let fields = ["op", "id", "path", "doc", "ifVersion", "lease", "ttl", "after", "limit", "conditions", "chunks", "private", "withVersion", "holder"]

    /// The operations, each with the arguments a command line gives in order.
    static let operations: [String: [String]] = [
        "get": ["path"], "put": ["path", "doc"], "insert": ["path", "doc"], "update": ["path", "doc"],
        "delete": ["path"], "list": ["path"], "find": ["path", "conditions..."],
        "db create": ["path"], "db list": [], "db drop": ["path"],
        "collection create": ["path"], "collection list": ["path"], "collection drop": ["path"],
        "lease grant": ["ttl"], "lease renew": ["lease"], "lease keepalive": ["lease"], "lease revoke": ["lease"],
        "lease show": ["lease"], "lock": ["path"], "unlock": ["path"], "help": [], "quit": [],
    ]

    /// Longest line read: a document at its largest (1 MiB), escaped, with room to spare.
    static let maxLineOctets = 8 << 20

    /// The request on `line`; an error names what is wrong with it.
    init(line: [UInt8]) throws {
        if line.first == UInt8(ascii: "{") {
            try self.init(json: line)
        } else {
            try self.init(words: ShellWords.split(line))
        }
        guard let arguments = Self.operations[op] else {
            throw CLIError.invalidInput("unknown operation '\(op)'; one of: \(Self.operations.keys.sorted().joined(separator: ", "))")
        }
        if arguments.contains("path"), path == nil { throw CLIError.invalidInput("'\(op)' needs a path") }
        if arguments.contains("doc"), doc == nil { throw CLIError.invalidInput("'\(op)' needs a document") }
        if arguments.contains("lease"), lease == nil { throw CLIError.invalidInput("'\(op)' needs a lease id") }
        if arguments.contains("ttl"), ttl == nil { throw CLIError.invalidInput("'\(op)' needs a time to live in seconds") }
        try validate()
    }

    private init(json line: [UInt8]) throws {
        op = ""
        let members: [(name: String, value: Range<Int>)]
        do {
            members = try JSONText.members(ofObject: line)
        } catch {
            throw CLIError.invalidInput("the line is not a JSON object: \(error)")
        }
        for (name, range) in members {
            let value = Array(line[range])
            func string() throws -> String {
                guard let text = JSONText.stringValue(line[range]) else { throw CLIError.invalidInput("\"\(name)\" must be a string") }
                return text
            }
            func integer() throws -> Int {
                guard let number = Int(String(decoding: value, as: UTF8.self)) else { throw CLIError.invalidInput("\"\(name)\" must be an integer") }
                return number
            }
            func flag() throws -> Bool {
                switch String(decoding: value, as: UTF8.self) {
                case "true": return true
                case "false": return false
                default: throw CLIError.invalidInput("\"\(name)\" must be true or false")
                }
            }
            switch name {
            case "op": op = try string()
            case "id": tag = value
            case "path": path = try string()
            case "doc": doc = value
            case "ifVersion": ifVersion = try integer()
            case "lease": lease = try string()
            case "ttl": ttl = try integer()
            case "after": after = try string()
            case "limit": limit = try integer()
            case "chunks": chunks = try integer()
            case "private": isPrivate = try flag()
            case "withVersion": withVersion = try flag()
            case "holder": holder = try string()
            case "conditions":
                guard let list = try? JSONSerialization.jsonObject(with: Data(value)) as? [String] else {
                    throw CLIError.invalidInput("\"conditions\" must be an array of strings path=value")
                }
                conditions = list
            default:
                throw CLIError.invalidInput("unknown member \"\(name)\"; a request has \(Self.fields.joined(separator: ", "))")
            }
        }
        guard !op.isEmpty else { throw CLIError.invalidInput("the request has no \"op\"") }
    }

    private init(words: [[UInt8]]) throws {
        op = ""
        var words = words[...]
        guard let first = words.popFirst().map({ String(decoding: $0, as: UTF8.self) }) else {
            throw CLIError.invalidInput("an empty line")
        }
        op = first
        if ["db", "collection", "lease"].contains(first) {
            guard let second = words.popFirst() else { throw CLIError.invalidInput("'\(first)' needs what to do: \(Self.verbs(of: first))") }
            op += " " + String(decoding: second, as: UTF8.self)
        }
        guard let arguments = Self.operations[op] else {
            throw CLIError.invalidInput("unknown operation '\(op)'; one of: \(Self.operations.keys.sorted().joined(separator: ", "))")
        }
        var positional: [[UInt8]] = []
        while let word = words.popFirst() {
            let text = String(decoding: word, as: UTF8.self)
            guard text.hasPrefix("--") else {
                positional.append(word)
                continue
            }
            func value() throws -> String {
                guard let next = words.popFirst() else { throw CLIError.invalidInput("\(text) needs a value") }
                return String(decoding: next, as: UTF8.self)
            }
            func integer() throws -> Int {
                let given = try value()
                guard let number = Int(given) else { throw CLIError.invalidInput("\(text) must be an integer, not '\(given)'") }
                return number
            }
            switch text {
            case "--if-version": ifVersion = try integer()
            case "--lease": lease = try value()
            case "--ttl": ttl = try integer()
            case "--after": after = try value()
            case "--limit": limit = try integer()
            case "--chunks": chunks = try integer()
            case "--holder": holder = try value()
            case "--private": isPrivate = true
            case "--with-version": withVersion = true
            default:
                throw CLIError.invalidInput("unknown flag \(text) for '\(op)'")
            }
        }
        for name in arguments {
            if name == "conditions..." {
                conditions = positional.map { String(decoding: $0, as: UTF8.self) }
                positional = []
                break
            }
            guard !positional.isEmpty else { break }
            let word = positional.removeFirst()
            switch name {
            case "path": path = String(decoding: word, as: UTF8.self)
            case "doc": doc = word
            case "lease": lease = String(decoding: word, as: UTF8.self)
            case "ttl":
                let given = String(decoding: word, as: UTF8.self)
                guard let seconds = Int(given) else { throw CLIError.invalidInput("a time to live is whole seconds, not '\(given)'") }
                ttl = seconds
            default: break
            }
        }
        if let extra = positional.first {
            throw CLIError.invalidInput("'\(op)' takes \(arguments.isEmpty ? "no arguments" : arguments.joined(separator: " ")); '\(String(decoding: extra, as: UTF8.self))' is one too many")
        }
    }

    private static func verbs(of noun: String) -> String {
        operations.keys.filter { $0.hasPrefix(noun + " ") }.map { String($0.dropFirst(noun.count + 1)) }.sorted().joined(separator: ", ")
    }

    /// The checks the command line makes of the same values.
    private func validate() throws {
        do {
            try ifVersion.map(requireVersion)
            try requireChunks(chunks)
            if let lease { try validateLease(lease) }
        } catch let error as ValidationError {
            throw CLIError.invalidInput(error.message)
        }
        if let ttl, !(1...Lease.maxTTL).contains(ttl) {
            throw CLIError.invalidInput("a lease lives 1 to \(Lease.maxTTL) seconds, not \(ttl)")
        }
        if let limit, limit < 0 { throw CLIError.invalidInput("limit must be 0 or more, not \(limit)") }
        if op == "update", ifVersion == nil { throw CLIError.invalidInput("'update' needs the version it replaces (ifVersion, --if-version)") }
        if ["lock", "unlock"].contains(op), lease == nil { throw CLIError.invalidInput("'\(op)' needs the lease that holds it (lease, --lease)") }
    }
}

/// The words of a command line as a shell would split it, simply: runs of non-blank characters;
/// '...' taken as it is; "..." with \" and \\ escapes; and a JSON object or array (a word that
/// starts with { or [) taken whole, up to its closing bracket, blanks and quotes included.
enum ShellWords {
    static func split(_ line: [UInt8]) throws -> [[UInt8]] {
        var words: [[UInt8]] = []
        var i = 0
        let blank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }
        while i < line.count {
            if blank(line[i]) {
                i += 1
                continue
            }
            switch line[i] {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                let end = try jsonEnd(line, from: i)
                words.append(Array(line[i..<end]))
                i = end
            case UInt8(ascii: "'"):
                guard let close = line[(i + 1)...].firstIndex(of: UInt8(ascii: "'")) else {
                    throw CLIError.invalidInput("a ' at column \(i + 1) is not closed")
                }
                words.append(Array(line[(i + 1)..<close]))
                i = close + 1
            case UInt8(ascii: "\""):
                var word: [UInt8] = []
                var j = i + 1
                while true {
                    guard j < line.count else { throw CLIError.invalidInput("a \" at column \(i + 1) is not closed") }
                    if line[j] == UInt8(ascii: "\\"), j + 1 < line.count, line[j + 1] == UInt8(ascii: "\"") || line[j + 1] == UInt8(ascii: "\\") {
                        word.append(line[j + 1])
                        j += 2
                    } else if line[j] == UInt8(ascii: "\"") {
                        break
                    } else {
                        word.append(line[j])
                        j += 1
                    }
                }
                words.append(word)
                i = j + 1
            default:
                var j = i
                while j < line.count, !blank(line[j]) { j += 1 }
                words.append(Array(line[i..<j]))
                i = j
            }
        }
        return words
    }

    /// Where the JSON object or array that starts at `start` ends (just past its closing bracket).
    private static func jsonEnd(_ line: [UInt8], from start: Int) throws -> Int {
        var depth = 0
        var inString = false
        var i = start
        while i < line.count {
            let c = line[i]
            if inString {
                if c == UInt8(ascii: "\\") {
                    i += 1
                } else if c == UInt8(ascii: "\"") {
                    inString = false
                }
            } else if c == UInt8(ascii: "\"") {
                inString = true
            } else if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                depth += 1
            } else if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                depth -= 1
                if depth == 0 { return i + 1 }
            }
            i += 1
        }
        throw CLIError.invalidInput("the JSON that starts at column \(start + 1) does not end on the line")
    }
}

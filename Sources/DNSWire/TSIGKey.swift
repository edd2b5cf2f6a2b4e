import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// A TSIG MAC algorithm (RFC 8945 section 6). HMAC-MD5 is refused: it is deprecated and no
/// server we target needs it. HMAC-SHA1 is accepted for old servers.
public enum TSIGAlgorithm: String, Sendable, Hashable, CaseIterable {
    case hmacSHA1 = "hmac-sha1"
    case hmacSHA256 = "hmac-sha256"
    case hmacSHA384 = "hmac-sha384"
    case hmacSHA512 = "hmac-sha512"

    /// The algorithm's name as the TSIG record carries it (parsed once, not on every message).
    public var name: DNSName {
        switch self {
        case .hmacSHA1: return Self.names.sha1
        case .hmacSHA256: return Self.names.sha256
        case .hmacSHA384: return Self.names.sha384
        case .hmacSHA512: return Self.names.sha512
        }
    }

    private static let names: (sha1: DNSName, sha256: DNSName, sha384: DNSName, sha512: DNSName) = (
        DNSName(stringLiteral: TSIGAlgorithm.hmacSHA1.rawValue), DNSName(stringLiteral: TSIGAlgorithm.hmacSHA256.rawValue),
        DNSName(stringLiteral: TSIGAlgorithm.hmacSHA384.rawValue), DNSName(stringLiteral: TSIGAlgorithm.hmacSHA512.rawValue))

    /// Octets in a full MAC.
    public var macLength: Int {
        switch self {
        case .hmacSHA1: return 20
        case .hmacSHA256: return 32
        case .hmacSHA384: return 48
        case .hmacSHA512: return 64
        }
    }

    /// Accepts the mnemonic (`hmac-sha256`) or the record's name, case-insensitively.
    public init(mnemonic: String) throws {
        var text = mnemonic.lowercased()
        if text.hasSuffix(".") { text.removeLast() }
        if let known = TSIGAlgorithm(rawValue: text) {
            self = known
        } else if text.hasPrefix("hmac-md5") {
            throw TSIGKeyError.unsupportedAlgorithm("\(mnemonic) (HMAC-MD5 is refused; use hmac-sha256)")
        } else {
            throw TSIGKeyError.unsupportedAlgorithm(mnemonic)
        }
    }

    /// The algorithm named `name` (`hmac-sha256.`); throws for one not supported.
    public init(name: DNSName) throws {
        try self.init(mnemonic: name.description)
    }

}

/// An HMAC with its key already taken in: the hashes of the key's padded secret, worked out
/// once per key rather than once per message.
struct KeyedMAC: Sendable {
    /// An existential rather than an enum of the four HMACs: an enum would carry its case in the
    /// spare bits of the references it holds, which leak checkers do not take for pointers.
    private let started: any StartedMAC

    init(_ algorithm: TSIGAlgorithm, secret: [UInt8]) {
        let key = SymmetricKey(data: secret)
        switch algorithm {
        case .hmacSHA1: started = HMAC<Insecure.SHA1>(key: key)
        case .hmacSHA256: started = HMAC<SHA256>(key: key)
        case .hmacSHA384: started = HMAC<SHA384>(key: key)
        case .hmacSHA512: started = HMAC<SHA512>(key: key)
        }
    }

    /// The MAC of `data`.
    func mac(_ data: UnsafeRawBufferPointer) -> [UInt8] { started.mac(data) }
}

/// An HMAC that has taken in its key and nothing else yet.
private protocol StartedMAC: Sendable {
    /// The MAC of `data`, leaving this one as it was.
    func mac(_ data: UnsafeRawBufferPointer) -> [UInt8]
}

extension HMAC: StartedMAC {
    fileprivate func mac(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        var hmac = self
        hmac.update(data: data)
        return Array(hmac.finalize())
    }
}

/// A shared TSIG key: its name, algorithm and secret.
public struct TSIGKey: Sendable, Hashable, CustomStringConvertible {
    /// The key's name, which both sides must agree on.
    public var name: DNSName
    /// The HMAC algorithm.
    public var algorithm: TSIGAlgorithm {
        didSet { keyed = KeyedMAC(algorithm, secret: secret) }
    }
    /// The shared secret.
    public var secret: [UInt8] {
        didSet { keyed = KeyedMAC(algorithm, secret: secret) }
    }
    /// The MAC with this key taken in.
    private(set) var keyed: KeyedMAC

    /// A key; throws for an empty secret.
    public init(name: DNSName, algorithm: TSIGAlgorithm, secret: [UInt8]) throws {
        guard !secret.isEmpty else { throw TSIGKeyError.invalid("key \(name) has an empty secret") }
        self.name = name
        self.algorithm = algorithm
        self.secret = secret
        keyed = KeyedMAC(algorithm, secret: secret)
    }

    public static func == (a: TSIGKey, b: TSIGKey) -> Bool {
        a.name == b.name && a.algorithm == b.algorithm && a.secret == b.secret
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(algorithm)
        hasher.combine(secret)
    }

    /// Shows the name and algorithm, never the secret.
    public var description: String { "\(algorithm.rawValue):\(name)" }

    /// The secret in base64, as key files hold it.
    public var secretBase64: String { Data(secret).base64EncodedString() }

    /// Parses `[algorithm:]name:base64-secret`, the form knsupdate and dig's `-y` take.
    /// Without an algorithm, hmac-sha256.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let algorithm: TSIGAlgorithm
        let name: String
        let secret: String
        switch parts.count {
        case 2:
            (algorithm, name, secret) = (.hmacSHA256, parts[0], parts[1])
        case 3:
            (algorithm, name, secret) = (try TSIGAlgorithm(mnemonic: parts[0]), parts[1], parts[2])
        default:
            throw TSIGKeyError.invalid("expected [algorithm:]name:secret, got \(parts.count) fields separated by ':'")
        }
        guard !name.isEmpty else { throw TSIGKeyError.invalid("the key name is empty") }
        let keyName: DNSName
        do { keyName = try DNSName(name) } catch { throw TSIGKeyError.invalid("bad key name \(name): \(error)") }
        try self.init(name: keyName, algorithm: algorithm, secret: try Self.decodeSecret(secret, keyName: keyName))
    }

    static func decodeSecret(_ base64: String, keyName: DNSName) throws -> [UInt8] {
        guard let data = Data(base64Encoded: base64), !data.isEmpty else {
            throw TSIGKeyError.invalid("the secret of key \(keyName) is not valid base64")
        }
        return Array(data)
    }

    /// Reads every `key "name" { algorithm ...; secret "..."; };` clause of a BIND key file
    /// (as `tsig-keygen` writes it). Comments (`#`, `//`, `/* */`) are skipped.
    public static func parseBINDKeyFile(_ text: String) throws -> [TSIGKey] {
        var tokens = try BINDConfigTokenizer.tokens(text)[...]
        var keys: [TSIGKey] = []
        func expect(_ token: String) throws {
            guard let next = tokens.popFirst() else { throw TSIGKeyError.invalid("key file ends where '\(token)' belongs") }
            guard next == token else { throw TSIGKeyError.invalid("key file has '\(next)' where '\(token)' belongs") }
        }
        while let keyword = tokens.popFirst() {
            guard keyword == "key" else { throw TSIGKeyError.invalid("key file has '\(keyword)' where 'key' belongs") }
            guard let nameText = tokens.popFirst() else { throw TSIGKeyError.invalid("key file ends before a key name") }
            try expect("{")
            var algorithm: TSIGAlgorithm?
            var secret: String?
            while let field = tokens.popFirst(), field != "}" {
                guard let value = tokens.popFirst() else { throw TSIGKeyError.invalid("key \(nameText): \(field) has no value") }
                try expect(";")
                switch field {
                case "algorithm": algorithm = try TSIGAlgorithm(mnemonic: value)
                case "secret": secret = value
                default: throw TSIGKeyError.invalid("key \(nameText): unknown field '\(field)'")
                }
            }
            try expect(";")
            guard let algorithm else { throw TSIGKeyError.invalid("key \(nameText) has no algorithm") }
            guard let secret else { throw TSIGKeyError.invalid("key \(nameText) has no secret") }
            let name: DNSName
            do { name = try DNSName(nameText) } catch { throw TSIGKeyError.invalid("bad key name \(nameText): \(error)") }
            keys.append(try TSIGKey(name: name, algorithm: algorithm, secret: try decodeSecret(secret, keyName: name)))
        }
        guard !keys.isEmpty else { throw TSIGKeyError.invalid("the key file holds no key") }
        return keys
    }

    /// The key as a BIND key file, the format `tsig-keygen` writes and `named` and `nsupdate -k` read.
    public var bindKeyFile: String {
        "key \"\(name.description.dropLast())\" {\n\talgorithm \(algorithm.rawValue);\n\tsecret \"\(secretBase64)\";\n};\n"
    }

    /// A new key with a random secret as long as the algorithm's MAC.
    public static func generate(name: DNSName, algorithm: TSIGAlgorithm = .hmacSHA256) -> TSIGKey {
        let secret = SymmetricKey(size: SymmetricKeySize(bitCount: algorithm.macLength * 8))
        // An empty secret is the only failure, and a generated one is never empty.
        return try! TSIGKey(name: name, algorithm: algorithm, secret: secret.withUnsafeBytes { Array($0) })
    }
}

/// Splits BIND configuration text into words, quoted strings and the punctuation `{ } ;`.
enum BINDConfigTokenizer {
    static func tokens(_ text: String) throws -> [String] {
        var tokens: [String] = []
        var chars = Array(text.unicodeScalars)[...]
        var word = ""
        func flush() {
            if !word.isEmpty { tokens.append(word) }
            word = ""
        }
        while let c = chars.popFirst() {
            switch c {
            case "#":
                flush()
                while let n = chars.popFirst(), n != "\n" {}
            case "/" where chars.first == "/":
                flush()
                while let n = chars.popFirst(), n != "\n" {}
            case "/" where chars.first == "*":
                flush()
                chars.removeFirst()
                var closed = false
                while let n = chars.popFirst() {
                    if n == "*" && chars.first == "/" {
                        chars.removeFirst()
                        closed = true
                        break
                    }
                }
                guard closed else { throw TSIGKeyError.invalid("key file has an unclosed /* comment") }
            case "\"":
                flush()
                var quoted = ""
                var closed = false
                while let n = chars.popFirst() {
                    if n == "\"" {
                        closed = true
                        break
                    }
                    quoted.unicodeScalars.append(n)
                }
                guard closed else { throw TSIGKeyError.invalid("key file has an unclosed quote") }
                tokens.append(quoted)
            case "{", "}", ";":
                flush()
                tokens.append(String(c))
            case " ", "\t", "\n", "\r":
                flush()
            default:
                word.unicodeScalars.append(c)
            }
        }
        flush()
        return tokens
    }
}

extension TSIGKey {
    /// The key of a BIND key file (as `tsig-keygen`, `dnsstore keygen` and `dnsstore serve` write
    /// it): the one named `name`, or else the file's only key. Throws `TSIGKeyError.invalid`,
    /// naming the file and never the secret, when the file cannot be read, is not a key file,
    /// holds no key of that name, or holds several and no name says which.
    public init(contentsOfFile path: String, named name: DNSName? = nil) throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let why = FileManager.default.fileExists(atPath: path) ? "it cannot be read" : "it does not exist"
            throw TSIGKeyError.invalid("cannot read the key file \(path): \(why)")
        }
        let keys: [TSIGKey]
        do {
            keys = try Self.parseBINDKeyFile(text)
        } catch let error as TSIGKeyError {
            throw TSIGKeyError.invalid("the key file \(path): \(error.reason)")
        }
        if let name {
            guard let key = keys.first(where: { $0.name == name }) else {
                throw TSIGKeyError.invalid("the key file \(path) holds no key named \(name) (it holds \(keys.map { "\($0.name)" }.joined(separator: ", ")))")
            }
            self = key
        } else {
            guard keys.count == 1 else {
                throw TSIGKeyError.invalid("the key file \(path) holds \(keys.count) keys (\(keys.map { "\($0.name)" }.joined(separator: ", "))); name the one to use")
            }
            self = keys[0]
        }
    }
}

import Crypto
import Foundation

/// A key that encrypts the documents and ids of private collections (docs/FORMAT.md section 11).
/// It is the cluster's secret, apart from the TSIG key: the TSIG key lets a writer change the zone,
/// this one lets a reader understand it.
public struct EncryptionKey: Sendable, Hashable {
    /// 8 lower-case hex digits naming the key in records, derived from the secret.
    public let id: String
    let secret: [UInt8]

    /// Octets of secret in a key (AES-256).
    public static let secretLength = 32

    /// A key from its 32 secret octets; its id is derived from them.
    public init(secret: [UInt8]) throws {
        guard secret.count == Self.secretLength else {
            throw StoreError.encryptionKey("an encryption key is \(Self.secretLength) octets, not \(secret.count)")
        }
        self.secret = secret
        let mac = HMAC<SHA256>.authenticationCode(for: Array("dnsstore key id".utf8), using: SymmetricKey(data: secret))
        id = mac.prefix(4).map { String(format: "%02x", $0) }.joined()
    }

    /// A fresh random key.
    public static func generate() -> EncryptionKey {
        let key = SymmetricKey(size: .bits256)
        return try! EncryptionKey(secret: key.withUnsafeBytes { Array($0) })
    }

    var symmetric: SymmetricKey { SymmetricKey(data: secret) }

    /// A key derived from this one for one purpose, so that no two uses share a key.
    func derived(_ purpose: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(
            inputKeyMaterial: symmetric, salt: Array("dnsstore".utf8), info: Array(purpose.utf8), outputByteCount: 32)
    }

    /// The key file's line: `dnsstore-encryption-key <id> <base64 secret>`.
    public var fileLine: String { "dnsstore-encryption-key \(id) \(Data(secret).base64EncodedString())" }

    /// The keys of a key file: one per line, the first the one that encrypts; the others (older
    /// keys, during a rotation) only decrypt. Blank lines and lines starting with `#` are skipped.
    public static func parseFile(_ text: String) throws -> [EncryptionKey] {
        var keys: [EncryptionKey] = []
        for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty || fields[0].hasPrefix("#") { continue }
            guard fields.count == 3, fields[0] == "dnsstore-encryption-key" else {
                throw StoreError.encryptionKey("line \(number + 1) of the key file is not 'dnsstore-encryption-key ID SECRET'")
            }
            guard let secret = Data(base64Encoded: String(fields[2])) else {
                throw StoreError.encryptionKey("line \(number + 1) of the key file: the secret is not base64")
            }
            let key = try EncryptionKey(secret: Array(secret))
            guard key.id == fields[1] else {
                throw StoreError.encryptionKey("line \(number + 1) of the key file: the id \(fields[1]) does not match its secret (\(key.id))")
            }
            keys.append(key)
        }
        guard !keys.isEmpty else { throw StoreError.encryptionKey("the key file holds no key") }
        return keys
    }
}

/// The keys a store holds: the first encrypts, every one decrypts.
public struct EncryptionKeys: Sendable, Hashable {
    /// Every key held, the one that encrypts first.
    public var all: [EncryptionKey]

    /// The keys held, the one that encrypts first.
    public init(_ keys: [EncryptionKey]) { all = keys }

    var current: EncryptionKey? { all.first }

    func key(id: String) -> EncryptionKey? { all.first { $0.id == id } }
}

extension EncryptionKeys {
    /// The keys of an encryption key file (`dnsstore keygen --encryption` writes one): one per
    /// line, the first the one that encrypts. Throws `StoreError` (`encryptionKey`) naming the
    /// file and the line, never a secret, when it cannot be read or a line is not a key.
    public init(contentsOfFile path: String) throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            let why = FileManager.default.fileExists(atPath: path) ? "it cannot be read" : "it does not exist"
            throw StoreError.encryptionKey("cannot read the encryption key file \(path): \(why)")
        }
        do {
            self.init(try EncryptionKey.parseFile(text))
        } catch let error as StoreError where error.code == .encryptionKey {
            throw StoreError.encryptionKey("the encryption key file \(path): \(error.detail)")
        }
    }
}

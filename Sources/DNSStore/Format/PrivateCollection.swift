import Crypto
import Foundation

/// What a private collection's metadata holds (`"private"` in its CollectionMetadata, docs/FORMAT.md
/// section 11): its secrets, each wrapped (encrypted) under every cluster key allowed to read it.
public struct PrivateMetadata: Codable, Sendable, Hashable {
    /// The name secret, stable for the collection's life: cluster key id to wrapped secret.
    public var names: [String: String]
    /// The data secrets: data secret id to (cluster key id to wrapped secret). Two during a rekey.
    public var data: [String: [String: String]]
    /// The data secret new documents are encrypted with.
    public var write: String
}

/// A private collection's secrets, unwrapped with a cluster key: how its ids become stored ids and
/// back, and the keys of its documents.
struct CollectionSecrets: Sendable {
    let nameSecret: EncryptionKey
    /// Data secrets by id; `writeSecret` among them.
    let dataSecrets: [String: EncryptionKey]
    let writeSecret: EncryptionKey

    /// Ids of a private collection are at most this long, so that their stored form fits a name.
    static let maxIDLength = 160

    /// Stored ids start with this, which a plain id may also do: only private collections hold them.
    static let storedIDPrefix = "~"

    /// The stored form of `id`: deterministic, so the same id always finds the same record, and
    /// sealed, so it reveals nothing without the name secret. `~` then base64url (no padding) of a
    /// synthetic nonce (12 octets of an HMAC of the id), the AES-256-GCM ciphertext and its tag.
    func storedID(_ id: String) throws -> String {
        let octets = Array(id.utf8)
        guard octets.count <= Self.maxIDLength else {
            throw StoreError.invalidName("id '\(id)' is \(octets.count) octets; ids of a private collection are limited to \(Self.maxIDLength)")
        }
        let mac = HMAC<SHA256>.authenticationCode(for: octets, using: nameSecret.derived("id nonces"))
        let nonce = try AES.GCM.Nonce(data: Array(mac.prefix(12)))
        let box = try AES.GCM.seal(octets, using: nameSecret.derived("ids"), nonce: nonce, authenticating: Array("dnsstore-id".utf8))
        return Self.storedIDPrefix + Base64URL.encode(Array(box.combined!))
    }

    /// The label of an indexed field in a private collection (docs/FORMAT.md section 14.3): `h--`
    /// and the base32 of the first 20 octets of HMAC-SHA256 keyed with `derive(name secret,
    /// "index fields")` over the field's octets.
    func indexLabel(field: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(field.utf8), using: nameSecret.derived("index fields"))
        return "h--" + Base32.encode(Array(Array(mac).prefix(20)))
    }

    /// The label of an index key in a private collection: as `indexLabel(field:)`, keyed with
    /// `derive(name secret, "index keys")` over the field's octet count (two octets, big-endian),
    /// the field's octets and the key's.
    func indexLabel(field: String, key: [UInt8]) -> String {
        let octets = Array(field.utf8)
        let message = [UInt8(octets.count >> 8), UInt8(octets.count & 0xff)] + octets + key
        let mac = HMAC<SHA256>.authenticationCode(for: message, using: nameSecret.derived("index keys"))
        return "h--" + Base32.encode(Array(Array(mac).prefix(20)))
    }

    /// Whether a stored id has the shape of a sealed one: `~` and base64url of a nonce, at least
    /// one octet of ciphertext and a tag (29 octets or more).
    static func looksSealed(_ stored: String) -> Bool {
        guard stored.hasPrefix(storedIDPrefix), stored.utf8.count >= 40 else { return false }
        return (Base64URL.decode(String(stored.dropFirst()))?.count ?? 0) >= 29
    }

    /// The id a stored id seals; throws `.corrupted` for one that was not sealed with this secret.
    func realID(_ stored: String) throws -> String {
        guard stored.hasPrefix(Self.storedIDPrefix), let octets = Base64URL.decode(String(stored.dropFirst())),
              let box = try? AES.GCM.SealedBox(combined: octets),
              let plain = try? AES.GCM.open(box, using: nameSecret.derived("ids"), authenticating: Array("dnsstore-id".utf8)),
              let id = String(validating: plain, as: UTF8.self)
        else {
            throw StoreError.corrupted("stored id '\(stored.prefix(24))…' was not sealed with this collection's name secret")
        }
        return id
    }

    /// Metadata and secrets for a new private collection, its secrets wrapped under every key.
    static func create(keys: EncryptionKeys, place: WrapPlace) throws -> (PrivateMetadata, CollectionSecrets) {
        let names = EncryptionKey.generate()
        let data = EncryptionKey.generate()
        let metadata = PrivateMetadata(
            names: try wrap(names, under: keys.all, place: place.for("names")),
            data: [data.id: try wrap(data, under: keys.all, place: place.for(data.id))],
            write: data.id)
        return (metadata, CollectionSecrets(nameSecret: names, dataSecrets: [data.id: data], writeSecret: data))
    }

    /// Unwraps the secrets with whichever of `keys` the metadata names; a data secret wrapped under
    /// none of them is left out (its documents then fail with a clear error).
    static func open(_ metadata: PrivateMetadata, keys: EncryptionKeys, place: WrapPlace, path: String) throws -> CollectionSecrets {
        guard let names = try unwrap(metadata.names, keys: keys, place: place.for("names"), path: path) else {
            throw StoreError.encryptionKey(
                "collection '\(path)' is private to keys \(metadata.names.keys.sorted().joined(separator: ", ")); the keys given are \(keys.all.map(\.id).joined(separator: ", "))")
        }
        var data: [String: EncryptionKey] = [:]
        for (id, wraps) in metadata.data {
            if let secret = try unwrap(wraps, keys: keys, place: place.for(id), path: path) {
                guard secret.id == id else { throw StoreError.corrupted("collection '\(path)': data secret \(id) unwraps to \(secret.id)") }
                data[id] = secret
            }
        }
        guard let write = data[metadata.write] else {
            throw StoreError.encryptionKey("collection '\(path)' writes with data secret \(metadata.write), which none of the keys given unwraps")
        }
        return CollectionSecrets(nameSecret: names, dataSecrets: data, writeSecret: write)
    }

    /// Where a wrapped secret belongs, as associated data: it cannot be moved to another collection.
    struct WrapPlace {
        var root: String
        var database: String
        var collection: String
        var secret = ""

        func `for`(_ secret: String) -> WrapPlace {
            var place = self
            place.secret = secret
            return place
        }

        var associatedData: [UInt8] { Array(["dnsstore-wrap", root, database, collection, secret].joined(separator: "\0").utf8) }
    }

    static func wrap(_ secret: EncryptionKey, under keys: [EncryptionKey], place: WrapPlace) throws -> [String: String] {
        var wraps: [String: String] = [:]
        for key in keys {
            let box = try AES.GCM.seal(secret.secret, using: key.derived("wrap"), authenticating: place.associatedData)
            wraps[key.id] = Data(box.combined!).base64EncodedString()
        }
        return wraps
    }

    /// The secret wrapped under one of `keys`, or nil when none of them is among the wraps.
    private static func unwrap(_ wraps: [String: String], keys: EncryptionKeys, place: WrapPlace, path: String) throws -> EncryptionKey? {
        for key in keys.all {
            guard let wrapped = wraps[key.id] else { continue }
            guard let octets = Data(base64Encoded: wrapped), let box = try? AES.GCM.SealedBox(combined: octets),
                  let secret = try? AES.GCM.open(box, using: key.derived("wrap"), authenticating: place.associatedData)
            else {
                throw StoreError.corrupted("collection '\(path)': its secret wrapped under key \(key.id) fails authentication")
            }
            return try EncryptionKey(secret: Array(secret))
        }
        return nil
    }
}

/// base64url without padding (RFC 4648 section 5). Written out rather than through Foundation's
/// base64 and three string replacements: every record's digest is encoded on write and decoded on
/// read, and those replacements were the largest single cost of a put in the client.
enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    /// Each ASCII octet's value in the alphabet, 0xFF for one outside it.
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = UInt8(i) }
        return table
    }()

    static func encode(_ octets: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((octets.count * 4 + 2) / 3)
        var i = 0
        while i + 3 <= octets.count {
            let n = UInt32(octets[i]) << 16 | UInt32(octets[i + 1]) << 8 | UInt32(octets[i + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int((n >> UInt32(shift)) & 63)]) }
            i += 3
        }
        switch octets.count - i {
        case 1:
            let n = UInt32(octets[i]) << 16
            for shift in [18, 12] { out.append(alphabet[Int((n >> UInt32(shift)) & 63)]) }
        case 2:
            let n = UInt32(octets[i]) << 16 | UInt32(octets[i + 1]) << 8
            for shift in [18, 12, 6] { out.append(alphabet[Int((n >> UInt32(shift)) & 63)]) }
        default: break
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// nil for text outside the alphabet or of a length no encoding has (one past a multiple of
    /// four). Unused low bits of the last character are ignored, as base64 decoders commonly do.
    static func decode(_ text: String) -> [UInt8]? {
        var text = text
        return text.withUTF8 { utf8 -> [UInt8]? in
            guard utf8.count % 4 != 1 else { return nil }
            var out: [UInt8] = []
            out.reserveCapacity(utf8.count * 3 / 4)
            var accumulator: UInt32 = 0, bits = 0
            for c in utf8 {
                let v = values[Int(c)]
                guard v != 0xFF else { return nil }
                accumulator = accumulator << 6 | UInt32(v)
                bits += 6
                if bits >= 8 {
                    bits -= 8
                    out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                    accumulator &= (1 << UInt32(bits)) - 1
                }
            }
            return out
        }
    }
}

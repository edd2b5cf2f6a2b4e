import Crypto
import Foundation

/// How a document's octets become a record's stored octets and back (docs/FORMAT.md section 7.2):
/// compressed when that saves space, then encrypted in a private collection. The header's `e`
/// names the steps in the order they were applied; `n` and `h` describe the stored octets.
enum DocumentEncoding {
    static let zlib = "zlib"
    static let aesGCM = "aes256gcm"

    /// Compression is used only when it saves at least this share (an eighth) of the document, so
    /// small documents stay readable with dig.
    static func worthCompressing(_ document: [UInt8]) -> [UInt8]? {
        guard document.count >= 128 else { return nil }
        let packed = Zlib.compress(document)
        return packed.count <= document.count - document.count / 8 ? packed : nil
    }

    /// What encrypts a document: the data secret, and where the document lives (bound as
    /// associated data).
    struct Seal {
        var key: EncryptionKey
        var place: Place
    }

    /// Where a stored document lives, as its ciphertext's associated data: a record moved to
    /// another name, collection or version fails to decrypt.
    struct Place: Sendable {
        var root: String
        var database: String
        var collection: String
        /// The stored id (section 11.2).
        var id: String
        var version: Int

        /// `dnsstore-document` NUL root NUL database NUL collection NUL id NUL version (names
        /// never hold NUL, so the fields cannot run into each other).
        var associatedData: [UInt8] {
            Array(["dnsstore-document", root, database, collection, id, String(version)].joined(separator: "\0").utf8)
        }
    }

    /// The stored octets and the `e` and `k` header fields for `document`.
    static func encode(_ document: [UInt8], compress: Bool = true, seal: Seal?) throws -> (stored: [UInt8], e: String?, k: String?) {
        var steps: [String] = []
        var stored = document
        if compress, let packed = worthCompressing(document) {
            stored = packed
            steps.append(zlib)
        }
        var keyID: String?
        if let seal {
            let box = try AES.GCM.seal(stored, using: seal.key.derived("documents"), nonce: AES.GCM.Nonce(), authenticating: seal.place.associatedData)
            stored = Array(box.combined!)
            steps.append(aesGCM)
            keyID = seal.key.id
        }
        return (stored, steps.isEmpty ? nil : steps.joined(separator: "+"), keyID)
    }

    /// The steps of an `e` value, or nil when one is unknown to this version.
    static func steps(_ e: String?) -> [String]? {
        guard let e else { return [] }
        let steps = e.split(separator: "+", omittingEmptySubsequences: false).map(String.init)
        let known: Set<[String]> = [[zlib], [aesGCM], [zlib, aesGCM]]
        return known.contains(steps) ? steps : nil
    }

    /// The document from its stored octets. `secret` finds an encrypted record's data secret by
    /// its id, or says why it cannot; `what` names the document in errors.
    static func decode(
        _ stored: [UInt8], header: RecordHeader, secret: (String) throws -> EncryptionKey, place: Place, what: String, at name: String
    ) throws -> [UInt8] {
        guard let steps = steps(header.encoding) else {
            throw StoreError.corrupted("\(name) uses encoding '\(header.encoding ?? "")', which this version cannot read")
        }
        var octets = stored
        for step in steps.reversed() {
            switch step {
            case aesGCM:
                guard let keyID = header.keyID else { throw StoreError.corrupted("\(name) is encrypted but names no key") }
                let key = try secret(keyID)
                do {
                    let box = try AES.GCM.SealedBox(combined: octets)
                    octets = Array(try AES.GCM.open(box, using: key.derived("documents"), authenticating: place.associatedData))
                } catch {
                    throw StoreError.corrupted(
                        "\(what) at \(name) fails authentication under key \(keyID): it was altered, or moved from another place or version")
                }
            default:
                do {
                    octets = try Zlib.decompress(octets, limit: RecordText.maxDocument)
                } catch .tooLarge {
                    throw StoreError.corrupted("\(what) at \(name) expands past the \(RecordText.maxDocument)-octet limit")
                } catch {
                    throw StoreError.corrupted("\(what) at \(name) is not a valid zlib stream")
                }
            }
        }
        return octets
    }
}

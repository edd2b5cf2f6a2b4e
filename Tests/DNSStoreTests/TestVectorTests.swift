import Crypto
@testable import DNSStore
import DNSWire
import Foundation
import Testing

/// docs/test-vectors.json: worked examples of docs/FORMAT.md for an independent reader, each
/// checked here against the code that writes the format. Every input is fixed (keys, secrets,
/// nonces), so each output is exact. `DNSSTORE_WRITE_TEST_VECTORS=1 swift test --filter
/// TestVectors` writes the file anew from the code (after a deliberate format change only).
@Suite("Test vectors")
struct TestVectorTests {
    static let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/test-vectors.json")

    static func hex(_ octets: some Sequence<UInt8>) -> String { octets.map { String(format: "%02x", $0) }.joined() }
    static func octets(_ from: UInt8, _ count: Int) -> [UInt8] { (0..<count).map { from &+ UInt8($0) } }

    /// The vectors as the code computes them, in the file's shape.
    static func computed() throws -> [String: Any] {
        let clusterKey = try EncryptionKey(secret: octets(0x00, 32))
        let nameSecret = try EncryptionKey(secret: octets(0x20, 32))
        let dataSecret = try EncryptionKey(secret: octets(0x40, 32))
        let root = "_dnsstore.example.com."

        let derive = ["wrap", "ids", "id nonces", "documents"].map { purpose -> [String: Any] in
            let key = purpose == "wrap" ? clusterKey : purpose == "documents" ? dataSecret : nameSecret
            return ["key": hex(key.secret), "purpose": purpose, "output": hex(key.derived(purpose).withUnsafeBytes { Array($0) })]
        }

        let wrapPlace = CollectionSecrets.WrapPlace(root: root, database: "ops", collection: "credentials").for("names")
        let wrapNonce = octets(0x60, 12)
        let wrap = try AES.GCM.seal(
            nameSecret.secret, using: clusterKey.derived("wrap"), nonce: AES.GCM.Nonce(data: wrapNonce), authenticating: wrapPlace.associatedData)

        let secrets = CollectionSecrets(nameSecret: nameSecret, dataSecrets: [dataSecret.id: dataSecret], writeSecret: dataSecret)
        let id = "alice@example.com"
        let storedID = try secrets.storedID(id)
        let idNonce = Array(HMAC<SHA256>.authenticationCode(for: Array(id.utf8), using: nameSecret.derived("id nonces")).prefix(12))

        let document = Array(#"{"password":"hunter2","host":"10.1.2.3"}"#.utf8)
        let place = DocumentEncoding.Place(root: root, database: "ops", collection: "credentials", id: storedID, version: 3)
        let boxNonce = octets(0x70, 12)
        let box = try AES.GCM.seal(document, using: dataSecret.derived("documents"), nonce: AES.GCM.Nonce(data: boxNonce), authenticating: place.associatedData)
        var sealedHeader = RecordHeader(version: 3, id: storedID, storedLength: box.combined!.count, digest: RecordText.digest(Array(box.combined!)))
        sealedHeader.encoding = "aes256gcm"
        sealedHeader.keyID = dataSecret.id

        // A plain document's record, from the domain down.
        let layout = try StoreLayout(domain: "example.com.")
        let (databaseName, _) = try layout.child("inventory", total: 8, of: layout.root)
        let (collectionName, _) = try layout.child("hosts", total: 8, of: databaseName)
        let (recordName, recordChunk) = try layout.child("web1", total: 16, of: collectionName)
        let plain = Array(#"{"ip":"10.0.0.5","role":"web"}"#.utf8)
        let plainHeader = RecordHeader(version: 1, id: "web1", storedLength: plain.count, digest: RecordText.digest(plain))
        let record = try RecordText.rdata(header: plainHeader, body: plain)
        guard case .txt(let recordTXT) = record else { throw StoreError.corrupted("not TXT") }

        let page = IndexPage(chunk: recordChunk, page: 0, pages: 2, floor: 4, open: 1, entries: ["web1": IndexEntry.unleased, "web7": IndexEntry.unleased])
        let pageName = try layout.indexPage(0, chunk: recordChunk, of: collectionName)

        let large = Array(("[" + (0..<40).map { #"{"host":"web-\#($0).example.com","role":"frontend","zone":"eu-west-1"}"# }.joined(separator: ",") + "]").utf8)
        let (stored, e, _) = try DocumentEncoding.encode(large, seal: nil)
        var compressedHeader = RecordHeader(version: 1, id: "fleet", storedLength: stored.count, digest: RecordText.digest(stored))
        compressedHeader.encoding = e

        // A document in data chunks of a stated size (`s`, section 7), as a writer for a backend
        // whose records hold less writes it: stored as it is, cut into pieces of 512 octets.
        let chunked = Array(("[" + (0..<20).map { #"{"host":"db-\#($0).example.com","role":"database"}"# }.joined(separator: ",") + "]").utf8)
        var chunkedHeader = RecordHeader(version: 2, id: "db-fleet", storedLength: chunked.count, digest: RecordText.digest(chunked))
        chunkedHeader.chunkSize = 512
        chunkedHeader.generation = "0badcafe"
        chunkedHeader.chunkCount = (chunked.count + 511) / 512
        let (chunkedRecordName, _) = try layout.child("db-fleet", total: 16, of: collectionName)
        let pieces = stride(from: 0, to: chunked.count, by: 512).map { chunked[$0..<min($0 + 512, chunked.count)] }

        return [
            "format": "docs/FORMAT.md version 1; octets in lower-case hex unless a field says base64",
            "key": ["secret": hex(clusterKey.secret), "id": clusterKey.id, "rule": "section 11.1: HMAC-SHA256(key, \"dnsstore key id\"), first 4 octets"],
            "derive": derive,
            "wrap": [
                "clusterKey": hex(clusterKey.secret), "secret": hex(nameSecret.secret), "root": root, "database": "ops",
                "collection": "credentials", "which": "names", "associatedData": hex(wrapPlace.associatedData), "nonce": hex(wrapNonce),
                "wrap": Data(wrap.combined!).base64EncodedString(),
            ],
            "sealedId": ["nameSecret": hex(nameSecret.secret), "id": id, "nonce": hex(idNonce), "storedId": storedID, "label": try Naming.label(for: storedID)],
            "documentBox": [
                "dataSecret": hex(dataSecret.secret), "dataSecretId": dataSecret.id, "root": root, "database": "ops", "collection": "credentials",
                "storedId": storedID, "version": 3, "document": String(decoding: document, as: UTF8.self),
                "associatedData": hex(place.associatedData), "nonce": hex(boxNonce), "box": hex(box.combined!),
                "header": String(decoding: try MetadataJSON.encode(sealedHeader), as: UTF8.self),
            ],
            "record": [
                "domain": "example.com", "database": "inventory", "collection": "hosts", "id": "web1",
                "chunks": ["root": 8, "database": 8, "collection": 16], "document": String(decoding: plain, as: UTF8.self),
                "version": 1, "name": recordName.description, "text": String(decoding: recordTXT.joined, as: UTF8.self),
            ],
            "indexPage": ["name": pageName.description, "text": String(decoding: try page.text(level: .record), as: UTF8.self)],
            "compressed": [
                "document": String(decoding: large, as: UTF8.self), "header": String(decoding: try MetadataJSON.encode(compressedHeader), as: UTF8.self),
                "stored": Data(stored).base64EncodedString(),
            ],
            "chunkSize": [
                "document": String(decoding: chunked, as: UTF8.self), "name": chunkedRecordName.description,
                "text": String(decoding: try MetadataJSON.encode(chunkedHeader) + [0x0A], as: UTF8.self),
                "chunkNames": try pieces.indices.map { try layout.dataChunk($0, generation: "0badcafe", of: chunkedRecordName).description },
                "chunkTexts": pieces.map { String(decoding: $0, as: UTF8.self) },
            ],
        ]
    }

    @Test func theFileMatchesTheCode() throws {
        let computed = try Self.computed()
        let encoded = try JSONSerialization.data(withJSONObject: computed, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        if ProcessInfo.processInfo.environment["DNSSTORE_WRITE_TEST_VECTORS"] != nil {
            try (encoded + Data("\n".utf8)).write(to: Self.file)
        }
        let stored = try JSONSerialization.jsonObject(with: try Data(contentsOf: Self.file)) as? NSDictionary
        #expect(stored == computed as NSDictionary, "docs/test-vectors.json no longer matches what the code writes")
    }

    /// What a reader does with the vectors: open the wrap, the sealed id and the box; read the
    /// record and the page; inflate the compressed document and check its header.
    @Test func aReaderOpensEveryVector() throws {
        let vectors = try #require(try JSONSerialization.jsonObject(with: try Data(contentsOf: Self.file)) as? [String: Any])
        func field(_ group: String, _ name: String) throws -> String { try #require((vectors[group] as? [String: Any])?[name] as? String) }
        func unhex(_ text: String) -> [UInt8] {
            stride(from: 0, to: text.count, by: 2).map { UInt8(text.dropFirst($0).prefix(2), radix: 16)! }
        }

        let clusterKey = try EncryptionKey(secret: unhex(try field("wrap", "clusterKey")))
        #expect(clusterKey.id == (try field("key", "id")))
        let wrap = try AES.GCM.SealedBox(combined: try #require(Data(base64Encoded: try field("wrap", "wrap"))))
        #expect(Array(try AES.GCM.open(wrap, using: clusterKey.derived("wrap"), authenticating: unhex(try field("wrap", "associatedData"))))
            == unhex(try field("wrap", "secret")))

        let nameSecret = try EncryptionKey(secret: unhex(try field("sealedId", "nameSecret")))
        let secrets = CollectionSecrets(nameSecret: nameSecret, dataSecrets: [:], writeSecret: nameSecret)
        #expect(try secrets.realID(try field("sealedId", "storedId")) == (try field("sealedId", "id")))

        let dataSecret = try EncryptionKey(secret: unhex(try field("documentBox", "dataSecret")))
        let box = try AES.GCM.SealedBox(combined: unhex(try field("documentBox", "box")))
        #expect(String(decoding: try AES.GCM.open(box, using: dataSecret.derived("documents"), authenticating: unhex(try field("documentBox", "associatedData"))), as: UTF8.self)
            == (try field("documentBox", "document")))

        let name = try DNSName(try field("record", "name"))
        let record = try RecordText.parse(.txt(TXT(splitting: Array(try field("record", "text").utf8))), name: name)
        #expect(String(decoding: record.body, as: UTF8.self) == (try field("record", "document")))
        let page = try IndexPage(text: Array(try field("indexPage", "text").utf8), level: .record, name: try DNSName(try field("indexPage", "name")))
        #expect(Set(page.entries.keys) == ["web1", "web7"] && page.floor == 4 && page.pages == 2)

        let header = try RecordHeader(parsing: Array(try field("compressed", "header").utf8), at: name)
        let stored = Array(try #require(Data(base64Encoded: try field("compressed", "stored"))))
        #expect(header.storedLength == stored.count && header.digest == RecordText.digest(stored))
        #expect(String(decoding: try Zlib.decompress(stored, limit: RecordText.maxDocument), as: UTF8.self) == (try field("compressed", "document")))

        // The chunks named as `c`, `g` and the record name say, joined, are the document.
        let chunkGroup = try #require(vectors["chunkSize"] as? [String: Any])
        let chunkedName = try DNSName(try field("chunkSize", "name"))
        let chunkedRecord = try RecordText.parse(.txt(TXT(splitting: Array(try field("chunkSize", "text").utf8))), name: chunkedName)
        let names = try #require(chunkGroup["chunkNames"] as? [String])
        let texts = try #require(chunkGroup["chunkTexts"] as? [String])
        #expect(chunkedRecord.header.chunkSize == 512 && chunkedRecord.body.isEmpty)
        #expect(try WritePlan.dataChunkNames(of: chunkedRecord, at: chunkedName, StoreLayout(domain: "example.com.")).map(\.description) == names)
        let joined = Array(texts.joined().utf8)
        #expect(texts.dropLast().allSatisfy { $0.utf8.count == 512 } && joined.count == chunkedRecord.header.storedLength)
        let chunkedDocument = try field("chunkSize", "document")
        #expect(RecordText.digest(joined) == chunkedRecord.header.digest && String(decoding: joined, as: UTF8.self) == chunkedDocument)
    }
}

import Crypto
import DNSWire
import Foundation

/// The header line of a record (section 7 of docs/FORMAT.md).
struct RecordHeader: Codable, Sendable, Hashable {
    var v: Int
    var id: String
    var n: Int
    var h: String
    var c: Int?
    var g: String?
    var e: String?
    /// The data secret of an encrypted record (section 11).
    var k: String?

    var isChunked: Bool { c != nil }
}

/// A record as read: its header, its inline body, and the exact RDATA, which a compare-and-swap
/// prerequisite must repeat octet for octet.
struct StoredRecord: Sendable {
    var header: RecordHeader
    var body: [UInt8]
    var rdata: RData
}

enum RecordText {
    static let inlineLimit = 16_000
    static let dataChunkSize = 60_000
    static let maxDocument = 1_048_576

    /// base64url, no padding, of the first 16 octets of SHA-256.
    static func digest(_ bytes: some DataProtocol) -> String {
        Base64URL.encode(Array(SHA256.hash(data: bytes).prefix(16)))
    }

    static func rdata(header: RecordHeader, body: [UInt8]) throws -> RData {
        var text = try MetadataJSON.encode(header)
        text.append(0x0A)
        text.append(contentsOf: body)
        return .txt(TXT(splitting: text))
    }

    /// Parses a record. A record in an encoding this version does not know is refused, unless
    /// `anyEncoding` (for checks that must not mistake a newer record for a damaged one).
    static func parse(_ rdata: RData, name: DNSName, anyEncoding: Bool = false) throws -> StoredRecord {
        guard case .txt(let txt) = rdata else { throw StoreError.corrupted("\(name) holds no TXT record") }
        let text = txt.joined
        guard let newline = text.firstIndex(of: 0x0A) else {
            throw StoreError.corrupted("\(name) has no header line")
        }
        let header = try MetadataJSON.decode(RecordHeader.self, Array(text[..<newline]), name: name)
        if let e = header.e, !anyEncoding, DocumentEncoding.steps(e) == nil {
            throw StoreError.corrupted("\(name) uses encoding '\(e)', which this version cannot read")
        }
        guard header.v >= 1, header.n >= 0 else { throw StoreError.corrupted("\(name) has a bad header") }
        return StoredRecord(header: header, body: Array(text[(newline + 1)...]), rdata: rdata)
    }
}

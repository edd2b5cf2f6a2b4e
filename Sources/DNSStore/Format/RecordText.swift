import Crypto
import DNSWire
import Foundation

/// A record as read: its header, its inline body, and the exact RDATA, which a compare-and-swap
/// prerequisite must repeat octet for octet.
struct StoredRecord: Sendable {
    var header: RecordHeader
    var body: [UInt8]
    var rdata: RData
}

enum RecordText {
    static let inlineLimit = 16_000
    /// The data chunk size of a header without `s`, and the largest `s` may give.
    static let dataChunkSize = 60_000
    /// The smallest data chunk size `s` may give.
    static let minDataChunkSize = 512
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

    /// Parses a record, its header read strictly (`RecordHeader.init(parsing:at:)`). A record a
    /// newer writer made (an encoding or header member this version does not know) is refused,
    /// unless `tolerateNewer` (for checks that must not mistake a newer record for a damaged one).
    static func parse(_ rdata: RData, name: DNSName, tolerateNewer: Bool = false) throws -> StoredRecord {
        guard case .txt(let txt) = rdata else { throw StoreError.corrupted("\(name) holds no TXT record") }
        let text = txt.joined
        guard let newline = text.firstIndex(of: 0x0A) else {
            throw StoreError.corrupted("\(name) has no header line")
        }
        let header = try RecordHeader(parsing: Array(text[..<newline]), at: name, tolerateNewer: tolerateNewer)
        return StoredRecord(header: header, body: Array(text[(newline + 1)...]), rdata: rdata)
    }
}

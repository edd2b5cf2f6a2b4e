import DNSWire

/// The header line of a record (section 7 of docs/FORMAT.md). The wire names its members by one
/// letter; `CodingKeys` maps them.
struct RecordHeader: Encodable, Sendable, Hashable {
    /// `v`: one more for every write, from 1.
    var version: Int
    /// `id`: the stored id (sealed in a private collection).
    var id: String
    /// `n`: octets of the stored octets.
    var storedLength: Int
    /// `h`: base64url of the first 16 octets of the stored octets' SHA-256.
    var digest: String
    /// `c`: a chunked document's number of data chunks.
    var chunkCount: Int?
    /// `g`: a chunked document's generation, 8 lower-case hex digits.
    var generation: String?
    /// `s`: the octets of each data chunk but the last, when not the format's 60,000
    /// (a backend whose records hold less, section 7).
    var chunkSize: Int?
    /// `e`: the encoding steps (section 7.2); nil: the document's own octets.
    var encoding: String?
    /// `k`: the data secret an encrypted document was sealed with (section 11.3).
    var keyID: String?
    /// `l`: the lease the document is attached to (section 13): it lives only while that does.
    var lease: String?

    init(version: Int, id: String, storedLength: Int, digest: String) {
        self.version = version
        self.id = id
        self.storedLength = storedLength
        self.digest = digest
    }

    var isChunked: Bool { chunkCount != nil }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case version = "v", id, storedLength = "n", digest = "h", chunkCount = "c", generation = "g", encoding = "e", keyID = "k"
        case lease = "l", chunkSize = "s"
    }

    /// The octets of each data chunk but the last.
    var dataChunkOctets: Int { chunkSize ?? RecordText.dataChunkSize }

    /// Reads a header line strictly, as section 7 requires of readers: one JSON object, no
    /// member twice, each member of its type and within the format's bounds
    /// (`FormatLimits`), `c` and `g` together and consistent with `n`, `k` exactly when the
    /// encoding encrypts. A member or encoding this version does not know is refused as a newer
    /// writer's record, unless `tolerateNewer`.
    init(parsing text: [UInt8], at name: DNSName, tolerateNewer: Bool = false) throws {
        func corrupt(_ why: String) -> StoreError { StoreError.corrupted("\(name) has a bad record header: \(why)") }
        let members: [(name: String, value: Range<Int>)]
        do {
            members = try JSONText.members(ofObject: text)
        } catch {
            throw corrupt("\(error)")
        }
        var fields: [CodingKeys: ArraySlice<UInt8>] = [:]
        for member in members {
            guard let key = CodingKeys(rawValue: member.name) else {
                if tolerateNewer { continue }
                throw StoreError.corrupted("\(name) has the header member '\(member.name)', which this version does not know (a newer writer's record)")
            }
            fields[key] = text[member.value]
        }
        func integer(_ key: CodingKeys, _ range: ClosedRange<Int>) throws -> Int? {
            guard let token = fields[key] else { return nil }
            guard let value = JSONText.integer(token), range.contains(value) else {
                throw corrupt("'\(key.rawValue)' is \(String(decoding: token.prefix(40), as: UTF8.self)), not an integer from \(range.lowerBound) to \(range.upperBound)")
            }
            return value
        }
        func string(_ key: CodingKeys) throws -> String? {
            guard let token = fields[key] else { return nil }
            guard let value = JSONText.string(token: token) else { throw corrupt("'\(key.rawValue)' is not a string") }
            return value
        }
        func required<T>(_ key: CodingKeys, _ value: T?) throws -> T {
            guard let value else { throw corrupt("'\(key.rawValue)' is missing") }
            return value
        }
        version = try required(.version, try integer(.version, 1...FormatLimits.maxVersion))
        id = try required(.id, try string(.id))
        storedLength = try required(.storedLength, try integer(.storedLength, 0...FormatLimits.maxStoredOctets))
        digest = try required(.digest, try string(.digest))
        chunkCount = try integer(.chunkCount, 1...FormatLimits.maxDataChunks)
        generation = try string(.generation)
        encoding = try string(.encoding)
        keyID = try string(.keyID)
        lease = try string(.lease)
        chunkSize = try integer(.chunkSize, RecordText.minDataChunkSize...RecordText.dataChunkSize)

        guard FormatLimits.isName(id) else { throw corrupt("'id' is not a name of 1 to 255 octets") }
        guard digest.utf8.count == 22, Base64URL.decode(digest)?.count == 16 else {
            throw corrupt("'h' is not 22 characters of base64url")
        }
        switch (chunkCount, generation) {
        case (nil, nil):
            break
        case (let count?, let generation?):
            guard FormatLimits.isLowerHex(generation, count: 8) else { throw corrupt("'g' is not 8 lower-case hex digits") }
            let size = dataChunkOctets
            let needed = (storedLength + size - 1) / size
            guard count == needed else {
                throw corrupt("'c' is \(count), but \(storedLength) stored octets take \(needed) data chunks of \(size)")
            }
        default:
            throw corrupt("'c' and 'g' must appear together")
        }
        if chunkSize != nil && chunkCount == nil { throw corrupt("'s' is present without 'c'") }
        if let keyID, !FormatLimits.isLowerHex(keyID, count: 8) { throw corrupt("'k' is not 8 lower-case hex digits") }
        if let lease, !FormatLimits.isLowerHex(lease, count: 16) { throw corrupt("'l' is not 16 lower-case hex digits") }
        guard let steps = DocumentEncoding.steps(encoding) else {
            if tolerateNewer { return }
            throw StoreError.corrupted("\(name) uses encoding '\(encoding ?? "")', which this version cannot read")
        }
        guard steps.contains(DocumentEncoding.aesGCM) == (keyID != nil) else {
            throw corrupt(keyID == nil ? "it is encrypted but names no key ('k')" : "it names a key ('k') but is not encrypted")
        }
    }
}

@testable import DNSStore
import DNSWire
import Foundation
import Testing

/// The examples and rules of docs/FORMAT.md, checked against the code that writes the format.
@Suite("Format")
struct FormatTests {
    @Test func labelsFollowSection2() throws {
        #expect(try Naming.label(for: "users") == "users")
        #expect(try Naming.label(for: "web-01") == "web-01")
        #expect(try Naming.label(for: "0") == "0")
        #expect(try Naming.label(for: "Users") == "x--kvzwk4tt")
        #expect(throws: StoreError.invalidName("a name must not be empty")) { try Naming.label(for: "") }
        #expect(try Naming.label(for: "a.b") == "x--mexge")
        #expect(try Naming.label(for: "a--b").hasPrefix("x--"))
        #expect(try Naming.label(for: "-a").hasPrefix("x--"))
        #expect(try Naming.label(for: String(repeating: "a", count: 63)) == String(repeating: "a", count: 63))
        let hashed = try Naming.label(for: String(repeating: "A", count: 38))
        #expect(hashed.hasPrefix("h--") && hashed.count == 35)
        #expect(try Naming.label(for: String(repeating: "A", count: 37)).hasPrefix("x--"))
    }

    @Test func encodedLabelsDecodeBack() throws {
        for name in ["Users", "a.b", "日本語", "with space", "UPPER-lower"] {
            #expect(Naming.name(forLabel: try Naming.label(for: name)) == name)
        }
    }

    @Test func labelsNeverCollideAcrossCase() throws {
        let names = ["users", "Users", "USERS", "uSers", "x--kvzwk4tt", "X--KVZWK4TT"]
        let labels = try names.map { try Naming.label(for: $0).lowercased() }
        #expect(Set(labels).count == names.count)
    }

    /// Digests and sealed ids are base64url without padding (RFC 4648 section 5): its test vectors,
    /// every length against Foundation's base64 with the alphabet swapped, and text no encoding has.
    /// A chunked record's `s` (section 7): the pieces are `s` octets, `c` must be `ceil(n / s)`,
    /// `s` lies in 512 to 60,000 and comes only with `c`; without it the pieces are 60,000.
    @Test func aRecordHeaderStatesItsDataChunkSize() throws {
        let name: DNSName = "r.example.test."
        let h = "\"h\":\"AAAAAAAAAAAAAAAAAAAAAA\""
        func header(_ members: String) throws -> RecordHeader {
            try RecordHeader(parsing: Array("{\"v\":1,\"id\":\"a\",\(h),\(members)}".utf8), at: name)
        }
        #expect(try header(#""n":5000,"c":5,"g":"0000abcd","s":1000"#).dataChunkOctets == 1000)
        #expect(try header(#""n":120000,"c":2,"g":"0000abcd""#).dataChunkOctets == 60_000)
        #expect(try header(#""n":1048604,"c":2049,"g":"0000abcd","s":512"#).chunkCount == 2049)
        for bad in [
            #""n":5000,"c":4,"g":"0000abcd","s":1000"#, #""n":5000,"c":1,"g":"0000abcd","s":1000"#,
            #""n":5000,"c":10,"g":"0000abcd","s":511"#, #""n":5000,"c":1,"g":"0000abcd","s":60001"#,
            #""n":5000,"s":1000"#, #""n":1048604,"c":2050,"g":"0000abcd","s":512"#, #""n":5000,"c":5,"g":"0000abcd","s":"1000""#,
        ] {
            #expect(throws: StoreError.self, "\(bad)") { try header(bad) }
        }
    }

    /// With a backend's limits, a document stays inline when its record fits, and is otherwise cut
    /// at the largest size from 60,000 down by tenths at which every piece fits.
    @Test func backendLimitsChooseInliningAndTheDataChunkSize() throws {
        let limits = BackendLimits(recordFits: { $0.joined.count <= 1_000 }, dataChunksPerUpdate: 3)
        let header = RecordHeader(version: 1, id: "a", storedLength: 0, digest: "AAAAAAAAAAAAAAAAAAAAAA")
        #expect(try WritePlan.fitsInline(header, Array(repeating: 0x61, count: 900), limits))
        #expect(try !WritePlan.fitsInline(header, Array(repeating: 0x61, count: 990), limits))
        #expect(try WritePlan.fitsInline(header, Array(repeating: 0x61, count: 16_000), nil))
        #expect(try !WritePlan.fitsInline(header, Array(repeating: 0x61, count: 16_001), nil))
        #expect(try WritePlan.dataChunkSize(for: Array(repeating: 0, count: 50_000), limits, path: "p") == 981)
        #expect(try WritePlan.dataChunkSize(for: Array(repeating: 0, count: 50_000), nil, path: "p") == 60_000)
        let never = BackendLimits(recordFits: { _ in false }, dataChunksPerUpdate: 1)
        #expect(throws: StoreError.self) { try WritePlan.dataChunkSize(for: [1, 2, 3], never, path: "p") }
    }

    @Test func base64URLFollowsRFC4648() throws {
        let vectors = ["": "", "f": "Zg", "fo": "Zm8", "foo": "Zm9v", "foob": "Zm9vYg", "fooba": "Zm9vYmE", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64URL.encode(Array(plain.utf8)) == encoded)
            #expect(Base64URL.decode(encoded) == Array(plain.utf8))
        }
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let octets = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let foundation = Data(octets).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            #expect(Base64URL.encode(octets) == foundation)
            #expect(Base64URL.decode(foundation) == octets)
        }
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        for bad in ["a", "abcde", "ab+c", "ab/c", "ab=", "a b", "é"] { #expect(Base64URL.decode(bad) == nil, "\(bad)") }
    }

    @Test func chunkPlacementIsSHA256ModTotal() {
        // SHA-256("users") starts 0xdb6a8... ; any reader computes the same chunk.
        let first = Naming.chunk(for: "users", total: 1 << 30)
        #expect(first == Naming.chunk(for: "users", total: 1 << 30))
        #expect((0..<16).contains(Naming.chunk(for: "users", total: 16)))
        #expect(Naming.chunk(for: "users", total: 16) == first % 16)
        #expect(Naming.chunk(for: "anything", total: 1) == 0)
    }

    @Test func recordTextRoundTrips() throws {
        let header = RecordHeader(version: 3, id: "doc", storedLength: 5, digest: RecordText.digest(Array("[1,2]".utf8)))
        let rdata = try RecordText.rdata(header: header, body: Array("[1,2]".utf8))
        let parsed = try RecordText.parse(rdata, name: "r.example.")
        #expect(parsed.header == header)
        #expect(parsed.body == Array("[1,2]".utf8))
        // Any cut into character-strings reads the same.
        guard case .txt(let txt) = rdata else { return }
        let recut = RData.txt(TXT(strings: txt.joined.map { [$0] }))
        #expect(try RecordText.parse(recut, name: "r.example.").body == Array("[1,2]".utf8))
    }

    @Test func badRecordsAreCorrupted() {
        #expect(throws: StoreError.corrupted("r.example. has no header line")) {
            try RecordText.parse(.txt(TXT("no newline")), name: "r.example.")
        }
        #expect(throws: StoreError.corrupted("r.example. uses encoding 'zstd', which this version cannot read")) {
            try RecordText.parse(.txt(TXT("{\"v\":1,\"id\":\"a\",\"n\":0,\"h\":\"47DEQpj8HBSa-_TImW-5JA\",\"e\":\"zstd\"}\n")), name: "r.example.")
        }
    }

    @Test func indexPagesRoundTrip() throws {
        let page = IndexPage(chunk: 3, page: 0, pages: 2, entries: ["a": .node(NodeMetadata(name: "a", chunks: ChunkCount(total: 8)))])
        let text = try page.text(level: .database)
        #expect(String(decoding: text, as: UTF8.self) == #"{"database":{"a":{"chunks":{"total":8},"name":"a"}},"id":3,"pages":2}"#)
        #expect(try IndexPage(text: text, level: .database, name: "i.example.") == page)
        let records = IndexPage(chunk: 0, page: 1, entries: ["x": IndexEntry.unleased])
        #expect(String(decoding: try records.text(level: .record), as: UTF8.self) == #"{"id":0,"page":1,"record":{"x":{}}}"#)
    }

    /// Record pages are read by a quick scan where they are as writers write them, and by the
    /// general parser otherwise; both read the same.
    @Test func recordPagesReadTheSameEitherWay() throws {
        let ids = ["a", "é-accent", "日本", String(repeating: "z", count: 200), "\u{1F600}", "with space"]
        for (pages, floor) in [(1, 0), (3, 0), (1, 9)] {
            for page in [0, 2] {
                let index = IndexPage(chunk: 7, page: page, pages: pages, floor: floor, entries: Dictionary(uniqueKeysWithValues: ids.map { ($0, IndexEntry.unleased) }))
                let text = try index.text(level: .record)
                #expect(RecordPageScan(text) != nil)
                let quick = try IndexPage(text: text, level: .record, name: "i.example.")
                #expect(quick == (try IndexPage(parsing: text, level: .record, name: "i.example.")))
                #expect(quick.entries == index.entries && quick.floor == (page == 0 ? floor : 0))
            }
        }
        // Not as writers write them: the general parser reads or refuses them.
        let others = [
            #"{ "id":0,"record":{"a":{}}}"#, #"{"id":0,"record":{"a\u0062":{}}}"#, #"{"id":0,"record":{"a":{},"a":{}}}"#,
            #"{"id":0.0,"record":{}}"#, #"{"id":01,"record":{}}"#, #"{"id":0,"record":{},"x":1}"#, #"{"id":0}"#,
            #"{"record":{}}"#, #"{"id":0,"record":{"a":{}}"#, #"{"id":0,"record":{"a":{}}}x"#, #"{"id":0,"pages":0,"record":{}}"#,
        ]
        for text in others {
            let bytes = Array(text.utf8)
            #expect(RecordPageScan(bytes) == nil || (try? IndexPage(parsing: bytes, level: .record, name: "i.")) == nil, "\(text)")
            #expect((try? IndexPage(text: bytes, level: .record, name: "i.")) == (try? IndexPage(parsing: bytes, level: .record, name: "i.")), "\(text)")
        }
    }

    /// Writers size pages without serializing them; the count must be the text's, octet for octet.
    @Test func pageLengthsAreCountedExactly() throws {
        let ids = ["a", "é\"quoted\"", "tab\there", "日本", String(repeating: "z", count: 200), "\u{1F600}"]
        for page in [0, 1, 12] {
            for (pages, floor) in [(1, 0), (2, 0), (1, 7), (130, 1_000_000)] {
                for count in 0...ids.count {
                    let entries = Dictionary(uniqueKeysWithValues: ids.prefix(count).map { ($0, IndexEntry.unleased) })
                    let index = IndexPage(chunk: 15, page: page, pages: pages, floor: floor, entries: entries)
                    #expect(try index.textLength(level: .record) == index.text(level: .record).count)
                    let nodes = IndexPage(
                        chunk: 2, page: page, pages: pages,
                        entries: Dictionary(uniqueKeysWithValues: ids.prefix(count).map { ($0, IndexEntry.node(NodeMetadata(name: $0, chunks: ChunkCount(total: 16)))) }))
                    #expect(try nodes.textLength(level: .collection) == nodes.text(level: .collection).count)
                }
            }
        }
    }
}

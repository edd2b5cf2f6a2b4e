@testable import DNSStore
import DNSWire
import FuzzSupport

/// A TXT text read as a record and as index pages of every level: never traps; a record that
/// parses writes out the same header; its body decodes (zlib, within the limit) or is refused;
/// zlib never inflates past the limit it is given.
@_cdecl("fuzz_record_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    Fuzz.main(argc, argv) { data, count in fuzzRecord(UnsafeRawPointer(data!), count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecord(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Fuzz.bytes(start, count)
    let rdata = RData.txt(TXT(splitting: bytes))
    if let record = try? RecordText.parse(rdata, name: "r.example.", anyEncoding: true),
        let again = try? RecordText.rdata(header: record.header, body: record.body),
        let reparsed = try? RecordText.parse(again, name: "r.example.", anyEncoding: true)
    {
        Fuzz.require(reparsed.header == record.header && reparsed.body == record.body, "a record does not round-trip")
        let codec = CollectionCodec(root: "r.example.", database: "d", collection: "c", secrets: nil)
        if let document = try? codec.decode(record.body, header: record.header, id: "x", at: "r.example.") {
            Fuzz.require(document.count <= RecordText.maxDocument, "a record decoded past the document limit")
        }
    }
    if let inflated = try? Zlib.decompress(bytes, limit: 65_536) {
        Fuzz.require(inflated.count <= 65_536, "zlib inflated past its limit")
    }
    // The quick reading of record pages agrees with the general one wherever it reads at all.
    if RecordPageScan(bytes) != nil {
        let quick = try? IndexPage(text: bytes, level: .record, name: "i.example.")
        let general = try? IndexPage(parsing: bytes, level: .record, name: "i.example.")
        Fuzz.require(quick == general, "the quick and general readings of a record page differ")
    }
    for level in [IndexLevel.database, .collection, .record] {
        if let page = try? IndexPage(text: bytes, level: level, name: "i.example."), let text = try? page.text(level: level) {
            let again = try? IndexPage(text: text, level: level, name: "i.example.")
            Fuzz.require(again?.entries.keys.sorted() == page.entries.keys.sorted(), "an index page does not round-trip")
        }
    }
    return 0
}

@testable import DNSStore
import DNSWire
import FuzzSupport

/// A TXT text read as a record, a record header, index pages of every level and node metadata:
/// never traps, allocates or loops beyond the format's bounds; a record that parses writes out the
/// same header, within the bounds; its body decodes (zlib, within the limit) or is refused; zlib
/// never inflates past the limit it is given; metadata that parses is within the bounds.
@_cdecl("fuzz_record_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    Fuzz.main(argc, argv) { data, count in fuzzRecord(UnsafeRawPointer(data!), count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecord(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Fuzz.bytes(start, count)
    let rdata = RData.txt(TXT(splitting: bytes))
    if let record = try? RecordText.parse(rdata, name: "r.example.", tolerateNewer: true),
        let again = try? RecordText.rdata(header: record.header, body: record.body),
        let reparsed = try? RecordText.parse(again, name: "r.example.", tolerateNewer: true)
    {
        Fuzz.require(reparsed.header == record.header && reparsed.body == record.body, "a record does not round-trip")
        let codec = CollectionCodec(root: "r.example.", database: "d", collection: "c", secrets: nil)
        if let document = try? codec.decode(record.body, header: record.header, id: "x", at: "r.example.") {
            Fuzz.require(document.count <= RecordText.maxDocument, "a record decoded past the document limit")
        }
    }
    if let header = try? RecordHeader(parsing: bytes, at: "r.example.") {
        Fuzz.require((1...FormatLimits.maxVersion).contains(header.version), "a header's version is out of bounds")
        Fuzz.require((0...FormatLimits.maxStoredOctets).contains(header.storedLength), "a header's length is out of bounds")
        Fuzz.require(header.chunkCount.map { (1...FormatLimits.maxDataChunks).contains($0) } ?? true, "a header's chunk count is out of bounds")
    }
    for metadata in [try? MetadataJSON.decode(NodeMetadata.self, bytes, name: "n.example.")] {
        if let metadata {
            Fuzz.require((1...FormatLimits.maxChunks).contains(metadata.chunks.total) && FormatLimits.isName(metadata.name), "metadata is out of bounds")
        }
    }
    if let root = try? MetadataJSON.decode(RootMetadata.self, bytes, name: "r.example.") {
        Fuzz.require((1...FormatLimits.maxChunks).contains(root.chunks.total), "the root's chunks are out of bounds")
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
        if let page = try? IndexPage(text: bytes, level: level, name: "i.example.") {
            Fuzz.require((1...FormatLimits.maxPages).contains(page.pages) && page.floor <= FormatLimits.maxVersion, "a page's numbers are out of bounds")
        }
        if let page = try? IndexPage(text: bytes, level: level, name: "i.example."), let text = try? page.text(level: level) {
            let again = try? IndexPage(text: text, level: level, name: "i.example.")
            Fuzz.require(again?.entries.keys.sorted() == page.entries.keys.sorted(), "an index page does not round-trip")
        }
    }
    return 0
}

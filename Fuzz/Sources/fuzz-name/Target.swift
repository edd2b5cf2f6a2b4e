import DNSWire
import FuzzSupport

/// A name read at every offset of any octets: pointers may only go backwards, so it ends; what is
/// read is a valid name that prints and parses back.
@_cdecl("fuzz_name_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    Fuzz.main(argc, argv) { data, count in fuzzName(UnsafeRawPointer(data!), count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzName(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Fuzz.bytes(start, count)
    for offset in 0..<min(bytes.count, 64) {
        let read = try? WireReader.reading(bytes) { reader -> DNSName in
            reader.offset = offset
            return try reader.readName()
        }
        guard let name = read else { continue }
        Fuzz.require(name.wireLength <= 255, "a name of \(name.wireLength) octets")
        Fuzz.require((try? DNSName(name.description)) == name, "\(name) does not parse back")
    }
    if let name = try? DNSName(String(decoding: bytes, as: UTF8.self)) {
        Fuzz.require((try? DNSName(name.description)) == name, "presentation form does not round-trip")
    }
    return 0
}

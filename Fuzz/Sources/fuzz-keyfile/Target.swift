import DNSWire
import FuzzSupport

/// Key files and key strings: parsing never traps, and a key that parses writes out a file that
/// parses back to it.
@_cdecl("fuzz_keyfile_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    Fuzz.main(argc, argv) { data, count in fuzzKeyFile(UnsafeRawPointer(data!), count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzKeyFile(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let text = String(decoding: Fuzz.bytes(start, count), as: UTF8.self)
    if let keys = try? TSIGKey.parseBINDKeyFile(text) {
        for key in keys {
            Fuzz.require((try? TSIGKey.parseBINDKeyFile(key.bindKeyFile))?.first == key, "\(key.name) does not round-trip")
        }
    }
    _ = try? TSIGKey(parsing: text)
    return 0
}

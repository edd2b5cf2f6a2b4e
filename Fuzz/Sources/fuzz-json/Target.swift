import DNSStore
import FuzzSupport

/// Strict JSON: compacting is idempotent, and pretty output compacts back to the compact form.
@_cdecl("fuzz_json_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    Fuzz.main(argc, argv) { data, count in fuzzJSON(UnsafeRawPointer(data!), count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Fuzz.bytes(start, count)
    guard let compact = try? JSONText.compact(bytes) else { return 0 }
    Fuzz.require((try? JSONText.compact(compact)) == compact, "compacting twice changes the text")
    guard let pretty = JSONText.pretty(compact) else {
        Fuzz.require(false, "valid text does not pretty-print")
        return 0
    }
    Fuzz.require((try? JSONText.compact(pretty)) == compact, "pretty text does not compact back")
    return 0
}

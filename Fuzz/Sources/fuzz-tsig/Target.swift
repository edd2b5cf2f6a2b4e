import DNSWire
import FuzzSupport
import NIOCore

let key = TSIGKey.generate(name: "fuzz-key.")

/// Any message checked as a signed request and as a signed response: never traps, and a message
/// we sign ourselves always verifies.
@_cdecl("fuzz_tsig_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    Fuzz.main(argc, argv) { data, count in fuzzTSIG(UnsafeRawPointer(data!), count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTSIG(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let buffer = ByteBuffer(bytes: Fuzz.bytes(start, count))
    guard let message = try? Message(decoding: buffer) else { return 0 }
    _ = TSIGVerifier.checkRequest(buffer, message: message, keys: [key], now: 1_700_000_000)
    var verifier = TSIGVerifier(key: key, requestMAC: Array(repeating: 7, count: 32))
    _ = try? verifier.verify(buffer, message: message, now: 1_700_000_000)
    var unsigned = message
    unsigned.tsig = nil
    if let encoded = try? unsigned.encode(), let signed = try? TSIGSigner.sign(encoded, key: key, timeSigned: 1_700_000_000),
        let decoded = try? Message(decoding: signed.message)
    {
        if case .valid = TSIGVerifier.checkRequest(signed.message, message: decoded, keys: [key], now: 1_700_000_000) {} else {
            Fuzz.require(false, "a request we signed does not verify")
        }
    }
    return 0
}

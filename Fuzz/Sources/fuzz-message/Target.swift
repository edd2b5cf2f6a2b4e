import DNSWire
import FuzzSupport
import NIOCore

/// Any octets: decoding never traps; what decodes encodes, and decodes again to the same message.
@_cdecl("fuzz_message_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    Fuzz.main(argc, argv) { data, count in fuzzMessage(UnsafeRawPointer(data!), count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMessage(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard let message = try? Message(decoding: Fuzz.bytes(start, count)) else { return 0 }
    guard let encoded = try? message.encode() else { return 0 }
    guard let again = try? Message(decoding: encoded) else {
        Fuzz.require(false, "a message we encoded does not decode")
        return 0
    }
    Fuzz.require(again.id == message.id && again.opcode == message.opcode && again.rcode == message.rcode, "header changed")
    Fuzz.require(again.questions == message.questions, "questions changed")
    Fuzz.require(again.answers == message.answers && again.authority == message.authority, "records changed")
    Fuzz.require(again.additional == message.additional && again.edns == message.edns && again.tsig == message.tsig, "additional changed")
    return 0
}

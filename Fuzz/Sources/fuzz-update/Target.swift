import DNSServer
import DNSWire
import FuzzSupport
import NIOCore

/// Any message, turned into an UPDATE of the zone and handed to a fresh engine (so that a finding
/// replays alone): it answers, never traps, and the zone keeps its SOA and NS and answers queries.
@_cdecl("fuzz_update_main")
public func main(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    Fuzz.main(argc, argv) { data, count in fuzzUpdate(UnsafeRawPointer(data!), count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzUpdate(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    guard var message = try? Message(decoding: Fuzz.bytes(start, count)) else { return 0 }
    message.opcode = .update
    message.isResponse = false
    message.questions = [Question(name: "example.test.", type: .soa)]
    message.tsig = nil
    guard let request = try? message.encode() else { return 0 }
    let authority = try! Authority(inMemory: AuthorityConfiguration(zones: ["example.test."], keys: []))
    let answers = authority.handle(request, over: .local)
    Fuzz.require(answers.count == 1, "an UPDATE got \(answers.count) answers")
    for type in [RRType.soa, .ns] {
        let query = try! Message.query("example.test.", type: type, id: 1).encode()
        let answer = try! Message(decoding: authority.handle(query, over: .local)[0])
        Fuzz.require(answer.rcode == .noError && !answer.answers.isEmpty, "the zone lost its \(type)")
    }
    return 0
}

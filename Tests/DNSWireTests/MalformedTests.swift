import DNSWire
import NIOCore
import Testing

/// Decoding must end in a typed error, never a trap or an out-of-bounds read, whatever the input.
@Suite("Malformed input")
struct MalformedTests {
    static let header: [UInt8] = [0x12, 0x34, 0x81, 0x00]

    static func message(qd: UInt16 = 0, an: UInt16 = 0, ns: UInt16 = 0, ar: UInt16 = 0, _ body: [UInt8]) -> [UInt8] {
        header + [qd, an, ns, ar].flatMap { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } + body
    }

    @Test(arguments: ["everyType", "update"])
    func truncationAtEveryOffsetIsAnError(_ fixture: String) throws {
        let bytes = Fixtures.bytes(fixture == "update" ? Fixtures.update : Fixtures.everyType)
        #expect(throws: Never.self) { try Message(decoding: bytes) }
        for length in 0..<bytes.count {
            #expect(throws: DNSWireError.self) { try Message(decoding: Array(bytes[0..<length])) }
        }
    }

    @Test func pointerLoopsAreRejected() {
        // The question name is a pointer to itself.
        #expect(throws: DNSWireError.forwardPointer(offset: 12)) {
            try Message(decoding: Self.message(qd: 1, [0xC0, 12, 0, 16, 0, 1]))
        }
        // Label "a" then a pointer back to it: a loop through a label.
        #expect(throws: DNSWireError.forwardPointer(offset: 12)) {
            try Message(decoding: Self.message(qd: 1, [1, 97, 0xC0, 12, 0, 16, 0, 1]))
        }
        // Two names pointing at each other.
        #expect(throws: DNSWireError.self) {
            try Message(decoding: Self.message(qd: 2, [0xC0, 18, 0, 16, 0, 1, 0xC0, 12, 0, 16, 0, 1]))
        }
    }

    @Test func forwardPointersAreRejected() {
        #expect(throws: DNSWireError.forwardPointer(offset: 20)) {
            try Message(decoding: Self.message(qd: 1, [0xC0, 20, 0, 16, 0, 1, 0, 0, 1, 97, 0]))
        }
    }

    @Test func longChainsOfPointersAreCapped() {
        // 200 pointers, each to the one before: backwards, but more hops than any name needs.
        var body: [UInt8] = [1, 97, 0]
        var previous = 12
        for _ in 0..<200 {
            let here = 12 + body.count
            body += [0xC0 | UInt8(previous >> 8), UInt8(previous & 0xFF)]
            previous = here
        }
        body[body.count - 2] = 0xC0 | UInt8((previous - 2) >> 8)
        let question = [0xC0 | UInt8(previous >> 8), UInt8(previous & 0xFF), 0, 16, 0, 1]
        let start = 12 + body.count
        _ = start
        #expect(throws: DNSWireError.self) { try Message(decoding: Self.message(qd: 1, body + question)) }
    }

    @Test func overlongLabelsAndNamesAreRejected() {
        #expect(throws: DNSWireError.badLabelType(64)) {
            try Message(decoding: Self.message(qd: 1, [64] + [UInt8](repeating: 97, count: 64) + [0, 0, 16, 0, 1]))
        }
        // Five labels of 63: 321 octets.
        let labels = (0..<5).flatMap { _ in [63] + [UInt8](repeating: 97, count: 63) }
        #expect(throws: DNSWireError.nameTooLong(257)) {
            try Message(decoding: Self.message(qd: 1, labels + [0, 0, 16, 0, 1]))
        }
        #expect(throws: DNSWireError.badLabelType(0x80)) { try Message(decoding: Self.message(qd: 1, [0x80, 0, 0, 16, 0, 1])) }
    }

    @Test func rdataLengthPastTheEndIsRejected() {
        // A TXT record claiming 200 octets of RDATA with 3 present.
        let record: [UInt8] = [0, 0, 16, 0, 1, 0, 0, 0, 60, 0, 200, 2, 104, 105]
        #expect(throws: DNSWireError.truncated("TXT RDATA")) { try Message(decoding: Self.message(an: 1, record)) }
        // A character-string running past its RDLENGTH.
        let overrun: [UInt8] = [0, 0, 16, 0, 1, 0, 0, 0, 60, 0, 2, 5, 104, 105, 106, 107, 108]
        #expect(throws: DNSWireError.self) { try Message(decoding: Self.message(an: 1, overrun)) }
        // An A record of 5 octets.
        let longA: [UInt8] = [0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 5, 1, 2, 3, 4, 5]
        #expect(throws: DNSWireError.rdataLengthMismatch(type: .a, expected: 5, actual: 4)) {
            try Message(decoding: Self.message(an: 1, longA))
        }
    }

    @Test func countsLargerThanTheMessageAreRejected() {
        #expect(throws: DNSWireError.countExceedsMessage(section: "record", count: 65535)) {
            try Message(decoding: Self.message(an: 65535, [0, 0, 16, 0, 1, 0, 0, 0, 60, 0, 0]))
        }
        #expect(throws: DNSWireError.countExceedsMessage(section: "question", count: 3)) {
            try Message(decoding: Self.message(qd: 3, [0, 0, 16, 0, 1]))
        }
        // A count that passes the size check while the records it promises run short.
        #expect(throws: DNSWireError.truncated("record TTL")) {
            try Message(decoding: Self.message(an: 1, [3, 97, 97, 97, 0, 0, 16, 0, 1, 0, 0]))
        }
    }

    @Test func misplacedOPTAndTSIGAreRejected() {
        let opt: [UInt8] = [0, 0, 41, 4, 208, 0, 0, 0, 0, 0, 0]
        #expect(throws: DNSWireError.badOPT("in the answer section")) { try Message(decoding: Self.message(an: 1, opt)) }
        #expect(throws: DNSWireError.badOPT("more than one OPT record")) { try Message(decoding: Self.message(ar: 2, opt + opt)) }
        let tsig: [UInt8] = [0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 0]
        #expect(throws: DNSWireError.badTSIGPlacement) { try Message(decoding: Self.message(ar: 2, tsig + opt)) }
    }

    @Test func trailingBytesAreRejected() {
        #expect(throws: DNSWireError.trailingBytes(2)) { try Message(decoding: Self.message([1, 2])) }
    }

    @Test func randomBytesNeverTrap() {
        var rng = SplitMix64(seed: 0xD15_5703E)
        let valid = Fixtures.bytes(Fixtures.everyType)
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 2 == 0 {
                bytes = (0..<Int(rng.next() % 300)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                // Valid message with a few octets flipped: reaches deeper code than pure noise.
                bytes = valid
                for _ in 0..<(1 + rng.next() % 4) {
                    bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
                }
            }
            do {
                let m = try Message(decoding: bytes)
                // Whatever decodes must encode again.
                _ = try? m.encode()
            } catch is DNSWireError {
            } catch {
                Issue.record("untyped error \(error)")
            }
        }
    }
}

/// A small deterministic generator so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

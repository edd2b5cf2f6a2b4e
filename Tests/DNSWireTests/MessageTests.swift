import DNSWire
import NIOCore
import Testing

@Suite("Messages")
struct MessageTests {
    @Test func everyTypeRoundTrips() throws {
        let message = Fixtures.everyType
        let decoded = try Message(decoding: Fixtures.bytes(message))
        #expect(decoded == message)
        #expect(decoded.answers.map(\.type) == [.a, .aaaa, .cname, .mx, .ptr, .txt, RRType(65280)])
        #expect(decoded.edns?.options.first?.data == Array(0..<8))
    }

    @Test func everyHeaderFlagRoundTrips() throws {
        for bit in 0..<8 {
            var m = Message(id: UInt16(bit), questions: [Question(name: "x.", type: .txt)])
            m.isResponse = bit == 0
            m.authoritative = bit == 1
            m.truncated = bit == 2
            m.recursionDesired = bit == 3
            m.recursionAvailable = bit == 4
            m.zBit = bit == 5
            m.authenticData = bit == 6
            m.checkingDisabled = bit == 7
            #expect(try Message(decoding: Fixtures.bytes(m)) == m)
        }
        for opcode in [Opcode.query, .notify, .update, .status] {
            let m = Message(opcode: opcode)
            #expect(try Message(decoding: Fixtures.bytes(m)).opcode == opcode)
        }
    }

    @Test func extendedRCodesTravelInOPT() throws {
        var m = Message(isResponse: true, rcode: .badVers, edns: EDNS())
        let bytes = Fixtures.bytes(m)
        #expect(bytes[3] & 0x0F == 0)  // header holds the low bits
        #expect(try Message(decoding: bytes).rcode == .badVers)
        m.rcode = ResponseCode(0xABC)
        #expect(try Message(decoding: Fixtures.bytes(m)).rcode == ResponseCode(0xABC))
        m.edns = nil
        #expect(throws: DNSWireError.extendedRCodeWithoutEDNS(0xABC)) { try m.encode() }
    }

    @Test func unknownTypesAreKeptByteForByte() throws {
        // TYPE65280 with octets that look like a compression pointer: never interpreted.
        let decoded = try Message(decoding: Fixtures.bytes(Fixtures.everyType))
        #expect(decoded.answers.last?.rdata == .opaque([1, 2, 3, 0xC0, 0x0C]))
        #expect(decoded.answers.last?.rdata.presentation == ##"\# 5 010203C00C"##)
    }

    @Test func namesAreCompressed() throws {
        let message = Fixtures.everyType
        let compressed = try message.encode().readableBytes
        var writer = WireWriter()
        writer.compression = false
        try message.encode(into: &writer)
        #expect(compressed < writer.buffer.readableBytes - 60)
        // A name repeated many times costs two octets after its first occurrence.
        var many = Message(questions: [Question(name: "some.long.name.example.com.", type: .txt)])
        many.answers = (0..<100).map { _ in .txt("some.long.name.example.com.", TXT("x")) }
        let size = try many.encode().readableBytes
        #expect(size == 12 + 28 + 4 + 100 * (2 + 10 + 2))
    }

    @Test func compressionKeepsCase() throws {
        var m = Message(questions: [Question(name: "Mixed.Example.", type: .txt)])
        m.answers = [.txt("mixed.example.", TXT("a")), .txt("other.MIXED.Example.", TXT("b"))]
        let decoded = try Message(decoding: Fixtures.bytes(m))
        #expect(decoded.answers.map(\.name.description) == ["mixed.example.", "other.MIXED.Example."])
    }

    @Test func messageLargerThanLimitIsRefused() throws {
        var m = Message()
        m.answers = [.txt("big.", TXT(splitting: [UInt8](repeating: 1, count: 2000)))]
        #expect(throws: DNSWireError.messageTooLarge(size: try m.encode().readableBytes, limit: 512)) {
            try m.encode(maxSize: 512)
        }
        var long = Message()
        long.answers = [.txt("x.", TXT(strings: [[UInt8](repeating: 1, count: 256)]))]
        #expect(throws: DNSWireError.characterStringTooLong(256)) { try long.encode() }
    }

    @Test func txtSplitsIntoCharacterStrings() {
        #expect(TXT(splitting: []).strings == [[]])
        #expect(TXT(splitting: [UInt8](repeating: 1, count: 255)).strings.count == 1)
        #expect(TXT(splitting: [UInt8](repeating: 1, count: 256)).strings.map(\.count) == [255, 1])
        #expect(TXT(splitting: Array(0...200) + Array(0...200)).joined == Array(0...200) + Array(0...200))
    }

    @Test func addressesParseAndPrint() throws {
        #expect(try IPv6Address("2001:db8:0:0:1:0:0:1").description == "2001:db8::1:0:0:1")
        #expect(try IPv6Address("::").description == "::")
        #expect(try IPv6Address("::1").array.last == 1)
        #expect(throws: DNSWireError.self) { try IPv6Address("1::2::3") }
        #expect(try IPv4Address("10.0.0.255").description == "10.0.0.255")
        #expect(throws: DNSWireError.self) { try IPv4Address("256.1.1.1") }
    }
}

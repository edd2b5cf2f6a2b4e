import DNSWire
import Foundation
import NIOCore
import Testing

@Suite("TSIG")
struct TSIGTests {
    static let key = try! TSIGKey(parsing: "hmac-sha256:test-key:" + "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==")

    static func signedResponse(to request: Message, key: TSIGKey, requestMAC: [UInt8], time: UInt64) throws -> ByteBuffer {
        var response = request
        response.isResponse = true
        response.answers = [.txt("a.example.", TXT("answer"))]
        return try TSIGSigner.sign(try response.encode(), key: key, timeSigned: time, requestMAC: requestMAC).message
    }

    @Test(arguments: TSIGAlgorithm.allCases)
    func signsAndVerifiesWithEveryAlgorithm(_ algorithm: TSIGAlgorithm) throws {
        let key = TSIGKey.generate(name: "k.", algorithm: algorithm)
        let request = Message.query("a.example.", type: .txt, id: 7)
        let (signed, mac) = try TSIGSigner.sign(try request.encode(), key: key, timeSigned: 1_700_000_000)
        #expect(mac.count == algorithm.macLength)
        let decoded = try Message(decoding: signed)
        #expect(decoded.tsig?.mac == mac)
        #expect(decoded.tsig?.algorithm == algorithm.name)
        #expect(decoded.tsig?.originalID == 7)

        // The request verifies as a server would check it.
        var server = TSIGVerifier(key: key, requestMAC: nil)
        try server.verify(signed, message: decoded, now: 1_700_000_010)

        let response = try Self.signedResponse(to: request, key: key, requestMAC: mac, time: 1_700_000_001)
        var client = TSIGVerifier(key: key, requestMAC: mac)
        try client.verify(response, message: try Message(decoding: response), now: 1_700_000_002)
    }

    @Test func anyChangedOctetFailsVerification() throws {
        let request = Message.query("a.example.", type: .txt, id: 9)
        let (_, mac) = try TSIGSigner.sign(try request.encode(), key: Self.key, timeSigned: 1000)
        let response = try Self.signedResponse(to: request, key: Self.key, requestMAC: mac, time: 1000)
        let tsigStart = try Message(decoding: response).tsigOffset!
        // The ID (octets 0 and 1) is left out: the MAC covers the original ID kept in the TSIG record.
        for offset in 2..<tsigStart {
            var tampered = response
            tampered.setInteger(response.getInteger(at: offset, as: UInt8.self)! ^ 0x20, at: offset)
            guard let message = try? Message(decoding: tampered) else { continue }
            var verifier = TSIGVerifier(key: Self.key, requestMAC: mac)
            #expect(throws: TSIGError.self) { try verifier.verify(tampered, message: message, now: 1000) }
        }
        // The response to another request (another request MAC) does not verify either.
        var other = TSIGVerifier(key: Self.key, requestMAC: [UInt8](repeating: 0, count: 32))
        #expect(throws: TSIGError.responseSignatureInvalid) {
            try other.verify(response, message: try Message(decoding: response), now: 1000)
        }
    }

    @Test func timeOutsideTheFudgeIsRejected() throws {
        let request = Message.query("a.example.", type: .txt)
        let (_, mac) = try TSIGSigner.sign(try request.encode(), key: Self.key, timeSigned: 5000)
        let response = try Self.signedResponse(to: request, key: Self.key, requestMAC: mac, time: 5000)
        var verifier = TSIGVerifier(key: Self.key, requestMAC: mac)
        #expect(throws: TSIGError.responseTimeOutOfRange(signed: 5000, now: 5301)) {
            try verifier.verify(response, message: try Message(decoding: response), now: 5301)
        }
    }

    @Test func truncatedMACRules() throws {
        let request = Message.query("a.example.", type: .txt)
        let (_, mac) = try TSIGSigner.sign(try request.encode(), key: Self.key, timeSigned: 1)
        let response = try Self.signedResponse(to: request, key: Self.key, requestMAC: mac, time: 1)
        var message = try Message(decoding: response)
        let unsignedPart = response.getSlice(at: 0, length: message.tsigOffset!)!
        func withMAC(_ mac: [UInt8]) throws -> ByteBuffer {
            var writer = WireWriter(buffer: unsignedPart)
            message.tsig!.mac = mac
            var copy = Message()
            copy.tsig = message.tsig
            // Re-encode only the TSIG record after the untouched message octets.
            var tail = try copy.encode()
            tail.moveReaderIndex(forwardBy: 12)
            writer.writeBytes(tail.readableBytesView)
            return writer.buffer
        }
        let full = try Message(decoding: response).tsig!.mac
        // Half the MAC (16 of 32 octets) is allowed.
        let half = try withMAC(Array(full.prefix(16)))
        var ok = TSIGVerifier(key: Self.key, requestMAC: mac)
        try ok.verify(half, message: try Message(decoding: half), now: 1)
        // Shorter than half, or longer than the hash, is not.
        let short = try withMAC(Array(full.prefix(12)))
        var tooShort = TSIGVerifier(key: Self.key, requestMAC: mac)
        #expect(throws: TSIGError.responseMACSize(12)) { try tooShort.verify(short, message: try Message(decoding: short), now: 1) }
        let long = try withMAC(full + [0])
        var tooLong = TSIGVerifier(key: Self.key, requestMAC: mac)
        #expect(throws: TSIGError.responseMACSize(33)) { try tooLong.verify(long, message: try Message(decoding: long), now: 1) }
    }

    @Test func reportedErrorsAreDistinct() throws {
        let request = Message.query("a.example.", type: .txt)
        let (_, mac) = try TSIGSigner.sign(try request.encode(), key: Self.key, timeSigned: 1)
        for (code, error) in [(ResponseCode.badSig, TSIGError.badSignature), (.badKey, .badKey)] {
            var response = request
            response.isResponse = true
            response.rcode = .notAuth
            response.tsig = TSIGRecord(keyName: Self.key.name, algorithm: Self.key.algorithm.name, timeSigned: 1,
                                       fudge: 300, mac: [], originalID: 0, error: code)
            let bytes = try response.encode()
            var verifier = TSIGVerifier(key: Self.key, requestMAC: mac)
            #expect(throws: error) { try verifier.verify(bytes, message: try Message(decoding: bytes), now: 1) }
        }
        // BADTIME answers are signed; the signature is checked, then the error reported.
        var response = request
        response.isResponse = true
        response.rcode = .notAuth
        let signed = try TSIGSigner.sign(try response.encode(), key: Self.key, timeSigned: 1, requestMAC: mac, error: .badTime).message
        var verifier = TSIGVerifier(key: Self.key, requestMAC: mac)
        #expect(throws: TSIGError.badTime) { try verifier.verify(signed, message: try Message(decoding: signed), now: 1) }
    }

    @Test func md5IsRefusedAndSHA1Accepted() throws {
        #expect(throws: TSIGKeyError.self) { try TSIGAlgorithm(mnemonic: "hmac-md5") }
        #expect(throws: TSIGKeyError.self) { try TSIGAlgorithm(name: "hmac-md5.sig-alg.reg.int.") }
        #expect(try TSIGAlgorithm(mnemonic: "HMAC-SHA1") == .hmacSHA1)
        #expect(try TSIGAlgorithm(name: "hmac-sha512.") == .hmacSHA512)
    }
}

@Suite("TSIG key files")
struct KeyFileTests {
    @Test func readsWhatTsigKeygenWrites() throws {
        let text = """
            # a comment
            key "dnsstore-key" {
            \talgorithm hmac-sha384; // trailing comment
            \tsecret "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==";
            };
            /* a second key */
            key other.example. { algorithm hmac-sha256; secret "AAEC"; };
            """
        let keys = try TSIGKey.parseBINDKeyFile(text)
        #expect(keys.count == 2)
        #expect(keys[0].name == "dnsstore-key.")
        #expect(keys[0].algorithm == .hmacSHA384)
        #expect(keys[0].secret == Array("secret-secret-secret-secret!".utf8))
        #expect(keys[1].secret == [0, 1, 2])
        // What we write reads back.
        #expect(try TSIGKey.parseBINDKeyFile(keys[0].bindKeyFile) == [keys[0]])
    }

    @Test func readsColonForm() throws {
        let key = try TSIGKey(parsing: "hmac-sha512:my.key:AAEC")
        #expect(key.algorithm == .hmacSHA512)
        #expect(key.name == "my.key.")
        #expect(try TSIGKey(parsing: "my.key:AAEC").algorithm == .hmacSHA256)
    }

    @Test func badKeysNameTheProblem() {
        #expect(throws: TSIGKeyError.invalid("the secret of key k. is not valid base64")) { try TSIGKey(parsing: "hmac-sha256:k:!!!") }
        #expect(throws: TSIGKeyError.self) { try TSIGKey(parsing: "hmac-md5:k:AAEC") }
        #expect(throws: TSIGKeyError.invalid("expected [algorithm:]name:secret, got 1 fields separated by ':'")) { try TSIGKey(parsing: "nocolons") }
        #expect(throws: TSIGKeyError.invalid("key k has no secret")) { try TSIGKey.parseBINDKeyFile("key k { algorithm hmac-sha256; };") }
        #expect(throws: TSIGKeyError.invalid("the key file holds no key")) { try TSIGKey.parseBINDKeyFile("# nothing\n") }
        #expect(throws: TSIGKeyError.invalid("key file has an unclosed quote")) { try TSIGKey.parseBINDKeyFile("key \"k { ") }
    }

    /// A program reads its key from the file the server was given, by name when it holds several.
    @Test func aKeyIsReadFromItsFileByNameAndEveryProblemNamesTheFile() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tsig-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let (one, two) = (TSIGKey.generate(name: "one."), TSIGKey.generate(name: "two."))
        let single = directory.appendingPathComponent("single.key").path
        let both = directory.appendingPathComponent("both.key").path
        let broken = directory.appendingPathComponent("broken.key").path
        try one.bindKeyFile.write(toFile: single, atomically: true, encoding: .utf8)
        try (one.bindKeyFile + two.bindKeyFile).write(toFile: both, atomically: true, encoding: .utf8)
        try "key \"one\" { algorithm hmac-sha256; };".write(toFile: broken, atomically: true, encoding: .utf8)

        #expect(try TSIGKey(contentsOfFile: single) == one)
        #expect(try TSIGKey(contentsOfFile: both, named: "two.") == two)
        #expect(throws: TSIGKeyError.invalid("the key file \(both) holds 2 keys (one., two.); name the one to use")) {
            try TSIGKey(contentsOfFile: both)
        }
        #expect(throws: TSIGKeyError.invalid("the key file \(both) holds no key named three. (it holds one., two.)")) {
            try TSIGKey(contentsOfFile: both, named: "three.")
        }
        #expect(throws: TSIGKeyError.invalid("cannot read the key file \(directory.path)/none.key: it does not exist")) {
            try TSIGKey(contentsOfFile: directory.path + "/none.key")
        }
        #expect(throws: TSIGKeyError.invalid("the key file \(broken): key one has no secret")) { try TSIGKey(contentsOfFile: broken) }
    }

    /// A message that fits 65,535 octets unsigned but not with its TSIG record is refused, not
    /// framed with a length that does not fit two octets.
    @Test func aMessageThatSigningWouldCarryPast65535OctetsIsRefused() throws {
        func update(_ count: Int) -> UpdateBuilder {
            var update = UpdateBuilder(zone: "example.")
            update.replace("big.example.", .txt, with: [.txt(TXT(splitting: [UInt8](repeating: 0x78, count: count)))], ttl: 30)
            return update
        }
        // 40 octets short of the limit, too few for a TSIG record.
        var count = 65_000
        count += 65_535 - 40 - (try update(count).message().encode().readableBytes)
        if (try update(count).message().encode().readableBytes) > 65_535 - 40 { count -= 1 }
        let unsigned = try update(count).message().encode()
        #expect(unsigned.readableBytes <= 65_535 - 40 && unsigned.readableBytes > 65_535 - 44)
        #expect(throws: DNSWireError.self) { try TSIGSigner.sign(unsigned, key: TSIGTests.key, timeSigned: 1_700_000_000) }
    }
}

import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// Our TSIG MACs against an independent implementation, dnspython, for the same key, time and message.
@Suite("TSIG against dnspython", .enabled(if: TestMode.externalServers))
struct DnspythonInteropTests {
    static let script = """
        import sys, base64, time
        import dns.message, dns.tsig, dns.name
        mode, algorithm, secret, fixed, wire_hex = sys.argv[1:6]
        key = dns.tsig.Key("test-key.", base64.b64decode(secret), algorithm=algorithm + ".")
        wire = bytes.fromhex(wire_hex)
        time.time = lambda: float(fixed)
        if mode == "sign":
            m = dns.message.from_wire(wire)
            m.use_tsig(key, fudge=300, original_id=m.id)
            print(m.to_wire().hex())
        else:
            m = dns.message.from_wire(wire, keyring={dns.name.from_text("test-key."): key})
            print("verified" if m.had_tsig else "unsigned")
        """

    static func python(_ args: [String]) async throws -> String {
        let result = try await Subprocess.run("python3", ["-c", script] + args)
        guard result.status == 0 else { throw SubprocessError.failed("python3 (dnspython)", result) }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    @Test(arguments: [TSIGAlgorithm.hmacSHA1, .hmacSHA256, .hmacSHA384, .hmacSHA512])
    func sameMACAsDnspython(_ algorithm: TSIGAlgorithm) async throws {
        let key = try TSIGKey(name: "test-key.", algorithm: algorithm, secret: Array("a fixed secret for the test".utf8))
        let time: UInt64 = 1_767_225_600
        let query = Message.query("Doc.Example.", type: .txt, id: 0x1234, payloadSize: nil)
        let unsigned = try query.encode()
        let ours = try TSIGSigner.sign(unsigned, key: key, timeSigned: time)
        let theirs = try await Self.python(["sign", algorithm.rawValue, key.secretBase64, "\(time)", Self.hex(unsigned.readableBytesView)])
        #expect(Self.hex(ours.message.readableBytesView) == theirs)
    }

    @Test func dnspythonVerifiesOurSignedUpdate() async throws {
        let key = try TSIGKey(name: "test-key.", algorithm: .hmacSHA256, secret: Array("another secret".utf8))
        var update = UpdateBuilder(zone: "example.")
        update.require(.rrsetDoesNotExist("a.example.", .txt))
        update.add(.txt("a.example.", TXT(strings: [[0, 1, 2], Array("x".utf8)])))
        update.apply(.deleteRecord("b.example.", .txt, .txt(TXT("old"))))
        let time = UInt64(Date().timeIntervalSince1970)
        let signed = try TSIGSigner.sign(try update.message(id: 99).encode(), key: key, timeSigned: time)
        #expect(try await Self.python(["verify", "hmac-sha256", key.secretBase64, "\(time)", Self.hex(signed.message.readableBytesView)]) == "verified")
    }
}

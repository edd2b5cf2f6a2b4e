import DNSWire
import NIOCore

/// One request being answered: its message, how it came, and the key that signed it, which
/// signs the answer in turn.
struct RequestContext {
    let request: Message
    let octets: ByteBuffer
    let transport: RequestTransport
    let now: UInt64
    private(set) var key: TSIGKey?
    private(set) var requestMAC: [UInt8]?

    init(request: Message, octets: ByteBuffer, transport: RequestTransport, now: UInt64) {
        self.request = request
        self.octets = octets
        self.transport = transport
        self.now = now
    }

    /// Whether the sender proved a key, or is the embedding process itself.
    var isAuthenticated: Bool { key != nil || transport == .local }

    /// Checks the request's TSIG, if any (RFC 8945 section 5.2). Returns the error answer to send
    /// when it fails; nil when the request is unsigned or verified.
    mutating func verifyTSIG(keys: [TSIGKey]) -> ByteBuffer? {
        guard let tsig = request.tsig else { return nil }
        guard let key = keys.first(where: { $0.name == tsig.keyName && $0.algorithm.name == tsig.algorithm }) else {
            return tsigFailure(.badKey, tsig)
        }
        var verifier = TSIGVerifier(key: key, requestMAC: nil)
        do {
            try verifier.verify(octets, message: request, now: now)
        } catch TSIGError.responseTimeOutOfRange {
            // BADTIME answers are signed, so the client can trust the time we report.
            self.key = key
            self.requestMAC = tsig.mac
            var response = template(rcode: .notAuth)
            response.edns = nil
            let time = now
            let other: [UInt8] = (0..<6).map { UInt8(truncatingIfNeeded: time >> (8 * (5 - $0))) }
            // Time Signed repeats the request's; our clock goes in Other Data (RFC 8945 section 5.2.3).
            guard let unsigned = try? response.encode(),
                let signed = try? TSIGSigner.sign(
                    unsigned, key: key, timeSigned: tsig.timeSigned, requestMAC: tsig.mac, error: .badTime, otherData: other)
            else { return nil }
            return signed.message
        } catch TSIGError.responseMACSize {
            return tsigFailure(.badTrunc, tsig)
        } catch {
            return tsigFailure(.badSig, tsig)
        }
        self.key = key
        self.requestMAC = tsig.mac
        return nil
    }

    private func tsigFailure(_ error: ResponseCode, _ tsig: TSIGRecord) -> ByteBuffer? {
        var response = template(rcode: .notAuth)
        response.edns = nil
        response.tsig = TSIGSigner.errorRecord(for: tsig, error: error, timeSigned: now)
        return try? response.encode()
    }

    /// An answer to the request with its ID, opcode, question and RD bit.
    func template(rcode: ResponseCode) -> Message {
        var response = Message(
            id: request.id, isResponse: true, opcode: request.opcode, recursionDesired: request.recursionDesired,
            rcode: rcode, questions: request.questions)
        if request.edns != nil { response.edns = EDNS() }
        return response
    }

    func respond(rcode: ResponseCode, payloadLimit: Int) -> ByteBuffer {
        if rcode == .refused || rcode == .notAuth { ServerMetrics.refused.increment() }
        return finish(template(rcode: rcode), payloadLimit: payloadLimit)
    }

    /// Encodes, truncates to what the transport carries (TC set, records dropped), and signs.
    func finish(_ response: Message, payloadLimit: Int) -> ByteBuffer {
        var response = response
        if let edns = request.edns, edns.version > 0 {
            response = template(rcode: .badVers)
        }
        if let encoded = try? sign(try response.encode()), encoded.readableBytes <= payloadLimit {
            return encoded
        }
        response.truncated = true
        response.answers = []
        response.authority = []
        response.additional = []
        return (try? sign(try response.encode())) ?? ByteBuffer()
    }

    func sign(_ unsigned: ByteBuffer) throws -> ByteBuffer {
        guard let key, let requestMAC else { return unsigned }
        return try TSIGSigner.sign(unsigned, key: key, timeSigned: now, requestMAC: requestMAC).message
    }
}

import DNSWire
import NIOCore

/// One request being answered: its message, how it came, and the key that signed it, which
/// signs the answer in turn.
struct RequestContext {
    let request: Message
    let octets: ByteBuffer
    let transport: RequestTransport
    let now: UInt64
    /// Where it came from, for the log of refusals.
    let source: RequestSource
    private(set) var key: TSIGKey?
    private(set) var tsig: TSIGRecord?

    init(request: Message, octets: ByteBuffer, transport: RequestTransport, now: UInt64, source: RequestSource = .unknown) {
        self.request = request
        self.octets = octets
        self.transport = transport
        self.now = now
        self.source = source
    }

    /// Whether the sender proved a key, or is the embedding process itself.
    var isAuthenticated: Bool { key != nil || transport == .local }

    var requestMAC: [UInt8]? { key == nil ? nil : tsig?.mac }

    /// Checks the request's TSIG (RFC 8945 section 5.2). Returns the answer to send when it fails
    /// (nil: answer nothing) and why, naming no secret; `.proceed` when the request is unsigned
    /// or verified.
    mutating func checkTSIG(keys: [TSIGKey]) -> TSIGCheck {
        switch TSIGVerifier.checkRequest(octets, message: request, keys: keys, now: now) {
        case .unsigned:
            return .proceed
        case .valid(let key, let tsig):
            self.key = key
            self.tsig = tsig
            return .proceed
        case .malformed:
            var response = template(rcode: .formErr)
            response.edns = nil
            return .fail(try? response.encode(), reason: "malformed", why: "its TSIG record is malformed")
        case .badKey(let tsig):
            return .fail(tsigFailure(.badKey, tsig), reason: "badkey", why: "signed with key '\(tsig.keyName)' (\(tsig.algorithm)), which this server does not have")
        case .badSignature(let tsig):
            return .fail(tsigFailure(.badSig, tsig), reason: "badsig", why: "its signature does not verify with key '\(tsig.keyName)'")
        case .badTruncation(let tsig):
            return .fail(tsigFailure(.badTrunc, tsig), reason: "badtrunc", why: "its MAC with key '\(tsig.keyName)' is truncated too far")
        case .badTime(let key, let tsig):
            let skew = Int64(tsig.timeSigned) - Int64(now)
            return .fail(
                badTimeAnswer(key: key, tsig: tsig), reason: "badtime",
                why: "signed \(abs(skew)) s \(skew > 0 ? "ahead of" : "behind") this server's clock, beyond the \(tsig.fudge) s allowed (key '\(key.name)')")
        }
    }

    /// A BADTIME answer to a signed request, signed so the client can trust the time we report:
    /// Time Signed repeats the request's, our clock goes in Other Data (RFC 8945 section 5.2.3).
    func badTimeAnswer(key: TSIGKey? = nil, tsig: TSIGRecord? = nil) -> ByteBuffer? {
        guard let key = key ?? self.key, let tsig = tsig ?? self.tsig else { return nil }
        var response = template(rcode: .notAuth)
        response.edns = nil
        let time = now
        let other: [UInt8] = (0..<6).map { UInt8(truncatingIfNeeded: time >> (8 * (5 - $0))) }
        guard let unsigned = try? response.encode(),
            let signed = try? TSIGSigner.sign(unsigned, key: key, timeSigned: tsig.timeSigned, requestMAC: tsig.mac, error: .badTime, otherData: other)
        else { return nil }
        return signed.message
    }

    enum TSIGCheck {
        case proceed
        /// The answer, the metric's reason label, and why in words.
        case fail(ByteBuffer?, reason: String, why: String)
    }

    /// An unsigned answer that reports a key or MAC problem (RFC 8945 section 5.3.2).
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

    /// An answer with no records. `reason` goes in an Extended DNS Error (RFC 8914) when the
    /// request speaks EDNS, so a client can tell its user why.
    func respond(rcode: ResponseCode, payloadLimit: Int, reason: String? = nil, options: [EDNSOption] = []) -> ByteBuffer {
        var response = template(rcode: rcode)
        response.edns?.options += options
        if let reason, response.edns != nil {
            response.edns?.options.append(.extendedError(code: 0, text: String(reason.prefix(400))))
        }
        return finish(response, payloadLimit: payloadLimit)
    }

    /// Encodes, truncates to what the transport carries (TC set, records dropped), and signs.
    func finish(_ response: Message, payloadLimit: Int) -> ByteBuffer {
        var response = response
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

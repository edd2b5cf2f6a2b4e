import NIOCore

/// Signs messages with TSIG (RFC 8945 section 5.1, and 5.3 for responses).
public enum TSIGSigner {
    /// Fudge we send: five minutes, as RFC 8945 recommends.
    public static let defaultFudge: UInt16 = 300

    /// Appends a TSIG record to an encoded message that has none and returns the signed octets and
    /// the MAC (which a response's MAC chains from). `requestMAC` is set when signing a response.
    public static func sign(
        _ unsigned: ByteBuffer, key: TSIGKey, timeSigned: UInt64, fudge: UInt16 = defaultFudge,
        requestMAC: [UInt8]? = nil, error: ResponseCode = .noError, otherData: [UInt8] = []
    ) throws -> (message: ByteBuffer, mac: [UInt8]) {
        try signed(unsigned, key: key, timeSigned: timeSigned, fudge: fudge, priorMAC: requestMAC) { id in
            TSIGRecord(
                keyName: key.name, algorithm: key.algorithm.name, timeSigned: timeSigned, fudge: fudge, mac: [],
                originalID: id, error: error, otherData: otherData)
        } variables: { record, digest in
            TSIGVariables.writeFull(record, into: &digest)
        }
    }

    /// Appends the TSIG record `makeRecord` builds (from the message's ID) with its MAC over the
    /// prior MAC if any, the message and the variables `variables` writes; raises ARCOUNT.
    private static func signed(
        _ unsigned: ByteBuffer, key: TSIGKey, timeSigned: UInt64, fudge: UInt16, priorMAC: [UInt8]?,
        _ makeRecord: (UInt16) -> TSIGRecord, variables: (TSIGRecord, inout ByteBuffer) -> Void
    ) throws -> (message: ByteBuffer, mac: [UInt8]) {
        guard var header = MessageHeader(peeking: unsigned) else { throw DNSWireError.truncated("header") }
        var record = makeRecord(header.id)
        var digest = ByteBuffer()
        if let priorMAC {
            digest.writeInteger(UInt16(priorMAC.count))
            digest.writeBytes(priorMAC)
        }
        digest.writeImmutableBuffer(unsigned)
        variables(record, &digest)
        record.mac = digest.withUnsafeReadableBytes { key.keyed.mac($0) }
        var writer = WireWriter(buffer: unsigned)
        record.encode(into: &writer)
        var signed = writer.buffer
        // The record can carry a message past what DNS allows (TCP frames it in two octets).
        guard signed.readableBytes <= 65535 else { throw DNSWireError.messageTooLarge(size: signed.readableBytes, limit: 65535) }
        header.additionalCount &+= 1
        header.write(over: &signed)
        return (signed, record.mac)
    }
}

extension TSIGSigner {
    /// Signs a message after the first of a multi-message answer (AXFR, IXFR): the MAC covers the
    /// previous MAC, this message and the timers only (RFC 8945 section 5.3.1).
    public static func signContinuation(
        _ unsigned: ByteBuffer, key: TSIGKey, timeSigned: UInt64, fudge: UInt16 = defaultFudge, priorMAC: [UInt8]
    ) throws -> (message: ByteBuffer, mac: [UInt8]) {
        try signed(unsigned, key: key, timeSigned: timeSigned, fudge: fudge, priorMAC: priorMAC) { id in
            TSIGRecord(
                keyName: key.name, algorithm: key.algorithm.name, timeSigned: timeSigned, fudge: fudge, mac: [],
                originalID: id)
        } variables: { record, digest in
            TSIGVariables.writeTimers(record, into: &digest)
        }
    }

    /// An unsigned TSIG record that reports an error (BADKEY, BADSIG) to a request's sender.
    public static func errorRecord(for request: TSIGRecord, error: ResponseCode, timeSigned: UInt64) -> TSIGRecord {
        TSIGRecord(
            keyName: request.keyName, algorithm: request.algorithm, timeSigned: timeSigned, fudge: request.fudge,
            mac: [], originalID: request.originalID, error: error)
    }
}

/// The fields after the message in a TSIG digest (RFC 8945 section 4.3.3).
enum TSIGVariables {
    static func writeFull(_ r: TSIGRecord, into digest: inout ByteBuffer) {
        digest.writeBytes(r.keyName.lowercased.wire)
        digest.writeInteger(UInt8(0))
        digest.writeInteger(DNSClass.any.rawValue)
        digest.writeInteger(UInt32(0))
        digest.writeBytes(r.algorithm.lowercased.wire)
        digest.writeInteger(UInt8(0))
        writeTimers(r, into: &digest)
        digest.writeInteger(r.error.rawValue)
        digest.writeInteger(UInt16(r.otherData.count))
        digest.writeBytes(r.otherData)
    }

    static func writeTimers(_ r: TSIGRecord, into digest: inout ByteBuffer) {
        digest.writeInteger(UInt16(truncatingIfNeeded: r.timeSigned >> 32))
        digest.writeInteger(UInt32(truncatingIfNeeded: r.timeSigned))
        digest.writeInteger(r.fudge)
    }
}

/// Verifies the signed answers to one signed request: a single response, or the stream of
/// messages of a zone transfer, where each MAC chains from the one before and up to 99
/// unsigned messages may sit between two signed ones (RFC 8945 section 5.3.1).
public struct TSIGVerifier: Sendable {
    /// The key the answers must be signed with.
    public let key: TSIGKey
    private var priorMAC: [UInt8]?
    private var pendingUnsigned = ByteBuffer()
    private var unsignedCount = 0
    private var verifiedAny = false

    /// `requestMAC` is the MAC of the signed request these messages answer; nil when verifying a request.
    public init(key: TSIGKey, requestMAC: [UInt8]?) {
        self.key = key
        self.priorMAC = requestMAC
    }

    /// Checks one message (`octets` as received, `message` decoded from them); throws when it fails.
    /// A message after the first may be unsigned; the next signed one then covers it.
    public mutating func verify(_ octets: ByteBuffer, message: Message, now: UInt64) throws {
        guard let tsig = message.tsig, let tsigOffset = message.tsigOffset else {
            guard verifiedAny else {
                // A server that refuses the request before checking the key may answer unsigned
                // (REFUSED, NOTAUTH without TSIG): report what it said, not a signature problem.
                throw TSIGError.responseNotSigned
            }
            unsignedCount += 1
            guard unsignedCount <= 99 else { throw TSIGError.tooManyUnsignedMessages }
            pendingUnsigned.writeImmutableBuffer(octets)
            return
        }
        guard tsig.keyName == key.name, tsig.algorithm == key.algorithm.name else {
            if let reported = TSIGError(reported: tsig.error), tsig.mac.isEmpty { throw reported }
            throw TSIGError.responseKeyMismatch(tsig.keyName)
        }
        // BADSIG and BADKEY answers are unsigned (RFC 8945 section 5.3.2): nothing to verify.
        if tsig.error == .badSig || tsig.error == .badKey {
            throw TSIGError(reported: tsig.error)!
        }
        let full = key.algorithm.macLength
        guard tsig.mac.count <= full else { throw TSIGError.responseMACSize(tsig.mac.count) }
        guard tsig.mac.count >= max(10, full / 2) else { throw TSIGError.responseMACSize(tsig.mac.count) }

        let expected = try Self.expectedMAC(
            octets, tsig: tsig, tsigOffset: tsigOffset, key: key, priorMAC: priorMAC, unsigned: pendingUnsigned,
            timersOnly: verifiedAny)
        guard Self.constantTimeEqual(expected.prefix(tsig.mac.count), tsig.mac[...]) else {
            throw TSIGError.responseSignatureInvalid
        }
        // An error the peer reported in a signed answer (BADTIME) says more than our clock check would.
        if let reported = TSIGError(reported: tsig.error) { throw reported }
        let lower = now > UInt64(tsig.fudge) ? now - UInt64(tsig.fudge) : 0
        guard tsig.timeSigned >= lower, tsig.timeSigned <= now + UInt64(tsig.fudge) else {
            throw TSIGError.responseTimeOutOfRange(signed: tsig.timeSigned, now: now)
        }
        priorMAC = tsig.mac
        pendingUnsigned.clear()
        unsignedCount = 0
        verifiedAny = true
    }

    /// The MAC a message's TSIG should carry: over the prior MAC (a request's, or the previous
    /// message's), unsigned messages since, the message as it was before its TSIG record, and the
    /// TSIG variables (only the timers after the first message of a stream).
    private static func expectedMAC(
        _ octets: ByteBuffer, tsig: TSIGRecord, tsigOffset: Int, key: TSIGKey, priorMAC: [UInt8]?,
        unsigned: ByteBuffer, timersOnly: Bool
    ) throws -> [UInt8] {
        var digest = ByteBuffer()
        if let priorMAC {
            digest.writeInteger(UInt16(priorMAC.count))
            digest.writeBytes(priorMAC)
        }
        digest.writeImmutableBuffer(unsigned)
        guard var covered = octets.getSlice(at: octets.readerIndex, length: tsigOffset),
            var header = MessageHeader(peeking: covered)
        else { throw DNSWireError.truncated("TSIG-covered message") }
        // The MAC covers the message as it was before the TSIG record: original ID, one record fewer.
        header.id = tsig.originalID
        header.additionalCount &-= 1
        header.write(over: &covered)
        digest.writeBuffer(&covered)
        if timersOnly {
            TSIGVariables.writeTimers(tsig, into: &digest)
        } else {
            TSIGVariables.writeFull(tsig, into: &digest)
        }
        return digest.withUnsafeReadableBytes { key.keyed.mac($0) }
    }

    /// What a server makes of a request's TSIG (RFC 8945 section 5.2), in the order the RFC
    /// checks: the key, the MAC's size, the MAC, the time. The request's own error field carries
    /// no meaning and is not looked at. `minimumMACLength` is the local policy for truncated
    /// MACs; by default none are accepted, as BIND does.
    public static func checkRequest(
        _ octets: ByteBuffer, message: Message, keys: [TSIGKey], now: UInt64,
        minimumMACLength: (TSIGAlgorithm) -> Int = { $0.macLength }
    ) -> TSIGRequestVerdict {
        guard let tsig = message.tsig, let tsigOffset = message.tsigOffset else { return .unsigned }
        guard let key = keys.first(where: { $0.name == tsig.keyName && $0.algorithm.name == tsig.algorithm }) else {
            return .badKey(tsig)
        }
        let full = key.algorithm.macLength
        guard tsig.mac.count <= full, tsig.mac.count >= max(10, full / 2) else { return .malformed(tsig) }
        guard tsig.mac.count >= min(full, minimumMACLength(key.algorithm)) else { return .badTruncation(tsig) }
        guard let expected = try? expectedMAC(
            octets, tsig: tsig, tsigOffset: tsigOffset, key: key, priorMAC: nil, unsigned: ByteBuffer(), timersOnly: false),
            constantTimeEqual(expected.prefix(tsig.mac.count), tsig.mac[...])
        else { return .badSignature(tsig) }
        let lower = now > UInt64(tsig.fudge) ? now - UInt64(tsig.fudge) : 0
        guard tsig.timeSigned >= lower, tsig.timeSigned <= now + UInt64(tsig.fudge) else { return .badTime(key, tsig) }
        return .valid(key, tsig)
    }

    /// Whether the last message checked was signed; a transfer must end on a signed message.
    public var endsSigned: Bool { verifiedAny && unsignedCount == 0 }

    static func constantTimeEqual(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for (x, y) in zip(a, b) { diff |= x ^ y }
        return diff == 0
    }
}

/// A server's verdict on a request's TSIG (RFC 8945 section 5.2), with the record it judged.
public enum TSIGRequestVerdict: Sendable, Equatable {
    /// No TSIG record.
    case unsigned
    /// Signed with `key`, MAC and time in order.
    case valid(TSIGKey, TSIGRecord)
    /// A MAC longer than the algorithm's, or shorter than RFC 8945 allows: FORMERR.
    case malformed(TSIGRecord)
    /// A key or algorithm this server does not know: BADKEY.
    case badKey(TSIGRecord)
    /// The MAC does not verify: BADSIG.
    case badSignature(TSIGRecord)
    /// A MAC truncated below the local minimum: BADTRUNC.
    case badTruncation(TSIGRecord)
    /// The MAC verifies but the time is outside the fudge window: BADTIME, answered signed.
    case badTime(TSIGKey, TSIGRecord)
}

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
        guard unsigned.readableBytes >= Message.headerLength,
            let id = unsigned.getInteger(at: unsigned.readerIndex, as: UInt16.self),
            let arCount = unsigned.getInteger(at: unsigned.readerIndex + 10, as: UInt16.self)
        else { throw DNSWireError.truncated("header") }
        var record = TSIGRecord(
            keyName: key.name, algorithm: key.algorithm.name, timeSigned: timeSigned, fudge: fudge, mac: [],
            originalID: id, error: error, otherData: otherData)
        var digest = ByteBuffer()
        if let requestMAC {
            digest.writeInteger(UInt16(requestMAC.count))
            digest.writeBytes(requestMAC)
        }
        digest.writeImmutableBuffer(unsigned)
        TSIGVariables.writeFull(record, into: &digest)
        record.mac = key.algorithm.mac(key: key.symmetricKey, data: Array(digest.readableBytesView))
        var signed = unsigned
        var writer = WireWriter(buffer: signed)
        record.encode(into: &writer)
        signed = writer.buffer
        signed.setInteger(arCount &+ 1, at: signed.readerIndex + 10)
        return (signed, record.mac)
    }
}

extension TSIGSigner {
    /// Signs a message after the first of a multi-message answer (AXFR, IXFR): the MAC covers the
    /// previous MAC, this message and the timers only (RFC 8945 section 5.3.1).
    public static func signContinuation(
        _ unsigned: ByteBuffer, key: TSIGKey, timeSigned: UInt64, fudge: UInt16 = defaultFudge, priorMAC: [UInt8]
    ) throws -> (message: ByteBuffer, mac: [UInt8]) {
        guard unsigned.readableBytes >= Message.headerLength,
            let id = unsigned.getInteger(at: unsigned.readerIndex, as: UInt16.self),
            let arCount = unsigned.getInteger(at: unsigned.readerIndex + 10, as: UInt16.self)
        else { throw DNSWireError.truncated("header") }
        var record = TSIGRecord(
            keyName: key.name, algorithm: key.algorithm.name, timeSigned: timeSigned, fudge: fudge, mac: [],
            originalID: id)
        var digest = ByteBuffer()
        digest.writeInteger(UInt16(priorMAC.count))
        digest.writeBytes(priorMAC)
        digest.writeImmutableBuffer(unsigned)
        TSIGVariables.writeTimers(record, into: &digest)
        record.mac = key.algorithm.mac(key: key.symmetricKey, data: Array(digest.readableBytesView))
        var writer = WireWriter(buffer: unsigned)
        record.encode(into: &writer)
        var signed = writer.buffer
        signed.setInteger(arCount &+ 1, at: signed.readerIndex + 10)
        return (signed, record.mac)
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

        var digest = ByteBuffer()
        if let priorMAC {
            digest.writeInteger(UInt16(priorMAC.count))
            digest.writeBytes(priorMAC)
        }
        digest.writeImmutableBuffer(pendingUnsigned)
        guard var covered = octets.getSlice(at: octets.readerIndex, length: tsigOffset),
            let arCount = covered.getInteger(at: covered.readerIndex + 10, as: UInt16.self)
        else { throw DNSWireError.truncated("TSIG-covered message") }
        covered.setInteger(tsig.originalID, at: covered.readerIndex)
        covered.setInteger(arCount &- 1, at: covered.readerIndex + 10)
        digest.writeBuffer(&covered)
        if verifiedAny {
            TSIGVariables.writeTimers(tsig, into: &digest)
        } else {
            TSIGVariables.writeFull(tsig, into: &digest)
        }
        let expected = key.algorithm.mac(key: key.symmetricKey, data: Array(digest.readableBytesView))
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

    /// Whether the last message checked was signed; a transfer must end on a signed message.
    public var endsSigned: Bool { verifiedAny && unsignedCount == 0 }

    /// The MAC of the last verified message, which a signed response to it must chain from.
    public var lastMAC: [UInt8]? { priorMAC }

    static func constantTimeEqual(_ a: ArraySlice<UInt8>, _ b: ArraySlice<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        var diff: UInt8 = 0
        for (x, y) in zip(a, b) { diff |= x ^ y }
        return diff == 0
    }
}

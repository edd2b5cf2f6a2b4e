import NIOCore

/// The twelve octets every DNS message starts with (RFC 1035 section 4.1.1): what a server and a
/// client may look at before, or instead of, decoding the rest.
public struct MessageHeader: Sendable, Hashable {
    /// Matches an answer to its request.
    public var id: UInt16
    /// QR, OPCODE, AA, TC, RD, RA, Z, AD, CD and the low four bits of RCODE.
    public var flags: UInt16
    /// QDCOUNT (ZOCOUNT in an UPDATE).
    public var questionCount: UInt16
    /// ANCOUNT (PRCOUNT in an UPDATE).
    public var answerCount: UInt16
    /// NSCOUNT (UPCOUNT in an UPDATE).
    public var authorityCount: UInt16
    /// ARCOUNT, OPT and TSIG included.
    public var additionalCount: UInt16

    /// Octets in a header.
    public static let length = 12

    /// A header with these fields.
    public init(id: UInt16, flags: UInt16, questionCount: UInt16 = 0, answerCount: UInt16 = 0,
                authorityCount: UInt16 = 0, additionalCount: UInt16 = 0) {
        self.id = id
        self.flags = flags
        self.questionCount = questionCount
        self.answerCount = answerCount
        self.authorityCount = authorityCount
        self.additionalCount = additionalCount
    }

    /// The header at the start of `buffer`'s readable octets, or nil when there are fewer than twelve.
    public init?(peeking buffer: ByteBuffer) {
        let at = buffer.readerIndex
        guard buffer.readableBytes >= Self.length,
            let id = buffer.getInteger(at: at, as: UInt16.self), let flags = buffer.getInteger(at: at + 2, as: UInt16.self),
            let qd = buffer.getInteger(at: at + 4, as: UInt16.self), let an = buffer.getInteger(at: at + 6, as: UInt16.self),
            let ns = buffer.getInteger(at: at + 8, as: UInt16.self), let ar = buffer.getInteger(at: at + 10, as: UInt16.self)
        else { return nil }
        self.init(id: id, flags: flags, questionCount: qd, answerCount: an, authorityCount: ns, additionalCount: ar)
    }

    /// QR: an answer, not a request.
    public var isResponse: Bool { flags & 0x8000 != 0 }
    /// What kind of request.
    public var opcode: Opcode { Opcode(UInt8((flags >> 11) & 0x0F)) }
    /// TC: the answer did not fit.
    public var truncated: Bool { flags & 0x0200 != 0 }
    /// RD: the client asks for recursion; an answer repeats it.
    public var recursionDesired: Bool {
        get { flags & 0x0100 != 0 }
        set { flags = newValue ? flags | 0x0100 : flags & ~0x0100 }
    }
    /// The header's four RCODE bits; EDNS(0) may extend them (see ``Message/rcode``).
    public var headerRCode: ResponseCode { ResponseCode(flags & 0x000F) }

    /// Writes the header over the first twelve readable octets of `buffer`.
    public func write(over buffer: inout ByteBuffer) {
        let at = buffer.readerIndex
        buffer.setInteger(id, at: at)
        buffer.setInteger(flags, at: at + 2)
        buffer.setInteger(questionCount, at: at + 4)
        buffer.setInteger(answerCount, at: at + 6)
        buffer.setInteger(authorityCount, at: at + 8)
        buffer.setInteger(additionalCount, at: at + 10)
    }
}

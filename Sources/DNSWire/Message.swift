import NIOCore

/// A DNS message (RFC 1035 section 4). EDNS0's OPT and the TSIG record are lifted out of the
/// additional section into `edns` and `tsig`, so code that reads records never trips over them.
public struct Message: Sendable, Hashable {
    /// Matches an answer to its request.
    public var id: UInt16
    /// QR: an answer, not a request.
    public var isResponse: Bool
    /// What kind of request.
    public var opcode: Opcode
    /// AA: answered by a server authoritative for the name.
    public var authoritative: Bool
    /// TC: the answer did not fit; ask again over TCP.
    public var truncated: Bool
    /// RD: the client asks for recursion.
    public var recursionDesired: Bool
    /// RA: the server offers recursion.
    public var recursionAvailable: Bool
    /// The reserved Z bit, kept so messages round-trip.
    public var zBit: Bool
    /// AD: a resolver validated the answer with DNSSEC.
    public var authenticData: Bool
    /// CD: the client asks a resolver not to validate.
    public var checkingDisabled: Bool
    /// The full RCODE: the header's four bits plus OPT's eight upper bits.
    public var rcode: ResponseCode
    /// The question section (the zone section of an UPDATE).
    public var questions: [Question]
    /// The answer section (the prerequisites of an UPDATE).
    public var answers: [ResourceRecord]
    /// The authority section (the updates of an UPDATE).
    public var authority: [ResourceRecord]
    /// The additional section, without OPT and TSIG.
    public var additional: [ResourceRecord]
    /// The OPT record, when the message has one.
    public var edns: EDNS?
    /// The TSIG record, when the message is signed.
    public var tsig: TSIGRecord?
    /// Where the TSIG record started in the decoded octets; what the MAC covers ends there.
    public internal(set) var tsigOffset: Int?

    /// A message; every section empty unless given.
    public init(
        id: UInt16 = 0, isResponse: Bool = false, opcode: Opcode = .query, authoritative: Bool = false,
        truncated: Bool = false, recursionDesired: Bool = false, recursionAvailable: Bool = false,
        authenticData: Bool = false, checkingDisabled: Bool = false, rcode: ResponseCode = .noError,
        questions: [Question] = [], answers: [ResourceRecord] = [], authority: [ResourceRecord] = [],
        additional: [ResourceRecord] = [], edns: EDNS? = nil, tsig: TSIGRecord? = nil
    ) {
        self.id = id
        self.isResponse = isResponse
        self.opcode = opcode
        self.authoritative = authoritative
        self.truncated = truncated
        self.recursionDesired = recursionDesired
        self.recursionAvailable = recursionAvailable
        self.zBit = false
        self.authenticData = authenticData
        self.checkingDisabled = checkingDisabled
        self.rcode = rcode
        self.questions = questions
        self.answers = answers
        self.authority = authority
        self.additional = additional
        self.edns = edns
        self.tsig = tsig
        self.tsigOffset = nil
    }

    /// A query for one name and type, with EDNS0 advertising `payloadSize` unless nil.
    public static func query(
        _ name: DNSName, type: RRType, class: DNSClass = .in, id: UInt16 = 0,
        payloadSize: UInt16? = EDNS.defaultPayloadSize
    ) -> Message {
        Message(
            id: id, questions: [Question(name: name, type: type, class: `class`)],
            edns: payloadSize.map { EDNS(udpPayloadSize: $0) })
    }

    // UPDATE names the sections differently (RFC 2136 section 2).
    /// An UPDATE's zone: its one question.
    public var zone: Question? { questions.first }
    /// An UPDATE's prerequisites, kept in the answer section.
    public var prerequisites: [ResourceRecord] {
        get { answers }
        set { answers = newValue }
    }
    /// An UPDATE's changes, kept in the authority section.
    public var updates: [ResourceRecord] {
        get { authority }
        set { authority = newValue }
    }


    var flags: UInt16 {
        var f: UInt16 = 0
        if isResponse { f |= 0x8000 }
        f |= UInt16(opcode.rawValue) << 11
        if authoritative { f |= 0x0400 }
        if truncated { f |= 0x0200 }
        if recursionDesired { f |= 0x0100 }
        if recursionAvailable { f |= 0x0080 }
        if zBit { f |= 0x0040 }
        if authenticData { f |= 0x0020 }
        if checkingDisabled { f |= 0x0010 }
        f |= rcode.rawValue & 0x000F
        return f
    }

    // MARK: Encoding

    /// Encodes the message; throws if it would exceed `maxSize` octets.
    public func encode(maxSize: Int = 65535) throws -> ByteBuffer {
        // Room for most queries and short answers at once: from empty, the buffer would grow
        // through every power of two on the way.
        var writer = WireWriter(buffer: ByteBufferAllocator().buffer(capacity: 128))
        try encode(into: &writer)
        guard writer.offset <= maxSize else { throw DNSWireError.messageTooLarge(size: writer.offset, limit: maxSize) }
        return writer.buffer
    }

    /// Writes the message, compressing names against what `writer` holds.
    public func encode(into writer: inout WireWriter) throws {
        // A lone question has nothing to point at: remembering its suffixes would only cost.
        if questions.count <= 1 && answers.isEmpty && authority.isEmpty && additional.isEmpty { writer.compression = false }
        guard rcode.rawValue <= 0x0F || edns != nil else { throw DNSWireError.extendedRCodeWithoutEDNS(rcode.rawValue) }
        guard rcode.rawValue <= 0x0FFF else { throw DNSWireError.extendedRCodeWithoutEDNS(rcode.rawValue) }
        writer.writeUInt16(id)
        writer.writeUInt16(flags)
        writer.writeUInt16(UInt16(questions.count))
        writer.writeUInt16(UInt16(answers.count))
        writer.writeUInt16(UInt16(authority.count))
        writer.writeUInt16(UInt16(additional.count + (edns == nil ? 0 : 1) + (tsig == nil ? 0 : 1)))
        for q in questions {
            writer.writeName(q.name)
            writer.writeUInt16(q.type.rawValue)
            writer.writeUInt16(q.class.rawValue)
        }
        for r in answers { try r.encode(into: &writer) }
        for r in authority { try r.encode(into: &writer) }
        for r in additional { try r.encode(into: &writer) }
        edns?.encode(rcode: rcode, into: &writer)
        tsig?.encode(into: &writer)
    }

    // MARK: Decoding

    /// Decodes one message from all readable octets of `buffer`.
    public init(decoding buffer: ByteBuffer) throws {
        self = try WireReader.reading(buffer) { reader in
            let message = try Message(reader: &reader)
            guard reader.remaining == 0 else { throw DNSWireError.trailingBytes(reader.remaining) }
            return message
        }
    }

    /// Decodes one message from all of `bytes`.
    public init(decoding bytes: [UInt8]) throws {
        try self.init(decoding: ByteBuffer(bytes: bytes))
    }

    init(reader: inout WireReader) throws {
        self.init()
        id = try reader.readUInt16("header ID")
        let f = try reader.readUInt16("header flags")
        isResponse = f & 0x8000 != 0
        opcode = Opcode(UInt8((f >> 11) & 0x0F))
        authoritative = f & 0x0400 != 0
        truncated = f & 0x0200 != 0
        recursionDesired = f & 0x0100 != 0
        recursionAvailable = f & 0x0080 != 0
        zBit = f & 0x0040 != 0
        authenticData = f & 0x0020 != 0
        checkingDisabled = f & 0x0010 != 0
        var code = f & 0x000F
        let qd = Int(try reader.readUInt16("QDCOUNT"))
        let an = Int(try reader.readUInt16("ANCOUNT"))
        let ns = Int(try reader.readUInt16("NSCOUNT"))
        let ar = Int(try reader.readUInt16("ARCOUNT"))
        // Smallest question is 5 octets, smallest record 11 (with a pointer, still 12 > 11).
        guard qd * 5 + (an + ns + ar) * 11 <= reader.remaining else {
            let section = qd * 5 > reader.remaining ? "question" : "record"
            throw DNSWireError.countExceedsMessage(section: section, count: section == "question" ? qd : an + ns + ar)
        }
        questions.reserveCapacity(qd)
        for _ in 0..<qd {
            let name = try reader.readName("question name")
            let type = RRType(try reader.readUInt16("question type"))
            let cls = DNSClass(try reader.readUInt16("question class"))
            questions.append(Question(name: name, type: type, class: cls))
        }
        answers = try Self.readRecords(an, "answer", &reader)
        authority = try Self.readRecords(ns, "authority", &reader)
        // No room reserved here: the additional section is mostly the OPT and TSIG records,
        // which are kept apart, and reserving for them cost an allocation per message.
        for index in 0..<ar {
            let start = reader.offset
            let name = try reader.readName("additional name")
            let type = RRType(try reader.readUInt16("additional type"))
            switch type {
            case .opt:
                guard edns == nil else { throw DNSWireError.badOPT("more than one OPT record") }
                guard name.isRoot else { throw DNSWireError.badOPT("owner is \(name), not the root") }
                let (e, upper) = try EDNS.decode(from: &reader)
                edns = e
                code |= UInt16(upper) << 4
            case .tsig:
                guard index == ar - 1 else { throw DNSWireError.badTSIGPlacement }
                _ = try reader.readUInt16("TSIG class")
                _ = try reader.readUInt32("TSIG TTL")
                let length = Int(try reader.readUInt16("TSIG RDLENGTH"))
                tsig = try TSIGRecord.decode(keyName: name, length: length, from: &reader)
                tsigOffset = start
            default:
                additional.append(try Self.readRecordBody(name: name, type: type, &reader))
            }
        }
        rcode = ResponseCode(code)
    }

    private static func readRecords(_ count: Int, _ section: String, _ reader: inout WireReader) throws
        -> [ResourceRecord]
    {
        var records: [ResourceRecord] = []
        records.reserveCapacity(count)
        for _ in 0..<count {
            let name = try reader.readName("\(section) name")
            let type = RRType(try reader.readUInt16("\(section) type"))
            guard type != .opt else { throw DNSWireError.badOPT("in the \(section) section") }
            guard type != .tsig else { throw DNSWireError.badTSIGPlacement }
            records.append(try readRecordBody(name: name, type: type, &reader))
        }
        return records
    }

    private static func readRecordBody(name: DNSName, type: RRType, _ reader: inout WireReader) throws
        -> ResourceRecord
    {
        let cls = DNSClass(try reader.readUInt16("record class"))
        let ttl = try reader.readUInt32("record TTL")
        let length = Int(try reader.readUInt16("RDLENGTH"))
        let rdata = try RData.decode(type: type, length: length, from: &reader)
        return ResourceRecord(name: name, type: type, class: cls, ttl: ttl, rdata: rdata)
    }
}

extension Message {
    /// Reads only the ID, for matching a reply before decoding it.
    public static func peekID(_ buffer: ByteBuffer) -> UInt16? {
        MessageHeader(peeking: buffer)?.id
    }
}

import DNSWire
import NIOCore

/// The records of a zone transfer in the order the server sent them.
public struct ZoneTransfer: Sendable {
    /// Every answer record, opening and closing SOA included.
    public var records: [ResourceRecord]
    /// Messages the answer took.
    public var messageCount: Int
    /// True for an IXFR answered with differences, false for a full zone (AXFR, or IXFR fallen back to it).
    public var isIncremental: Bool

    /// A transfer as received.
    public init(records: [ResourceRecord], messageCount: Int, isIncremental: Bool) {
        self.records = records
        self.messageCount = messageCount
        self.isIncremental = isIncremental
    }

    /// The zone's serial after the transfer.
    public var serial: UInt32? {
        if case .soa(let soa) = records.first?.rdata { return soa.serial }
        return nil
    }
}

extension DNSClient {
    /// Transfers `zone` over a connection of its own: AXFR, or IXFR (RFC 1995) from `serial`
    /// when one is given. With a key, every signed message's MAC is checked in sequence and the
    /// last message must be signed. An error RCODE is thrown as its `DNSError`.
    public func transfer(zone: DNSName, fromSerial serial: UInt32? = nil) async throws -> ZoneTransfer {
        var request = Message.query(zone, type: serial == nil ? .axfr : .ixfr, payloadSize: nil)
        if let serial {
            let soa = SOA(mname: .root, rname: .root, serial: serial, refresh: 0, retry: 0, expire: 0, minimum: 0)
            request.authority = [ResourceRecord(name: zone, type: .soa, ttl: 0, rdata: .soa(soa))]
        }
        return try await Self.againIfClosedEarly {
            try await transferOnce(request, keepingRecords: true, handingErrors: false) { _ in }.transfer
        }
    }

    /// Transfers all of `zone` (AXFR) as `transfer(zone:)` does, handing each record to `each`
    /// as it arrives instead of keeping them: memory stays flat however large the zone. Returns
    /// the number of records.
    @discardableResult
    public func transfer(zone: DNSName, each: (ResourceRecord) throws -> Void) async throws -> Int {
        let request = Message.query(zone, type: .axfr, payloadSize: nil)
        return try await Self.againIfClosedEarly {
            try await transferOnce(request, keepingRecords: false, handingErrors: false) { try $0.answers.forEach(each) }.records
        }
    }

    /// Sends a transfer request (AXFR, or IXFR with the client's SOA in its authority section)
    /// and hands `each` every message of the answer as it arrives, checked as `transfer(zone:)`
    /// checks them, until the transfer is complete; a message with an error RCODE is handed on
    /// and ends it.
    public func transfer(_ request: Message, each: (Message) throws -> Void) async throws {
        try await Self.againIfClosedEarly {
            _ = try await transferOnce(request, keepingRecords: false, handingErrors: true, each: each)
        }
    }

    private struct ClosedBeforeAnswer: Error {
        var underlying: any Error
    }

    /// Runs `attempt`, and once more if the connection closed before the first answer.
    private static func againIfClosedEarly<T>(_ attempt: () async throws -> T) async throws -> T {
        do {
            return try await attempt()
        } catch is ClosedBeforeAnswer {
            do {
                return try await attempt()
            } catch let again as ClosedBeforeAnswer {
                throw again.underlying
            }
        }
    }

    /// One attempt: the transfer and how many records it held. Every message goes to `each`;
    /// without `keepingRecords` only the first two records are kept, to know when the transfer
    /// ends. A connection the server closes before the first answer (taken for idle on a busy
    /// client, say) is thrown as `ClosedBeforeAnswer`, to be tried once more: nothing was
    /// transferred yet.
    private func transferOnce(
        _ request: Message, keepingRecords: Bool, handingErrors: Bool, each: (Message) throws -> Void
    ) async throws -> (transfer: ZoneTransfer, records: Int) {
        var serial: UInt32?
        if request.questions.first?.type == .ixfr, case .soa(let soa)? = request.authority.first?.rdata { serial = soa.serial }
        let server = servers[0]
        let (octets, matcher, verifier) = try prepare(request)
        configuration.traffic?.sent(.transfer, octets: octets.readableBytes)
        let (connection, stream) = try await TCPConnection.connect(
            to: server, group: group, timeout: configuration.timeout, streaming: octets, matcher: matcher)
        defer { connection.close() }
        let deadline = group.next().scheduleTask(in: (configuration.timeout * 10).timeAmount) { connection.close() }
        defer { deadline.cancel() }

        var transfer = ZoneTransfer(records: [], messageCount: 0, isIncremental: false)
        var handed = 0
        var tsig = verifier
        var closingSerial: UInt32?
        var soaCount = 0
        var answers = stream.makeAsyncIterator()
        while true {
            let next: (ByteBuffer, Message)?
            do {
                next = try await answers.next()
            } catch DNSError.connection(let why) where transfer.messageCount == 0 {
                throw ClosedBeforeAnswer(underlying: DNSError.connection(why))
            } catch ClientInternalError.notSent(let why) {
                throw ClosedBeforeAnswer(underlying: DNSError.connection(why))
            }
            guard let (answer, message) = next else { break }
            configuration.traffic?.received(.transfer, octets: answer.readableBytes)
            if let error = DNSError(rcode: message.rcode) {
                // A refusal before any data may come unsigned (the server does not know the key).
                if !(message.tsig == nil && tsig != nil && transfer.messageCount == 0) { _ = try verified(answer, message, tsig) }
                if handingErrors {
                    try each(message)
                    return (transfer, handed)
                }
                throw error
            }
            if tsig != nil {
                do { try tsig!.verify(answer, message: message, now: now()) } catch let e as TSIGError {
                    throw DNSError.tsig(e)
                }
            }
            transfer.messageCount += 1
            try each(message)
            for record in message.answers {
                if keepingRecords || transfer.records.count < 2 { transfer.records.append(record) }
                handed += 1
                guard record.type == .soa, case .soa(let soa) = record.rdata else { continue }
                if closingSerial == nil { closingSerial = soa.serial }
                if soa.serial == closingSerial { soaCount += 1 }
            }
            if isComplete(transfer, count: handed, soaCount: soaCount, requestedSerial: serial) {
                if let tsig, !tsig.endsSigned { throw DNSError.tsig(.responseNotSigned) }
                transfer.isIncremental = handed > 1 && transfer.records[1].type == .soa
                return (transfer, handed)
            }
        }
        throw DNSError.incompleteTransfer("the connection closed after \(handed) records")
    }

    /// AXFR ends with the second SOA of the zone's serial; an IXFR of differences with the third
    /// (opening, last difference, closing); an IXFR that is a lone SOA means the zone is unchanged.
    private func isComplete(_ transfer: ZoneTransfer, count: Int, soaCount: Int, requestedSerial: UInt32?) -> Bool {
        let records = transfer.records
        let incremental = requestedSerial != nil
        if incremental, count == 1, transfer.serial == requestedSerial {
            return true
        }
        guard count >= 2 else { return false }
        let secondIsSOA = records[1].type == .soa
        if incremental && secondIsSOA {
            return soaCount >= 3
        }
        return soaCount >= 2
    }
}

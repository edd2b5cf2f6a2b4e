import DNSWire
import NIOCore

/// Answers kept as the octets they were sent as, for plain queries asked again: a repeated query
/// is answered by copying them and setting its ID and RD bit, without decoding it into a message
/// or encoding an answer. An answer is kept with the storage's change counter it was made at and
/// is used only while the counter has not moved, so it is never older than the node cache.
///
/// Only the commonest shape of query qualifies (see `Query.parse`); anything else goes the
/// ordinary way, which is also how every kept answer was made in the first place.
final class PreparedAnswers: Sendable {
    /// What identifies a query's answer: its question as sent (name octets, case included),
    /// whether it spoke EDNS, and over which transport (their size limits differ). A query's
    /// question is a view of its own octets, so looking it up allocates nothing; a kept one
    /// has octets of its own.
    struct Key: Hashable, Sendable {
        var question: ByteBuffer
        var edns: Bool
        var tcp: Bool
    }

    /// A query of the shape this cache answers, as read from its octets.
    struct Query {
        var key: Key
        var id: UInt16
        var recursionDesired: Bool
        /// The largest answer the client takes.
        var payloadLimit: Int

        /// Reads a query: QR 0, opcode QUERY, one question of class IN with an uncompressed name
        /// and an ordinary type, no answer or authority records, and at most an EDNS version 0
        /// OPT record (options allowed) as the only additional record, nothing after it. Nil for
        /// anything else, which then takes the ordinary path.
        static func parse(_ octets: ByteBuffer, tcp: Bool, maxUDPPayload: Int) -> Query? {
            let count = octets.readableBytes
            guard count >= 17, count <= 4096 else { return nil }
            let parsed = octets.withUnsafeReadableBytes { raw -> (questionEnd: Int, edns: Bool, id: UInt16, rd: Bool, limit: Int)? in
                func u16(_ at: Int) -> Int { Int(raw[at]) << 8 | Int(raw[at + 1]) }
                let flags = raw[2]
                guard flags & 0xF8 == 0, u16(4) == 1, u16(6) == 0, u16(8) == 0 else { return nil }
                let additional = u16(10)
                guard additional <= 1 else { return nil }
                var i = 12
                while true {
                    guard i < count else { return nil }
                    let length = Int(raw[i])
                    if length == 0 { break }
                    guard length <= 63, i + 1 + length < count, i + 1 + length - 12 < 255 else { return nil }
                    i += 1 + length
                }
                let nameEnd = i + 1
                guard nameEnd + 4 <= count else { return nil }
                let type = u16(nameEnd)
                guard u16(nameEnd + 2) == 1, type != 0, type < 128 || type == 256 || type == 257 else { return nil }
                let questionEnd = nameEnd + 4
                var limit = tcp ? 65535 : 512
                if additional == 1 {
                    // Root owner, type OPT, class = payload size, extended RCODE and version 0.
                    guard questionEnd + 11 <= count, raw[questionEnd] == 0, u16(questionEnd + 1) == 41,
                          raw[questionEnd + 5] == 0, raw[questionEnd + 6] == 0,
                          questionEnd + 11 + u16(questionEnd + 9) == count
                    else { return nil }
                    if !tcp { limit = min(max(u16(questionEnd + 3), 512), maxUDPPayload) }
                } else {
                    guard questionEnd == count else { return nil }
                }
                return (questionEnd, additional == 1, UInt16(u16(0)), flags & 0x01 != 0, limit)
            }
            guard let parsed, let question = octets.getSlice(at: octets.readerIndex + 12, length: parsed.questionEnd - 12)
            else { return nil }
            return Query(key: Key(question: question, edns: parsed.edns, tcp: tcp), id: parsed.id, recursionDesired: parsed.rd, payloadLimit: parsed.limit)
        }
    }

    private struct Entry {
        var octets: ByteBuffer
        var counter: UInt64
    }

    private struct Kept {
        var entries: [Key: Entry] = [:]
        var octets = 0
    }

    private let kept = Locked(Kept())
    /// Bounds: answers larger than `maxAnswer` are not kept, and when the kept octets would pass
    /// `maxOctets` everything is dropped (a flood of distinct names costs a refill, not memory).
    let maxAnswer: Int
    let maxOctets: Int

    init(maxAnswer: Int = 4096, maxOctets: Int = 16 << 20) {
        self.maxAnswer = maxAnswer
        self.maxOctets = maxOctets
    }

    /// The kept answer to `query` at change counter `counter`, with the query's ID and RD bit;
    /// nil when there is none, it is older than `counter`, or it is larger than the client takes.
    func answer(_ query: Query, counter: UInt64) -> ByteBuffer? {
        guard let entry = kept.withLock({ $0.entries[query.key] }), entry.counter == counter,
              entry.octets.readableBytes <= query.payloadLimit
        else { return nil }
        var answer = entry.octets
        var header = MessageHeader(peeking: answer)!
        header.id = query.id
        header.recursionDesired = query.recursionDesired
        header.write(over: &answer)
        return answer
    }

    /// Copies the kept answer to `query` into `out` with the query's ID and RD bit and returns
    /// its length, under the same conditions as `answer(_:counter:)`; nil also when `out` is too
    /// small. Nothing is allocated: the answer goes straight into a send buffer.
    func answer(_ query: Query, counter: UInt64, into out: UnsafeMutableRawBufferPointer) -> Int? {
        guard let entry = kept.withLock({ $0.entries[query.key] }), entry.counter == counter else { return nil }
        let size = entry.octets.readableBytes
        guard size >= 12, size <= query.payloadLimit, size <= out.count else { return nil }
        entry.octets.withUnsafeReadableBytes { out.copyMemory(from: $0) }
        out[0] = UInt8(query.id >> 8)
        out[1] = UInt8(query.id & 0xFF)
        out[2] = query.recursionDesired ? out[2] | 0x01 : out[2] & 0xFE
        return size
    }

    /// Keeps the answer the ordinary path gave `query`, made at change counter `counter`.
    func keep(_ answer: ByteBuffer, for query: Query, counter: UInt64) {
        let size = answer.readableBytes
        guard size >= 12, size <= maxAnswer, size <= maxOctets else { return }
        // Only whole, unsigned answers of the ordinary kinds: no truncation, NOERROR or NXDOMAIN.
        let header = MessageHeader(peeking: answer)!
        guard !header.truncated, header.headerRCode == .noError || header.headerRCode == .nxDomain else { return }
        let entry = Entry(octets: answer, counter: counter)
        // The key's own copy of the question: a view would keep the whole request alive.
        var key = query.key
        key.question = ByteBuffer(buffer: query.key.question)
        kept.withLock { kept in
            if kept.octets + size > maxOctets {
                kept.entries.removeAll(keepingCapacity: true)
                kept.octets = 0
            }
            if let old = kept.entries.updateValue(entry, forKey: key) { kept.octets -= old.octets.readableBytes }
            kept.octets += size
        }
    }

    /// Drops every kept answer.
    func removeAll() {
        kept.withLock { $0 = Kept() }
    }
}

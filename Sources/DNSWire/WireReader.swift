import NIOCore

/// Reads one DNS message with bounds checks on every access. Offsets are relative to the
/// message's first octet, which is what compression pointers count from.
///
/// It reads the message's octets in place, through a pointer valid only inside `reading(_:_:)`:
/// every read of a `ByteBuffer` paid for its bounds and exclusivity checks once more.
public struct WireReader {
    /// The message's octets; valid only during the `reading` call that made the reader.
    let bytes: UnsafeRawBufferPointer
    /// Octets in the message.
    public let count: Int
    /// Current offset from the message start.
    public var offset: Int
    /// The first name read (an answer's owner usually points at the question's) and the last,
    /// each with the offset it starts at: a pointer to either is resolved without decoding the
    /// name again or allocating for it.
    private var firstName: (start: Int, name: DNSName)?
    private var lastName: (start: Int, name: DNSName)?

    /// Compression pointers a name may follow: a valid name has at most 127 labels.
    static let maxPointerHops = 127

    init(unsafeBytes bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        self.count = bytes.count
        self.offset = 0
    }

    /// Runs `body` with a reader at the start of `buffer`'s readable octets. The reader must not
    /// outlive the call.
    public static func reading<T>(_ buffer: ByteBuffer, _ body: (inout WireReader) throws -> T) rethrows -> T {
        try buffer.withUnsafeReadableBytes { raw in
            var reader = WireReader(unsafeBytes: raw)
            return try body(&reader)
        }
    }

    /// Runs `body` with a reader at the start of `octets`. The reader must not outlive the call.
    public static func reading<T>(_ octets: [UInt8], _ body: (inout WireReader) throws -> T) rethrows -> T {
        try octets.withUnsafeBytes { raw in
            var reader = WireReader(unsafeBytes: raw)
            return try body(&reader)
        }
    }

    /// Octets not read yet.
    public var remaining: Int { count - offset }

    @inline(__always)
    func byte(at offset: Int, _ field: @autoclosure () -> String) throws -> UInt8 {
        guard offset >= 0, offset < count else { throw DNSWireError.truncated(field()) }
        return bytes[offset]
    }

    /// Reads one octet; throws naming `field` when none is left.
    public mutating func readUInt8(_ field: @autoclosure () -> String) throws -> UInt8 {
        let b = try byte(at: offset, field())
        offset += 1
        return b
    }

    /// Reads a big-endian 16-bit integer; throws naming `field` when it is cut short.
    public mutating func readUInt16(_ field: @autoclosure () -> String) throws -> UInt16 {
        guard remaining >= 2 else { throw DNSWireError.truncated(field()) }
        let v = UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
        offset += 2
        return v
    }

    /// Reads a big-endian 32-bit integer; throws naming `field` when it is cut short.
    public mutating func readUInt32(_ field: @autoclosure () -> String) throws -> UInt32 {
        guard remaining >= 4 else { throw DNSWireError.truncated(field()) }
        let v = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
        offset += 4
        return v
    }

    /// Reads `n` octets; throws naming `field` when fewer are left.
    public mutating func readBytes(_ n: Int, _ field: @autoclosure () -> String) throws -> [UInt8] {
        guard n >= 0, remaining >= n else { throw DNSWireError.truncated(field()) }
        let octets = Array(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + n)]))
        offset += n
        return octets
    }

    /// Reads a possibly compressed name. Every pointer must point before the start of the
    /// segment it was found in, so offsets strictly decrease and loops cannot happen. Each run of
    /// labels is measured first and copied in one go, into room reserved for it and for a suffix
    /// read before: a name costs one allocation, not one per label.
    public mutating func readName(_ field: @autoclosure () -> String = "name") throws -> DNSName {
        let start = offset
        var wire: [UInt8] = []
        var position = offset
        var resumeAt: Int? = nil
        var hops = 0
        while true {
            // The run of labels from `position` to a zero octet or a pointer.
            var end = position
            var length = try byte(at: end, field())
            while length & 0xC0 == 0 && length != 0 {
                let n = Int(length)
                let total = wire.count + (end - position) + 1 + n + 1
                guard total <= DNSName.maxWireLength else { throw DNSWireError.nameTooLong(total) }
                guard end + 1 + n < count else { throw DNSWireError.truncated(field()) }
                end += 1 + n
                length = try byte(at: end, field())
            }
            var suffix: DNSName?
            var target = 0
            switch length & 0xC0 {
            case 0x00:
                break
            case 0xC0:
                let low = try byte(at: end + 1, field())
                target = Int(length & 0x3F) << 8 | Int(low)
                guard target < position else { throw DNSWireError.forwardPointer(offset: target) }
                hops += 1
                guard hops <= Self.maxPointerHops else { throw DNSWireError.tooManyPointers }
                if resumeAt == nil { resumeAt = end + 2 }
                suffix = known(at: target)
                if let suffix, wire.count + (end - position) + suffix.wire.count + 1 > DNSName.maxWireLength {
                    throw DNSWireError.nameTooLong(wire.count + (end - position) + suffix.wire.count + 1)
                }
            default:
                throw DNSWireError.badLabelType(length)
            }
            if end == position, wire.isEmpty, let suffix {
                // Nothing before the pointer: the name read before, shared as it is.
                offset = resumeAt!
                return remember(suffix, startingAt: start)
            }
            if end > position {
                wire.reserveCapacity(wire.count + (end - position) + (suffix?.wire.count ?? 0))
                wire.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[position..<end]))
            }
            if length == 0 {
                offset = resumeAt ?? (end + 1)
                return remember(DNSName(uncheckedWire: wire), startingAt: start)
            }
            if let suffix {
                // The rest of the name was read before, from this very offset.
                wire.append(contentsOf: suffix.wire)
                offset = resumeAt!
                return remember(DNSName(uncheckedWire: wire), startingAt: start)
            }
            position = target
        }
    }

    private func known(at start: Int) -> DNSName? {
        if let first = firstName, first.start == start { return first.name }
        if let last = lastName, last.start == start { return last.name }
        return nil
    }

    private mutating func remember(_ name: DNSName, startingAt start: Int) -> DNSName {
        if firstName == nil { firstName = (start, name) } else { lastName = (start, name) }
        return name
    }

    /// Reads a `<character-string>`: a length octet and that many octets.
    public mutating func readCharacterString(_ field: @autoclosure () -> String) throws -> [UInt8] {
        let n = try readUInt8(field())
        return try readBytes(Int(n), field())
    }
}

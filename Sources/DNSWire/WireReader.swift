import NIOCore

/// Reads one DNS message with bounds checks on every access. Offsets are relative to the
/// message's first octet, which is what compression pointers count from.
public struct WireReader {
    let buffer: ByteBuffer
    /// Index in `buffer` of the message's first octet.
    let base: Int
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

    /// A reader at the start of `buffer`'s readable octets.
    public init(_ buffer: ByteBuffer) {
        self.buffer = buffer
        self.base = buffer.readerIndex
        self.count = buffer.readableBytes
        self.offset = 0
    }

    /// Octets not read yet.
    public var remaining: Int { count - offset }

    @inline(__always)
    func byte(at offset: Int, _ field: @autoclosure () -> String) throws -> UInt8 {
        guard offset >= 0, offset < count, let b = buffer.getInteger(at: base + offset, as: UInt8.self) else {
            throw DNSWireError.truncated(field())
        }
        return b
    }

    /// Reads one octet; throws naming `field` when none is left.
    public mutating func readUInt8(_ field: @autoclosure () -> String) throws -> UInt8 {
        let b = try byte(at: offset, field())
        offset += 1
        return b
    }

    /// Reads a big-endian 16-bit integer; throws naming `field` when it is cut short.
    public mutating func readUInt16(_ field: @autoclosure () -> String) throws -> UInt16 {
        guard remaining >= 2, let v = buffer.getInteger(at: base + offset, as: UInt16.self) else {
            throw DNSWireError.truncated(field())
        }
        offset += 2
        return v
    }

    /// Reads a big-endian 32-bit integer; throws naming `field` when it is cut short.
    public mutating func readUInt32(_ field: @autoclosure () -> String) throws -> UInt32 {
        guard remaining >= 4, let v = buffer.getInteger(at: base + offset, as: UInt32.self) else {
            throw DNSWireError.truncated(field())
        }
        offset += 4
        return v
    }

    /// Reads `n` octets; throws naming `field` when fewer are left.
    public mutating func readBytes(_ n: Int, _ field: @autoclosure () -> String) throws -> [UInt8] {
        guard n >= 0, remaining >= n, let bytes = buffer.getBytes(at: base + offset, length: n) else {
            throw DNSWireError.truncated(field())
        }
        offset += n
        return bytes
    }

    /// Reads a possibly compressed name. Every pointer must point before the start of the
    /// segment it was found in, so offsets strictly decrease and loops cannot happen.
    public mutating func readName(_ field: @autoclosure () -> String = "name") throws -> DNSName {
        let start = offset
        var wire: [UInt8] = []
        var position = offset
        var segmentStart = offset
        var resumeAt: Int? = nil
        var hops = 0
        while true {
            let length = try byte(at: position, field())
            switch length & 0xC0 {
            case 0x00:
                if length == 0 {
                    offset = resumeAt ?? (position + 1)
                    return remember(DNSName(uncheckedWire: wire), startingAt: start)
                }
                let n = Int(length)
                guard wire.count + 1 + n + 1 <= DNSName.maxWireLength else {
                    throw DNSWireError.nameTooLong(wire.count + 1 + n + 1)
                }
                guard position + 1 + n <= count else { throw DNSWireError.truncated(field()) }
                wire.append(length)
                buffer.withUnsafeReadableBytes { raw in wire.append(contentsOf: raw[(position + 1)..<(position + 1 + n)]) }
                position += 1 + n
            case 0xC0:
                let low = try byte(at: position + 1, field())
                let target = Int(length & 0x3F) << 8 | Int(low)
                guard target < segmentStart else { throw DNSWireError.forwardPointer(offset: target) }
                hops += 1
                guard hops <= Self.maxPointerHops else { throw DNSWireError.tooManyPointers }
                if resumeAt == nil { resumeAt = position + 2 }
                if let known = known(at: target) {
                    // The rest of the name was read before, from this very offset.
                    guard wire.count + known.wire.count + 1 <= DNSName.maxWireLength else {
                        throw DNSWireError.nameTooLong(wire.count + known.wire.count + 1)
                    }
                    offset = resumeAt!
                    let name = wire.isEmpty ? known : DNSName(uncheckedWire: wire + known.wire)
                    return remember(name, startingAt: start)
                }
                position = target
                segmentStart = target
            default:
                throw DNSWireError.badLabelType(length)
            }
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

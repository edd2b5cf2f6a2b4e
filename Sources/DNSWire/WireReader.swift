import NIOCore

/// Reads one DNS message with bounds checks on every access. Offsets are relative to the
/// message's first octet, which is what compression pointers count from.
public struct WireReader {
    let buffer: ByteBuffer
    /// Index in `buffer` of the message's first octet.
    let base: Int
    /// Octets in the message.
    /// Octets in the message.
    public let count: Int
    /// Current offset from the message start.
    public var offset: Int

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
    func byte(at offset: Int, _ field: String) throws -> UInt8 {
        guard offset >= 0, offset < count, let b = buffer.getInteger(at: base + offset, as: UInt8.self) else {
            throw DNSWireError.truncated(field)
        }
        return b
    }

    /// Reads one octet; throws naming `field` when none is left.
    public mutating func readUInt8(_ field: String) throws -> UInt8 {
        let b = try byte(at: offset, field)
        offset += 1
        return b
    }

    /// Reads a big-endian 16-bit integer; throws naming `field` when it is cut short.
    public mutating func readUInt16(_ field: String) throws -> UInt16 {
        guard remaining >= 2, let v = buffer.getInteger(at: base + offset, as: UInt16.self) else {
            throw DNSWireError.truncated(field)
        }
        offset += 2
        return v
    }

    /// Reads a big-endian 32-bit integer; throws naming `field` when it is cut short.
    public mutating func readUInt32(_ field: String) throws -> UInt32 {
        guard remaining >= 4, let v = buffer.getInteger(at: base + offset, as: UInt32.self) else {
            throw DNSWireError.truncated(field)
        }
        offset += 4
        return v
    }

    /// Reads `n` octets; throws naming `field` when fewer are left.
    public mutating func readBytes(_ n: Int, _ field: String) throws -> [UInt8] {
        guard n >= 0, remaining >= n, let bytes = buffer.getBytes(at: base + offset, length: n) else {
            throw DNSWireError.truncated(field)
        }
        offset += n
        return bytes
    }

    /// Reads a possibly compressed name. Every pointer must point before the start of the
    /// segment it was found in, so offsets strictly decrease and loops cannot happen.
    public mutating func readName(_ field: String = "name") throws -> DNSName {
        var wire: [UInt8] = []
        var position = offset
        var segmentStart = offset
        var resumeAt: Int? = nil
        var hops = 0
        while true {
            let length = try byte(at: position, field)
            switch length & 0xC0 {
            case 0x00:
                if length == 0 {
                    offset = resumeAt ?? (position + 1)
                    return DNSName(uncheckedWire: wire)
                }
                let n = Int(length)
                guard wire.count + 1 + n + 1 <= DNSName.maxWireLength else {
                    throw DNSWireError.nameTooLong(wire.count + 1 + n + 1)
                }
                guard position + 1 + n <= count, let label = buffer.getBytes(at: base + position + 1, length: n) else {
                    throw DNSWireError.truncated(field)
                }
                wire.append(length)
                wire.append(contentsOf: label)
                position += 1 + n
            case 0xC0:
                let low = try byte(at: position + 1, field)
                let target = Int(length & 0x3F) << 8 | Int(low)
                guard target < segmentStart else { throw DNSWireError.forwardPointer(offset: target) }
                hops += 1
                guard hops <= Self.maxPointerHops else { throw DNSWireError.tooManyPointers }
                if resumeAt == nil { resumeAt = position + 2 }
                position = target
                segmentStart = target
            default:
                throw DNSWireError.badLabelType(length)
            }
        }
    }

    /// Reads a `<character-string>`: a length octet and that many octets.
    public mutating func readCharacterString(_ field: String) throws -> [UInt8] {
        let n = try readUInt8(field)
        return try readBytes(Int(n), field)
    }
}

import NIOCore

/// Writes one DNS message into a ByteBuffer, compressing names in time linear in their labels.
///
/// Each written suffix is remembered by (its first label, offset of the rest), so finding the
/// longest known suffix walks a name's labels once from the right. Matching is exact (case
/// included), which keeps every name's original case on the wire.
public struct WireWriter {
    public private(set) var buffer: ByteBuffer
    /// Index in `buffer` of the message's first octet.
    let base: Int
    private var suffixes: [SuffixKey: UInt16] = [:]
    /// Whether names are compressed against those written before.
    public var compression = true

    private struct SuffixKey: Hashable {
        var label: ArraySlice<UInt8>
        var rest: UInt16
    }

    /// Marks "the rest is the root"; real pointer targets are at most 0x3FFF.
    private static let rootMarker: UInt16 = 0xFFFF

    /// A writer that appends a message to `buffer`.
    public init(buffer: ByteBuffer = ByteBuffer()) {
        self.buffer = buffer
        self.base = buffer.writerIndex
    }

    /// Octets written since the message start.
    public var offset: Int { buffer.writerIndex - base }

    /// Writes one octet.
    public mutating func writeUInt8(_ v: UInt8) { buffer.writeInteger(v) }
    /// Writes a big-endian 16-bit integer.
    public mutating func writeUInt16(_ v: UInt16) { buffer.writeInteger(v) }
    /// Writes a big-endian 32-bit integer.
    public mutating func writeUInt32(_ v: UInt32) { buffer.writeInteger(v) }
    /// Writes octets as they are.
    public mutating func writeBytes<C: Collection>(_ bytes: C) where C.Element == UInt8 { buffer.writeBytes(bytes) }

    /// Overwrites a 16-bit integer at `offset` from the message start (a length written afterwards).
    public mutating func setUInt16(_ v: UInt16, at offset: Int) {
        buffer.setInteger(v, at: base + offset)
    }

    /// Writes a length octet and `bytes`; throws past 255 octets.
    public mutating func writeCharacterString<C: Collection>(_ bytes: C) throws where C.Element == UInt8 {
        guard bytes.count <= 255 else { throw DNSWireError.characterStringTooLong(bytes.count) }
        buffer.writeInteger(UInt8(bytes.count))
        buffer.writeBytes(bytes)
    }

    /// Writes a name, compressed against earlier names when `compress` and `compression` allow.
    public mutating func writeName(_ name: DNSName, compress: Bool = true) {
        guard compress && compression else {
            buffer.writeBytes(name.wire)
            buffer.writeInteger(UInt8(0))
            return
        }
        let wire = name.wire
        let starts = name.labelOffsets
        // Longest suffix already in the message.
        var rest = Self.rootMarker
        var known = starts.count
        for i in stride(from: starts.count - 1, through: 0, by: -1) {
            let key = SuffixKey(label: label(wire, at: starts[i]), rest: rest)
            guard let found = suffixes[key] else { break }
            rest = found
            known = i
        }
        var written: [Int] = []
        written.reserveCapacity(known)
        for i in 0..<known {
            written.append(offset)
            let end = i + 1 < starts.count ? starts[i + 1] : wire.count
            buffer.writeBytes(wire[starts[i]..<end])
        }
        if known < starts.count {
            buffer.writeInteger(0xC000 | rest)
        } else {
            buffer.writeInteger(UInt8(0))
        }
        // Remember the new suffixes; one that starts past 0x3FFF cannot be pointed at,
        // and neither can any suffix chained onto it.
        for i in stride(from: known - 1, through: 0, by: -1) {
            guard written[i] <= 0x3FFF else { break }
            let next = i + 1 < known ? UInt16(written[i + 1]) : rest
            suffixes[SuffixKey(label: label(wire, at: starts[i]), rest: next)] = UInt16(written[i])
        }
    }

    private func label(_ wire: [UInt8], at start: Int) -> ArraySlice<UInt8> {
        wire[(start + 1)..<(start + 1 + Int(wire[start]))]
    }
}

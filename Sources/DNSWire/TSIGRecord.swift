/// The TSIG pseudo-record's RDATA (RFC 8945 section 4.2), with its owner, the key name.
public struct TSIGRecord: Sendable, Hashable {
    /// The key's name: the record's owner.
    public var keyName: DNSName
    /// The algorithm, as a name (`hmac-sha256.`).
    public var algorithm: DNSName
    /// Seconds since the epoch; 48 bits on the wire.
    public var timeSigned: UInt64
    /// Seconds of clock difference allowed either way.
    public var fudge: UInt16
    /// The MAC.
    public var mac: [UInt8]
    /// The message ID when it was signed (a forwarder may change the header's).
    public var originalID: UInt16
    /// The TSIG error a responder reports (BADSIG, BADKEY, BADTIME, BADTRUNC).
    public var error: ResponseCode
    /// The server's time in a BADTIME answer; otherwise empty.
    public var otherData: [UInt8]

    /// A TSIG record with these fields.
    public init(
        keyName: DNSName, algorithm: DNSName, timeSigned: UInt64, fudge: UInt16, mac: [UInt8], originalID: UInt16,
        error: ResponseCode = .noError, otherData: [UInt8] = []
    ) {
        self.keyName = keyName
        self.algorithm = algorithm
        self.timeSigned = timeSigned
        self.fudge = fudge
        self.mac = mac
        self.originalID = originalID
        self.error = error
        self.otherData = otherData
    }

    /// Writes the whole record, names uncompressed as RFC 8945 section 4.2 requires.
    func encode(into writer: inout WireWriter) {
        writer.writeName(keyName, compress: false)
        writer.writeUInt16(RRType.tsig.rawValue)
        writer.writeUInt16(DNSClass.any.rawValue)
        writer.writeUInt32(0)
        let lengthAt = writer.offset
        writer.writeUInt16(0)
        writer.writeName(algorithm, compress: false)
        writer.writeUInt16(UInt16(truncatingIfNeeded: timeSigned >> 32))
        writer.writeUInt32(UInt32(truncatingIfNeeded: timeSigned))
        writer.writeUInt16(fudge)
        writer.writeUInt16(UInt16(mac.count))
        writer.writeBytes(mac)
        writer.writeUInt16(originalID)
        writer.writeUInt16(error.rawValue)
        writer.writeUInt16(UInt16(otherData.count))
        writer.writeBytes(otherData)
        writer.setUInt16(UInt16(writer.offset - lengthAt - 2), at: lengthAt)
    }

    /// Decodes the RDATA of a TSIG record owned by `keyName`.
    static func decode(keyName: DNSName, length: Int, from reader: inout WireReader) throws -> TSIGRecord {
        let start = reader.offset
        guard reader.remaining >= length else { throw DNSWireError.truncated("TSIG RDATA") }
        let algorithm = try reader.readName("TSIG algorithm")
        let high = UInt64(try reader.readUInt16("TSIG time signed"))
        let low = UInt64(try reader.readUInt32("TSIG time signed"))
        let fudge = try reader.readUInt16("TSIG fudge")
        let macSize = Int(try reader.readUInt16("TSIG MAC size"))
        let mac = try reader.readBytes(macSize, "TSIG MAC")
        let originalID = try reader.readUInt16("TSIG original ID")
        let error = ResponseCode(try reader.readUInt16("TSIG error"))
        let otherLength = Int(try reader.readUInt16("TSIG other length"))
        let other = try reader.readBytes(otherLength, "TSIG other data")
        let used = reader.offset - start
        guard used == length else { throw DNSWireError.rdataLengthMismatch(type: .tsig, expected: length, actual: used) }
        return TSIGRecord(
            keyName: keyName, algorithm: algorithm, timeSigned: high << 32 | low, fudge: fudge, mac: mac,
            originalID: originalID, error: error, otherData: other)
    }
}

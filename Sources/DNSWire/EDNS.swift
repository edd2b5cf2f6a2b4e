/// An EDNS0 option (RFC 6891 section 6.1.2), kept as code and opaque data.
public struct EDNSOption: Sendable, Hashable {
    /// OPTION-CODE.
    public var code: UInt16
    /// OPTION-DATA, uninterpreted.
    public var data: [UInt8]

    /// An option with this code and data.
    public init(code: UInt16, data: [UInt8]) {
        self.code = code
        self.data = data
    }

    /// The code of Extended DNS Error (RFC 8914).
    public static let extendedErrorCode: UInt16 = 15

    /// An Extended DNS Error (RFC 8914): an INFO-CODE and a text for people.
    public static func extendedError(code: UInt16, text: String) -> EDNSOption {
        EDNSOption(code: extendedErrorCode, data: [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(text.utf8))
    }

    /// The code of COOKIE (RFC 7873).
    public static let cookieCode: UInt16 = 10

    /// A COOKIE option holding only a client cookie (8 octets; RFC 7873 section 4).
    public static func clientCookie(_ cookie: [UInt8]) -> EDNSOption {
        EDNSOption(code: cookieCode, data: cookie)
    }

    /// The code of UPDATE-LEASE (RFC 9664).
    public static let updateLeaseCode: UInt16 = 2

    /// An UPDATE-LEASE option (RFC 9664): how many seconds the records an UPDATE adds live unless
    /// refreshed, and optionally (KEY-LEASE) how long their KEY records live.
    public static func updateLease(_ lease: UInt32, keyLease: UInt32? = nil) -> EDNSOption {
        func octets(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * (3 - $0))) } }
        return EDNSOption(code: updateLeaseCode, data: octets(lease) + (keyLease.map(octets) ?? []))
    }

    /// LEASE and KEY-LEASE of an UPDATE-LEASE option (KEY-LEASE is LEASE when absent), or nil
    /// for any other option or one whose data is not 4 or 8 octets.
    public var updateLease: (lease: UInt32, keyLease: UInt32)? {
        guard code == Self.updateLeaseCode, data.count == 4 || data.count == 8 else { return nil }
        func value(_ at: Int) -> UInt32 { data[at..<(at + 4)].reduce(0) { $0 << 8 | UInt32($1) } }
        let lease = value(0)
        return (lease, data.count == 8 ? value(4) : lease)
    }

    /// The INFO-CODE and text of an Extended DNS Error option, or nil for any other option.
    public var extendedError: (code: UInt16, text: String)? {
        guard code == Self.extendedErrorCode, data.count >= 2 else { return nil }
        return (UInt16(data[0]) << 8 | UInt16(data[1]), String(decoding: data.dropFirst(2), as: UTF8.self))
    }
}

/// The OPT pseudo-record's contents (RFC 6891). The upper eight bits of the extended RCODE
/// live in `Message.rcode`, not here, so the two cannot disagree.
public struct EDNS: Sendable, Hashable {
    /// Largest UDP payload the sender can take. 1232 avoids fragmentation on any common path.
    public var udpPayloadSize: UInt16
    /// The EDNS version; only 0 is defined, and a server answers BADVERS to any other.
    public var version: UInt8
    /// The DO bit.
    public var dnssecOK: Bool
    /// The other flag bits of the OPT TTL, kept so they round-trip.
    public var otherFlags: UInt16
    /// The options, in order.
    public var options: [EDNSOption]

    /// The payload size we advertise (the DNS flag day 2020 value).
    public static let defaultPayloadSize: UInt16 = 1232

    /// An OPT record; the defaults are what this project sends.
    public init(
        udpPayloadSize: UInt16 = EDNS.defaultPayloadSize, version: UInt8 = 0, dnssecOK: Bool = false,
        otherFlags: UInt16 = 0, options: [EDNSOption] = []
    ) {
        self.udpPayloadSize = udpPayloadSize
        self.version = version
        self.dnssecOK = dnssecOK
        self.otherFlags = otherFlags & 0x7FFF
        self.options = options
    }

    func encode(rcode: ResponseCode, into writer: inout WireWriter) {
        writer.writeUInt8(0)  // root owner
        writer.writeUInt16(RRType.opt.rawValue)
        writer.writeUInt16(udpPayloadSize)
        writer.writeUInt8(UInt8(truncatingIfNeeded: rcode.rawValue >> 4))
        writer.writeUInt8(version)
        writer.writeUInt16((dnssecOK ? 0x8000 : 0) | otherFlags)
        let length = options.reduce(0) { $0 + 4 + $1.data.count }
        writer.writeUInt16(UInt16(length))
        for option in options {
            writer.writeUInt16(option.code)
            writer.writeUInt16(UInt16(option.data.count))
            writer.writeBytes(option.data)
        }
    }

    /// Decodes the OPT record's fields after its owner name and type; returns the upper RCODE bits.
    static func decode(from reader: inout WireReader) throws -> (EDNS, UInt8) {
        let payload = try reader.readUInt16("OPT UDP payload size")
        let extendedRCode = try reader.readUInt8("OPT extended RCODE")
        let version = try reader.readUInt8("OPT version")
        let flags = try reader.readUInt16("OPT flags")
        let length = Int(try reader.readUInt16("OPT RDLENGTH"))
        guard reader.remaining >= length else { throw DNSWireError.truncated("OPT RDATA") }
        let end = reader.offset + length
        var options: [EDNSOption] = []
        while reader.offset < end {
            let code = try reader.readUInt16("EDNS option code")
            let optionLength = Int(try reader.readUInt16("EDNS option length"))
            guard reader.offset + optionLength <= end else { throw DNSWireError.badOPT("option \(code) overruns RDATA") }
            options.append(EDNSOption(code: code, data: try reader.readBytes(optionLength, "EDNS option data")))
        }
        let edns = EDNS(
            udpPayloadSize: payload, version: version, dnssecOK: flags & 0x8000 != 0, otherFlags: flags & 0x7FFF,
            options: options)
        return (edns, extendedRCode)
    }
}

import Crypto
import DNSWire

/// Names to labels and chunks, as sections 2 and 3.1 of docs/FORMAT.md define them.
public enum Naming {
    /// The longest name, in UTF-8 octets.
    public static let maxNameOctets = 255

    /// Checks a database, collection or document name against section 2's rules: 1 to 255
    /// octets of UTF-8, no NUL. Every operation applies them, reads and writes alike.
    public static func validate(_ name: String) throws {
        let octets = name.utf8
        guard !octets.isEmpty else { throw StoreError.invalidName("a name must not be empty") }
        guard octets.count <= maxNameOctets else {
            throw StoreError.invalidName("'\(name.prefix(40))...' is \(octets.count) octets; the limit is 255")
        }
        guard !octets.contains(0) else { throw StoreError.invalidName("'\(name)' contains a NUL character") }
    }

    /// The label for a database, collection or document name.
    public static func label(for name: String) throws -> String {
        try validate(name)
        return label(forOctets: Array(name.utf8))
    }

    /// The label for any octets by the three forms of section 2, without its limits on names
    /// (index keys, section 14.2, may be longer or hold NUL).
    static func label(forOctets octets: [UInt8]) -> String {
        if isPlain(octets) { return String(decoding: octets, as: UTF8.self) }
        let encoded = "x--" + Base32.encode(octets)
        if encoded.utf8.count <= DNSName.maxLabelLength { return encoded }
        return "h--" + Base32.encode(Array(SHA256.hash(data: octets)).prefix(20))
    }

    /// The name a label stands for, when the label alone tells (plain and encoded forms).
    public static func name(forLabel label: String) -> String? {
        if label.hasPrefix("h--") { return nil }
        if label.hasPrefix("x--") {
            return Base32.decode(String(label.dropFirst(3))).map { String(decoding: $0, as: UTF8.self) }
        }
        return label
    }

    static func isPlain(_ octets: [UInt8]) -> Bool {
        guard (1...DNSName.maxLabelLength).contains(octets.count) else { return false }
        func allowed(_ b: UInt8) -> Bool { (b >= 97 && b <= 122) || (b >= 48 && b <= 57) }
        guard allowed(octets.first!), allowed(octets.last!) else { return false }
        var previousHyphen = false
        for b in octets {
            let hyphen = b == UInt8(ascii: "-")
            guard allowed(b) || hyphen else { return false }
            if hyphen && previousHyphen { return false }
            previousHyphen = hyphen
        }
        return true
    }

    /// The index chunk of `name` among `total`: the first four octets of its SHA-256, big-endian, mod total.
    public static func chunk(for name: String, total: Int) -> Int {
        let digest = Array(SHA256.hash(data: Array(name.utf8)))
        let value = UInt32(digest[0]) << 24 | UInt32(digest[1]) << 16 | UInt32(digest[2]) << 8 | UInt32(digest[3])
        return Int(value % UInt32(max(1, total)))
    }
}

/// The DNS names of a store's tree (section 1 of docs/FORMAT.md).
struct StoreLayout: Sendable {
    let root: DNSName

    init(domain: DNSName) throws {
        root = try domain.prepending("_dnsstore")
    }

    /// `R` as private collections bind it (section 11.1): the root's name in presentation form,
    /// with its final dot, ASCII letters in lower case, so that a domain opens the same however
    /// it is spelled.
    var boundRoot: String {
        String(decoding: root.description.utf8.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    /// The spellings of `R` a reader tries, in order: the lower-cased one, then the root as this
    /// store's domain spells it, which private collections created before the rule bound.
    var rootSpellings: [String] {
        boundRoot == root.description ? [boundRoot] : [boundRoot, root.description]
    }

    func indexPage(_ page: Int, chunk: Int, of node: DNSName) throws -> DNSName {
        let chunkName = try node.prepending(String(chunk))
        return page == 0 ? chunkName : try chunkName.prepending("_p\(page)")
    }

    func child(_ name: String, total: Int, of node: DNSName) throws -> (name: DNSName, chunk: Int) {
        let chunk = Naming.chunk(for: name, total: total)
        do {
            return (try node.prepending(String(chunk)).prepending(try Naming.label(for: name)), chunk)
        } catch let error as DNSWireError {
            throw StoreError.invalidName("'\(name)' makes a DNS name that is too long under \(root) (\(error))")
        }
    }

    /// `_leases.R`: the lease index's node (section 13), whose chunks list the leases.
    var leaseIndex: DNSName { try! root.prepending("_leases") }

    /// A lease record's name, `<id>.<chunk>._leases.R`, and its chunk of the lease index.
    func lease(_ id: String) throws -> (name: DNSName, chunk: Int) {
        let chunk = Naming.chunk(for: id, total: LeaseRecord.indexChunks)
        return (try leaseIndex.prepending(String(chunk)).prepending(id), chunk)
    }

    func dataChunk(_ index: Int, generation: String, of record: DNSName) throws -> DNSName {
        do {
            return try record.prepending("\(index)-\(generation)")
        } catch {
            throw StoreError.invalidName("the data chunk names of \(record) would be too long (\(error))")
        }
    }
}

import DNSWire
import Foundation

/// The TXT records under a store's root, held for a check of the whole store in partitions, so
/// that the check's memory does not grow with the store: a document's record, its data chunks
/// and the index entries that list it land in one partition (by a hash of the record's name), and
/// the check takes the partitions one at a time. Partitions live in memory until they pass a
/// limit, then in files of a private folder that `remove` deletes. Names above the records'
/// depth (metadata, the upper indexes) are few and stay in memory, in `top`.
struct SpilledTexts {
    /// An index entry of a document: which collection (a number the caller gave it), chunk and id.
    struct Entry {
        var node: Int
        var chunk: Int
        var id: String
        var name: DNSName
    }

    /// Partitions: many, so that even a store of millions of documents has small ones.
    static let partitions = 1024

    /// Labels of a document's record name; deeper names go with the record above them.
    let depth: Int
    /// What is held in memory before the partitions go to files.
    let memoryLimit: Int
    /// Names above the records' depth.
    var top = ZoneTexts()
    private var buffers = [[UInt8]](repeating: [], count: SpilledTexts.partitions)
    private var buffered = 0
    private(set) var folder: URL?
    /// Names in partitions accounted for before their partition is read (index pages).
    private var accountedEarly = [Set<DNSName>](repeating: [], count: SpilledTexts.partitions)

    init(depth: Int, memoryLimit: Int = 8 << 20) {
        self.depth = depth
        self.memoryLimit = memoryLimit
    }

    private func partition(of name: DNSName) -> Int {
        var head = name.lowercased
        while head.labelCount > depth { head = head.parent }
        var hasher = Hasher()
        head.wire.withUnsafeBytes { hasher.combine(bytes: $0) }
        return Int(UInt(bitPattern: hasher.finalize()) % UInt(Self.partitions))
    }

    /// Keeps `rdata` at `name`, replacing what was kept there.
    mutating func insert(_ name: DNSName, _ rdata: RData) throws {
        guard name.labelCount >= depth else {
            top.insert(name, rdata)
            return
        }
        try append(0, name, rdata.uncompressedWire, to: partition(of: name))
    }

    /// Keeps an index entry with the records it should list.
    mutating func insert(_ entry: Entry) throws {
        try append(1, entry.name, Self.encode(entry), to: partition(of: entry.name))
    }

    /// Notes that the check accounted for `name`.
    mutating func account(_ name: DNSName) {
        if name.labelCount < depth { top.account(name) } else { accountedEarly[partition(of: name)].insert(name) }
    }

    /// Partition `index`, taken out: its texts (with what was accounted for early marked) and
    /// its entries.
    mutating func take(_ index: Int) throws -> (texts: ZoneTexts, entries: [Entry]) {
        var texts = ZoneTexts()
        var entries: [Entry] = []
        var octets: [UInt8] = []
        if let folder, let stored = FileManager.default.contents(atPath: folder.appendingPathComponent("\(index)").path) {
            octets = Array(stored)
        }
        octets += buffers[index]
        buffers[index] = []
        var i = 0
        while i < octets.count {
            let kind = octets[i]
            let nameLength = Int(octets[i + 1])
            let name = try DNSName(wire: Array(octets[(i + 2)..<(i + 2 + nameLength)]))
            var j = i + 2 + nameLength
            let length = Int(octets[j]) << 8 | Int(octets[j + 1])
            j += 2
            let payload = Array(octets[j..<(j + length)])
            i = j + length
            if kind == 0 {
                texts.insert(name, wire: payload)
            } else {
                entries.append(try Self.decode(payload, name: name))
            }
        }
        for name in accountedEarly[index] { texts.account(name) }
        accountedEarly[index] = []
        return (texts, entries)
    }

    /// Deletes the partitions' files.
    func remove() {
        if let folder { try? FileManager.default.removeItem(at: folder) }
    }

    private mutating func append(_ kind: UInt8, _ name: DNSName, _ payload: [UInt8], to index: Int) throws {
        buffers[index].append(kind)
        buffers[index].append(UInt8(name.wire.count))
        buffers[index] += name.wire
        buffers[index].append(UInt8(truncatingIfNeeded: payload.count >> 8))
        buffers[index].append(UInt8(truncatingIfNeeded: payload.count))
        buffers[index] += payload
        buffered += 4 + name.wire.count + payload.count
        if buffered > memoryLimit { try spill() }
    }

    /// Appends every partition held in memory to its file.
    private mutating func spill() throws {
        let folder = try self.folder ?? {
            let made = FileManager.default.temporaryDirectory.appendingPathComponent("dnsstore-check-\(UInt64.random(in: 0...UInt64.max))")
            guard mkdir(made.path, 0o700) == 0 else {
                throw StoreError.serverFailure("the check cannot make its working folder \(made.path): \(String(cString: strerror(errno)))")
            }
            return made
        }()
        self.folder = folder
        for index in buffers.indices where !buffers[index].isEmpty {
            let path = folder.appendingPathComponent("\(index)").path
            let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
            guard descriptor >= 0 else {
                throw StoreError.serverFailure("the check cannot write its working file \(path): \(String(cString: strerror(errno)))")
            }
            let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            try handle.write(contentsOf: buffers[index])
            buffers[index] = []
        }
        buffered = 0
    }

    private static func encode(_ entry: Entry) -> [UInt8] {
        func four(_ value: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) } }
        return four(entry.node) + four(entry.chunk) + Array(entry.id.utf8)
    }

    private static func decode(_ payload: [UInt8], name: DNSName) throws -> Entry {
        func four(_ at: Int) -> Int { (0..<4).reduce(0) { $0 << 8 | Int(payload[at + $1]) } }
        guard payload.count >= 8 else { throw StoreError.corrupted("a check's working file is damaged") }
        return Entry(node: four(0), chunk: four(4), id: String(decoding: payload[8...], as: UTF8.self), name: name)
    }
}

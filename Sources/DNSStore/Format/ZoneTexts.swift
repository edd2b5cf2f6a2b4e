import DNSWire

/// The TXT records under a store's root, held for a check of the whole store: each name and
/// its RDATA in wire form, one after another in one array, found by a hash of the name. A
/// million records take about their own octets instead of a million small objects, and the
/// marks of which names the check has accounted for take one bit each.
struct ZoneTexts {
    /// Entries as `[name length][name][RDATA length, 2 octets][RDATA]`.
    private var arena: [UInt8] = []
    /// Where each entry starts; an entry replaced by a later record at the same name is -1.
    private var starts: [Int] = []
    /// Entry by the hash of its lowercased name.
    private var byHash: [Int: Int] = [:]
    /// Entries whose name's hash an earlier, different name took (rare).
    private var collided: [DNSName: Int] = [:]
    private var accountedEntries: [UInt64] = []
    /// Names accounted for that hold no TXT record here.
    private var accountedElsewhere: Set<DNSName> = []

    private let hash: (DNSName) -> Int

    /// `hash`: of a name, equal for names equal in any case (tests give a poor one on purpose).
    init(hash: @escaping (DNSName) -> Int = ZoneTexts.hash) {
        self.hash = hash
    }

    static func hash(_ name: DNSName) -> Int {
        var hasher = Hasher()
        name.lowercased.wire.withUnsafeBytes { hasher.combine(bytes: $0) }
        return hasher.finalize()
    }

    /// Keeps `rdata` at `name`, replacing what was kept there.
    mutating func insert(_ name: DNSName, _ rdata: RData) {
        insert(name, wire: rdata.uncompressedWire)
    }

    /// Keeps the TXT RDATA `wire` at `name`, replacing what was kept there.
    mutating func insert(_ name: DNSName, wire: [UInt8]) {
        let entry = starts.count
        starts.append(arena.count)
        arena.append(UInt8(name.wire.count))
        arena += name.wire
        arena.append(UInt8(truncatingIfNeeded: wire.count >> 8))
        arena.append(UInt8(truncatingIfNeeded: wire.count))
        arena += wire
        if entry % 64 == 0 { accountedEntries.append(0) }
        let key = hash(name)
        if let other = byHash[key] {
            if self.name(at: other) == name {
                starts[other] = -1
                byHash[key] = entry
            } else {
                if let old = collided[name] { starts[old] = -1 }
                collided[name] = entry
            }
        } else {
            byHash[key] = entry
        }
    }

    private func entry(_ name: DNSName) -> Int? {
        if let entry = byHash[hash(name)], self.name(at: entry) == name { return entry }
        return collided[name]
    }

    private func name(at entry: Int) -> DNSName? {
        let start = starts[entry]
        guard start >= 0 else { return nil }
        let length = Int(arena[start])
        return try? DNSName(wire: Array(arena[(start + 1)...(start + length)]))
    }

    /// The TXT RDATA kept at `name`.
    subscript(name: DNSName) -> RData? {
        guard let entry = entry(name) else { return nil }
        let start = starts[entry] + 1 + Int(arena[starts[entry]])
        let length = Int(arena[start]) << 8 | Int(arena[start + 1])
        return try? RData.decode(type: .txt, wire: Array(arena[(start + 2)..<(start + 2 + length)]))
    }

    /// Notes that the check accounted for `name`.
    mutating func account(_ name: DNSName) {
        if let entry = entry(name) {
            accountedEntries[entry / 64] |= 1 << UInt64(entry % 64)
        } else {
            accountedElsewhere.insert(name)
        }
    }

    /// Whether the check accounted for `name`.
    func isAccounted(_ name: DNSName) -> Bool {
        if let entry = entry(name) { return accountedEntries[entry / 64] & (1 << UInt64(entry % 64)) != 0 }
        return accountedElsewhere.contains(name)
    }

    /// The names kept that the check has not accounted for, in canonical order.
    func unaccounted() -> [DNSName] {
        var names: [DNSName] = []
        for entry in starts.indices where accountedEntries[entry / 64] & (1 << UInt64(entry % 64)) == 0 {
            if let name = name(at: entry) { names.append(name) }
        }
        return names.sorted()
    }
}

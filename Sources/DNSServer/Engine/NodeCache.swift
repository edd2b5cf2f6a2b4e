import DNSWire

/// Names recently asked about, with their RRsets and whether they exist, so that most queries
/// are answered from memory without storage. Bounded in octets: entries live in a young and an
/// old generation; when the young one fills up, the old one is dropped and the young one takes
/// its place, and an entry found in the old one moves back to the young. Names that change are
/// removed, with their ancestors (whose existence may follow from them).
final class NodeCache: Sendable {
    struct Node: Sendable {
        var rrsets: [RRType: RRSet]
        /// Owns records or has names below it; false means NXDOMAIN.
        var exists: Bool

        /// Memory the node takes, about: its dictionaries, and each record held twice (as RDATA
        /// and as the canonical form its set is keyed by), so that the cache's bound is a bound on
        /// the process's memory and not only on the records' octets.
        var octets: Int {
            rrsets.values.reduce(256) { total, set in set.rdatas.reduce(total + 160) { $0 + 64 + 2 * $1.uncompressedWire.count } }
        }
    }

    private struct State {
        var young: [DNSName: Node] = [:]
        var old: [DNSName: Node] = [:]
        var youngOctets = 0
        /// The change counter value the entries are known to be current at.
        var currentAt: UInt64 = 0
        /// Per zone, the serial the entries reflect, for reading the journal from there.
        var serials: [DNSName: UInt32] = [:]
    }

    let capacity: Int
    /// The zones served: a changed name's ancestors are removed up to its zone's origin.
    let zones: [DNSName]
    private let state = Locked(State())

    /// `capacity`: octets of RRsets kept, about; half of it per generation.
    init(capacity: Int, zones: [DNSName]) {
        self.capacity = capacity
        self.zones = zones
    }

    /// Whether the entries are current at the change counter's value `counter`.
    func isCurrent(at counter: UInt64) -> Bool { state.withLock { $0.currentAt == counter } }

    /// The counter value the entries are current at, and the zone serials they reflect.
    var position: (counter: UInt64, serials: [DNSName: UInt32]) { state.withLock { ($0.currentAt, $0.serials) } }

    /// Removes names (with their ancestors) without changing what the cache is current at.
    func forget(_ names: Set<DNSName>) {
        state.withLock { state in self.remove(names, from: &state) }
    }

    private func remove(_ names: Set<DNSName>, from state: inout State) {
        for name in names {
            var current = name
            while true {
                state.young[current] = nil
                state.old[current] = nil
                guard !current.isRoot, zones.contains(where: { current != $0 && current.isSubdomain(of: $0) }) else { break }
                current = current.parent
            }
        }
    }

    /// The node, if cached and the cache is current at `counter`.
    func node(_ name: DNSName, counter: UInt64) -> Node? {
        state.withLock { state in
            guard state.currentAt == counter else { return nil }
            if let node = state.young[name] { return node }
            guard let node = state.old.removeValue(forKey: name) else { return nil }
            Self.insert(name, node, into: &state, capacity: capacity)
            return node
        }
    }

    /// Keeps a node read from storage while the counter was still `counter`.
    func store(_ name: DNSName, _ node: Node, counter: UInt64) {
        guard capacity > 0 else { return }
        state.withLock { state in
            guard state.currentAt == counter else { return }
            Self.insert(name, node, into: &state, capacity: capacity)
        }
    }

    private static func insert(_ name: DNSName, _ node: Node, into state: inout State, capacity: Int) {
        let octets = node.octets
        guard octets <= capacity / 2 else { return }
        if state.youngOctets + octets > capacity / 2 {
            state.old = state.young
            state.young = [:]
            state.youngOctets = 0
        }
        state.young[name] = node
        state.youngOctets += octets
    }

    /// Removes what changed and declares the cache current at `counter`, when it was current at
    /// `previous` (or `previous` is nil) and at the zone serials in `serials`. Returns whether it did.
    @discardableResult
    func apply(
        changed names: Set<DNSName>, zoneSerials: [DNSName: UInt32], from previous: UInt64?, to counter: UInt64,
        after serials: [DNSName: UInt32] = [:]
    ) -> Bool {
        state.withLock { state in
            if let previous, state.currentAt != previous { return false }
            if serials.contains(where: { state.serials[$0.key] != $0.value }) { return false }
            remove(names, from: &state)
            state.serials.merge(zoneSerials) { _, new in new }
            state.currentAt = counter
            return true
        }
    }

    /// Forgets everything and declares the cache current at `counter` with `zoneSerials`.
    func reset(counter: UInt64, zoneSerials: [DNSName: UInt32]) {
        state.withLock { state in
            state = State()
            state.currentAt = counter
            state.serials = zoneSerials
        }
    }

    var count: Int { state.withLock { $0.young.count + $0.old.count } }
}

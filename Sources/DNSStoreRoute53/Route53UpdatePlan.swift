import DNSWire

/// The record sets of some names of a hosted zone as the API listed them, by name and type.
struct Route53Excerpt: Sendable, Hashable {
    var sets: [DNSName: [String: Route53RecordSet]] = [:]

    /// Every set the API listed at `name`.
    func at(_ name: DNSName) -> [String: Route53RecordSet] { sets[name.lowercased] ?? [:] }

    mutating func set(_ set: Route53RecordSet?, at name: DNSName, type: String) {
        sets[name.lowercased, default: [:]][type] = set
    }

    /// The TXT RDATA of a set, or nil for values that are not TXT (then no prerequisite on them holds).
    static func rdata(of set: Route53RecordSet) -> [RData]? {
        var out: [RData] = []
        for value in set.values {
            guard let txt = Route53Text.txt(value) else { return nil }
            out.append(.txt(txt))
        }
        return out
    }
}

/// An RFC 2136 UPDATE worked out as one Route 53 change batch, with no I/O: the prerequisites are
/// checked against what was read of the names they concern, the changes applied to a copy, and
/// every record set that differs becomes a DELETE of its exact values as read (which fails the
/// batch if they changed since) and a CREATE of its new ones (which fails it if the set appeared).
/// So a batch applies only over the state the plan was made from.
///
/// Only TXT record sets are read and changed: a store's names hold nothing else. A prerequisite or
/// change of another type is refused (REFUSED), and a name is in use when it holds a TXT set.
enum Route53UpdatePlan {
    enum Outcome: Sendable, Hashable {
        /// A prerequisite does not hold, or the UPDATE asks what Route 53 cannot do: answer with this RCODE.
        case refused(ResponseCode, why: String)
        /// The batch to send; empty when nothing changes.
        case changes([Route53Change])
    }

    /// Every name the UPDATE's prerequisites and changes concern: what must be read first.
    static func names(_ prerequisites: [Prerequisite], _ operations: [UpdateOperation]) -> [DNSName] {
        var seen = Set<DNSName>()
        var out: [DNSName] = []
        func note(_ name: DNSName) { if seen.insert(name.lowercased).inserted { out.append(name) } }
        for prerequisite in prerequisites { note(name(of: prerequisite)) }
        for operation in operations {
            switch operation {
            case .add(let record): note(record.name)
            case .deleteRRset(let name, _), .deleteName(let name), .deleteRecord(let name, _, _): note(name)
            }
        }
        return out
    }

    /// Names whose new TXT set the UPDATE gives whole, whatever they held or because they must
    /// hold none: the first operation on each deletes its TXT set (or the name) and a later one
    /// adds, or a prerequisite requires it empty (no TXT set, or the name not in use) and an
    /// operation adds; no other prerequisite concerns it. Planned unread, such a name becomes a
    /// CREATE, which Route 53 refuses if the set exists (then the plan is made again with it
    /// read, and a prerequisite that fails is answered then), so writing a new document or its
    /// data chunks costs no read of their names.
    static func plannedUnread(_ prerequisites: [Prerequisite], _ operations: [UpdateOperation]) -> Set<DNSName> {
        var empty = Set<DNSName>()
        var other = Set<DNSName>()
        for prerequisite in prerequisites {
            switch prerequisite {
            case .rrsetDoesNotExist(let name, .txt), .nameNotInUse(let name): empty.insert(name.lowercased)
            default: other.insert(name(of: prerequisite).lowercased)
            }
        }
        var cleared = Set<DNSName>()
        var added = Set<DNSName>()
        var seen = Set<DNSName>()
        for operation in operations {
            switch operation {
            case .deleteRRset(let name, .txt), .deleteName(let name):
                if seen.insert(name.lowercased).inserted { cleared.insert(name.lowercased) }
            case .add(let record):
                seen.insert(record.name.lowercased)
                added.insert(record.name.lowercased)
            case .deleteRRset(let name, _), .deleteRecord(let name, _, _):
                seen.insert(name.lowercased)
                other.insert(name.lowercased)
            }
        }
        return cleared.union(empty).intersection(added).subtracting(other)
    }

    /// The names (lower case) the prerequisites concern.
    static func required(_ prerequisites: [Prerequisite]) -> Set<DNSName> {
        Set(prerequisites.map { name(of: $0).lowercased })
    }

    /// The name a prerequisite concerns.
    private static func name(of prerequisite: Prerequisite) -> DNSName {
        switch prerequisite {
        case .rrsetExists(let name, _), .rrsetEquals(let name, _, _), .rrsetDoesNotExist(let name, _),
            .nameInUse(let name), .nameNotInUse(let name):
            return name
        }
    }

    static func plan(zone: DNSName, prerequisites: [Prerequisite], operations: [UpdateOperation], over before: Route53Excerpt) -> Outcome {
        for name in names(prerequisites, operations) where !name.isSubdomain(of: zone) {
            return .refused(.notZone, why: "\(name) is outside the zone \(zone)")
        }
        for prerequisite in prerequisites {
            if let type = type(of: prerequisite), type != .txt {
                return .refused(.refused, why: "only TXT records are read through Route 53, not \(type)")
            }
            if let failed = check(prerequisite, before) { return failed }
        }
        var after = before
        for operation in operations {
            if let refused = apply(operation, to: &after) { return refused }
        }
        var changes: [Route53Change] = []
        for name in names(prerequisites, operations) {
            let old = before.at(name)
            let new = after.at(name)
            for type in Set(old.keys).union(new.keys).sorted() where old[type] != new[type] {
                if let set = old[type] { changes.append(Route53Change(.delete, set)) }
                if let set = new[type] { changes.append(Route53Change(.create, set)) }
            }
        }
        return .changes(changes)
    }

    private static func type(of prerequisite: Prerequisite) -> RRType? {
        switch prerequisite {
        case .rrsetExists(_, let type), .rrsetEquals(_, let type, _), .rrsetDoesNotExist(_, let type): return type
        case .nameInUse, .nameNotInUse: return nil
        }
    }

    private static func check(_ prerequisite: Prerequisite, _ state: Route53Excerpt) -> Outcome? {
        switch prerequisite {
        case .rrsetExists(let name, let type):
            if state.at(name)[type.description] == nil { return .refused(.nxRRSet, why: "no \(type) at \(name)") }
        case .rrsetEquals(let name, let type, let rdata):
            let held = state.at(name)[type.description].flatMap(Route53Excerpt.rdata(of:))
            if held.map(Set.init) != Set(rdata) { return .refused(.nxRRSet, why: "the \(type) RRset at \(name) differs") }
        case .rrsetDoesNotExist(let name, let type):
            if state.at(name)[type.description] != nil { return .refused(.yxRRSet, why: "\(type) exists at \(name)") }
        case .nameInUse(let name):
            if state.at(name).isEmpty { return .refused(.nxDomain, why: "\(name) owns no records") }
        case .nameNotInUse(let name):
            if !state.at(name).isEmpty { return .refused(.yxDomain, why: "\(name) owns records") }
        }
        return nil
    }

    private static func apply(_ operation: UpdateOperation, to state: inout Route53Excerpt) -> Outcome? {
        switch operation {
        case .add(let record):
            guard case .txt(let txt) = record.rdata else {
                return .refused(.refused, why: "only TXT records are written through Route 53, not \(record.type) at \(record.name)")
            }
            let name = Route53Text.name(record.name)
            var set = state.at(record.name)["TXT"] ?? Route53RecordSet(name: name, type: "TXT", ttl: Int(record.ttl), values: [])
            let held = Route53Excerpt.rdata(of: set) ?? []
            if !held.contains(record.rdata) { set.values.append(Route53Text.value(txt)) }
            set.ttl = Int(record.ttl)
            state.set(set, at: record.name, type: "TXT")
        case .deleteRRset(let name, let type):
            guard type == .txt else { return .refused(.refused, why: "only TXT records are changed through Route 53, not \(type) at \(name)") }
            state.set(nil, at: name, type: "TXT")
        case .deleteName(let name):
            state.set(nil, at: name, type: "TXT")
        case .deleteRecord(let name, let type, let rdata):
            guard type == .txt else { return .refused(.refused, why: "only TXT records are changed through Route 53, not \(type) at \(name)") }
            guard var set = state.at(name)["TXT"] else { return nil }
            set.values.removeAll { Route53Text.txt($0).map(RData.txt) == rdata }
            state.set(set.values.isEmpty ? nil : set, at: name, type: "TXT")
        }
        return nil
    }
}

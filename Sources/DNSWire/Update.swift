/// A condition an UPDATE requires before it changes anything (RFC 2136 section 2.4).
public enum Prerequisite: Sendable, Hashable {
    /// An RRset of this name and type exists, whatever its records.
    case rrsetExists(DNSName, RRType)
    /// An RRset of this name and type exists and holds exactly these records (the whole RRset).
    case rrsetEquals(DNSName, RRType, [RData])
    /// No RRset of this name and type exists.
    case rrsetDoesNotExist(DNSName, RRType)
    /// The name owns at least one RR.
    case nameInUse(DNSName)
    /// The name owns no RR.
    case nameNotInUse(DNSName)
}

/// A change an UPDATE makes (RFC 2136 section 2.5).
public enum UpdateOperation: Sendable, Hashable {
    /// Adds a record to its RRset.
    case add(ResourceRecord)
    /// Deletes the RRset of this name and type.
    case deleteRRset(DNSName, RRType)
    /// Deletes every RRset of the name.
    case deleteName(DNSName)
    /// Deletes the one record of this name, type and data.
    case deleteRecord(DNSName, RRType, RData)
}

/// Builds an RFC 2136 UPDATE message: the zone, its prerequisites and its changes.
/// The server applies the changes all together or not at all, and only if every prerequisite holds,
/// which makes an UPDATE a compare-and-swap.
public struct UpdateBuilder: Sendable, Hashable {
    /// The zone to change.
    public var zone: DNSName
    /// Its class; IN.
    public var zoneClass: DNSClass
    /// What must hold for the changes to be applied.
    public var prerequisites: [Prerequisite] = []
    /// The changes, applied in order.
    public var operations: [UpdateOperation] = []
    /// EDNS options the message carries (an UPDATE-LEASE, say).
    public var options: [EDNSOption] = []

    /// An UPDATE of `zone` with no prerequisites and no changes yet.
    public init(zone: DNSName, class zoneClass: DNSClass = .in) {
        self.zone = zone
        self.zoneClass = zoneClass
    }

    /// Adds a prerequisite.
    public mutating func require(_ prerequisite: Prerequisite) { prerequisites.append(prerequisite) }
    /// Adds a change.
    public mutating func apply(_ operation: UpdateOperation) { operations.append(operation) }

    /// Adds `record` to its RRset.
    public mutating func add(_ record: ResourceRecord) { operations.append(.add(record)) }
    /// Replaces the RRset of `name` and `type` by `records` (delete the RRset, then add).
    public mutating func replace(_ name: DNSName, _ type: RRType, with records: [RData], ttl: UInt32) {
        operations.append(.deleteRRset(name, type))
        for rdata in records {
            operations.append(.add(ResourceRecord(name: name, type: type, class: zoneClass, ttl: ttl, rdata: rdata)))
        }
    }

    /// The UPDATE message. It carries EDNS0, so that a server can say why it refuses (RFC 8914).
    public func message(id: UInt16 = 0) -> Message {
        var m = Message(id: id, opcode: .update, questions: [Question(name: zone, type: .soa, class: zoneClass)], edns: EDNS(options: options))
        m.prerequisites = prerequisites.flatMap(record(for:))
        m.updates = operations.map(record(for:))
        return m
    }

    private func record(for prerequisite: Prerequisite) -> [ResourceRecord] {
        switch prerequisite {
        case .rrsetExists(let name, let type):
            return [ResourceRecord(name: name, type: type, class: .any, ttl: 0, rdata: .empty)]
        case .rrsetEquals(let name, let type, let rdatas):
            return rdatas.map { ResourceRecord(name: name, type: type, class: zoneClass, ttl: 0, rdata: $0) }
        case .rrsetDoesNotExist(let name, let type):
            return [ResourceRecord(name: name, type: type, class: .none, ttl: 0, rdata: .empty)]
        case .nameInUse(let name):
            return [ResourceRecord(name: name, type: .any, class: .any, ttl: 0, rdata: .empty)]
        case .nameNotInUse(let name):
            return [ResourceRecord(name: name, type: .any, class: .none, ttl: 0, rdata: .empty)]
        }
    }

    private func record(for operation: UpdateOperation) -> ResourceRecord {
        switch operation {
        case .add(var record):
            record.class = zoneClass
            return record
        case .deleteRRset(let name, let type):
            return ResourceRecord(name: name, type: type, class: .any, ttl: 0, rdata: .empty)
        case .deleteName(let name):
            return ResourceRecord(name: name, type: .any, class: .any, ttl: 0, rdata: .empty)
        case .deleteRecord(let name, let type, let rdata):
            return ResourceRecord(name: name, type: type, class: .none, ttl: 0, rdata: rdata)
        }
    }
}

extension Message {
    /// Reads an UPDATE's prerequisite section back into prerequisites (the inverse of `UpdateBuilder`),
    /// for servers. Value-dependent records of one name and type are gathered into one RRset.
    public func parsedPrerequisites(zoneClass: DNSClass) throws -> [Prerequisite] {
        var result: [Prerequisite] = []
        var valueSets: [(DNSName, RRType, [RData])] = []
        for r in prerequisites {
            guard r.ttl == 0 else { throw UpdateFormatError.prerequisiteTTL(r.name) }
            switch (r.class, r.type, r.rdata) {
            case (.any, .any, .empty): result.append(.nameInUse(r.name))
            case (.any, _, .empty): result.append(.rrsetExists(r.name, r.type))
            case (.none, .any, .empty): result.append(.nameNotInUse(r.name))
            case (.none, _, .empty): result.append(.rrsetDoesNotExist(r.name, r.type))
            case (zoneClass, _, _) where r.rdata != .empty:
                if let i = valueSets.firstIndex(where: { $0.0 == r.name && $0.1 == r.type }) {
                    valueSets[i].2.append(r.rdata)
                } else {
                    valueSets.append((r.name, r.type, [r.rdata]))
                }
            default: throw UpdateFormatError.badPrerequisite(r.name, r.class)
            }
        }
        return result + valueSets.map { .rrsetEquals($0.0, $0.1, $0.2) }
    }

    /// Reads an UPDATE's update section back into operations, for servers.
    public func parsedOperations(zoneClass: DNSClass) throws -> [UpdateOperation] {
        try updates.map { r in
            switch r.class {
            case zoneClass:
                guard r.type != .any, r.rdata != .empty else { throw UpdateFormatError.badUpdate(r.name, r.class) }
                return .add(r)
            case .any:
                guard r.ttl == 0, r.rdata == .empty else { throw UpdateFormatError.badUpdate(r.name, r.class) }
                return r.type == .any ? .deleteName(r.name) : .deleteRRset(r.name, r.type)
            case .none:
                guard r.ttl == 0, r.type != .any, r.rdata != .empty else {
                    throw UpdateFormatError.badUpdate(r.name, r.class)
                }
                return .deleteRecord(r.name, r.type, r.rdata)
            default:
                throw UpdateFormatError.badUpdate(r.name, r.class)
            }
        }
    }
}

/// An UPDATE section that breaks RFC 2136's rules (the server answers FORMERR).
public enum UpdateFormatError: Error, Sendable, Hashable {
    case prerequisiteTTL(DNSName)
    case badPrerequisite(DNSName, DNSClass)
    case badUpdate(DNSName, DNSClass)
}

import DNSWire
import Logging
import NIOCore

/// The largest RRset, in answer octets, that still fits one 65,535-octet message with room for
/// the question, OPT and TSIG.
let maxRRSetAnswerOctets = 65_535 - 12 - 2 * 255 - 4 - 11 - 400

/// An UPDATE checked as far as it can be without reading its zone: what `commit` applies.
struct CheckedUpdate: Sendable {
    let context: RequestContext
    let origin: DNSName
    let prerequisites: [Prerequisite]
    let operations: [UpdateOperation]
    /// The lease granted (RFC 9664 UPDATE-LEASE), in seconds: the names the UPDATE adds to are
    /// deleted when it ends, unless an UPDATE with a lease refreshes them.
    var lease: UInt32? = nil
    /// For the server's own expiry of leases: the time it runs at; its operations delete names
    /// whose lease ended by then (checked again inside the transaction).
    var expiring: UInt64? = nil
}

extension Authority {
    /// What checking an UPDATE before storage found: an answer already, or an update to apply.
    enum UpdateCheck {
        case answer(ByteBuffer)
        case ready(CheckedUpdate)
    }

    /// Applies an UPDATE alone, on the calling thread (RFC 2136 section 3): checks the zone, the
    /// sender's right, every prerequisite, then applies all changes together with the serial
    /// raised, durably, or none.
    /// Nil: the storage did not say whether the UPDATE was stored, and it is left unanswered.
    func update(_ context: RequestContext) -> ByteBuffer? {
        switch check(update: context) {
        case .answer(let answer): return answer
        case .ready(let update): return commit([update])[0]
        }
    }

    /// The checks that need no storage: the zone, the key's subtrees, the form of every
    /// prerequisite and change, and RDATA the zone could never hold or serve. Cheap enough for
    /// the event loop, so that an UPDATE refused here never waits for others' commits.
    func check(update context: RequestContext) -> UpdateCheck {
        let request = context.request
        func fail(_ rcode: ResponseCode, _ why: String? = nil) -> UpdateCheck {
            .answer(answer(context, .answer(rcode, why)))
        }
        guard request.questions.count == 1, let zoneQuestion = request.zone, zoneQuestion.type == .soa else {
            return fail(.formErr, "its zone section is not one SOA question")
        }
        guard configuration.zones.contains(zoneQuestion.name) else {
            return fail(.notAuth, "this server is not authoritative for zone '\(zoneQuestion.name)'")
        }
        let origin = zoneQuestion.name
        if let key = context.key, let subtrees = configuration.updateSubtrees[key.name] {
            let allowed = { (name: DNSName) in subtrees.contains { name.isSubdomain(of: $0) } }
            guard (request.updates + request.prerequisites).allSatisfy({ allowed($0.name) }) else {
                return fail(.refused, "it changes names outside the subtrees key '\(key.name)' may write")
            }
        }
        let prerequisites: [Prerequisite]
        let operations: [UpdateOperation]
        do {
            prerequisites = try request.parsedPrerequisites(zoneClass: zoneQuestion.class)
            operations = try request.parsedOperations(zoneClass: zoneQuestion.class)
        } catch {
            return fail(.formErr)
        }
        for record in request.prerequisites + request.updates where !record.name.isSubdomain(of: origin) {
            return fail(.notZone)
        }
        // RFC 2136 section 3.4.1: types and RDATA the zone could never hold, or serve.
        for operation in operations {
            switch operation {
            case .add(let r):
                if let why = RDataRules.problem(r.type, r.rdata) { return fail(.formErr, "\(r.name): \(why)") }
            case .deleteRecord(let name, let type, let rdata):
                if let why = RDataRules.problem(type, rdata) { return fail(.formErr, "\(name): \(why)") }
            case .deleteRRset(let name, let type):
                if !RDataRules.isStorable(type) { return fail(.formErr, "\(name): \(type) is not a type of stored records") }
            case .deleteName:
                break
            }
        }
        for case .rrsetEquals(let name, let type, _) in prerequisites where !RDataRules.isStorable(type) {
            return fail(.formErr, "\(name): a prerequisite on \(type), which no zone holds")
        }
        var update = CheckedUpdate(context: context, origin: origin, prerequisites: prerequisites, operations: operations)
        if let option = request.edns?.options.first(where: { $0.code == EDNSOption.updateLeaseCode }) {
            guard let asked = option.updateLease else { return fail(.formErr, "an UPDATE-LEASE option of \(option.data.count) octets") }
            update.lease = min(max(asked.lease, 1), configuration.maxUpdateLease)
        }
        return .ready(update)
    }

    /// Applies checked UPDATEs in order and answers each (group commit): those to one zone go to
    /// storage in one transaction, each checked against the zone as the ones before it left it,
    /// each with its own serial and journal step, and each answered only once all are durable.
    /// When such a transaction fails, its UPDATEs are tried again one at a time, so that one
    /// cannot fail for another.
    ///
    /// An UPDATE whose transaction may or may not have committed (the storage took the COMMIT and
    /// gave no answer) gets no answer at all (nil): its client then reports an unknown outcome,
    /// where an answer such as SERVFAIL would tell it, falsely, that nothing changed.
    func commit(_ updates: [CheckedUpdate]) -> [ByteBuffer?] {
        var answers = [ByteBuffer?](repeating: nil, count: updates.count)
        var unanswered = Set<Int>()
        var zones: [DNSName] = []
        var byZone: [DNSName: [Int]] = [:]
        for (i, update) in updates.enumerated() {
            if byZone[update.origin] == nil { zones.append(update.origin) }
            byZone[update.origin, default: []].append(i)
        }
        for origin in zones {
            let indices = byZone[origin]!
            let outcomes: [Outcome]
            do {
                let started = ContinuousClock.now
                outcomes = try commit(indices.map { updates[$0] }, to: origin)
                ServerMetrics.storageCommit.recordNanoseconds((ContinuousClock.now - started).timeAmount.nanoseconds)
            } catch AuthorityError.outcomeUnknown(let why) {
                logger.error("updates left unanswered: the storage did not say whether they were stored",
                    metadata: ["zone": "\(origin)", "updates": "\(indices.count)", "error": "\(why)"])
                unanswered.formUnion(indices)
                continue
            } catch {
                guard indices.count == 1 else {
                    for i in indices { answers[i] = commit([updates[i]])[0]; if answers[i] == nil { unanswered.insert(i) } }
                    continue
                }
                ServerMetrics.storageErrors.increment()
                let level: Logger.Level = (error as? AuthorityError)?.isRepeat == true ? .debug : .error
                logger.log(level: level, "update not stored", metadata: ["zone": "\(origin)", "error": "\(error)"])
                outcomes = [.answer(.servFail, "the update could not be stored: \(error)")]
            }
            for (i, outcome) in zip(indices, outcomes) { answers[i] = answer(updates[i].context, outcome, lease: updates[i].lease) }
        }
        precondition(answers.indices.allSatisfy { answers[$0] != nil || unanswered.contains($0) })
        return answers
    }

    /// One transaction for UPDATEs to one zone: the outcome of each, in order.
    private func commit(_ updates: [CheckedUpdate], to origin: DNSName) throws -> [Outcome] {
        let read = Self.namesRead(by: updates, in: origin)
        let outcomes = try store.write(origin) { zone -> ZoneWrite<[Outcome]> in
            try zone.prefetch(read)
            var draft = ZoneDraft(zone)
            var write = ZoneWrite<[Outcome]>(steps: [], result: [])
            for update in updates {
                var operations = update.operations
                if let now = update.expiring {
                    // Only names whose lease still ends by now: a refresh may have come meanwhile.
                    operations = try operations.filter { operation in
                        guard case .deleteName(let name) = operation, let end = try zone.leaseExpiry(name) else { return false }
                        return end <= now
                    }
                }
                let outcome = try self.plan(update.prerequisites, operations, in: &draft)
                if case .commit(let step) = outcome { write.steps.append(step) }
                write.result.append(outcome)
                if update.expiring != nil {
                    for case .deleteName(let name) in operations { write.leases[name] = .some(nil) }
                } else if let lease = update.lease, outcome.succeeded {
                    // Every name the UPDATE adds to, changed or already so (a refresh), is leased anew.
                    let end = update.context.now + UInt64(lease)
                    for case .add(let record) in update.operations { write.leases[record.name] = end }
                }
            }
            return write
        }
        var changes: [ZoneChange] = []
        var serials: (from: UInt32, to: UInt32)?
        for case .commit(let step) in outcomes {
            changes += step.changes
            serials = (serials?.from ?? step.from, step.to)
        }
        if let serials {
            statistics.updateCommits.add(1, ordering: .relaxed)
            committed(changes, to: origin, from: serials.from, serial: serials.to)
        }
        return outcomes
    }

    /// The names whose nodes planning `updates` reads: the apex (its SOA), every name a
    /// prerequisite or a change names, and the names between an added name and the apex (looked
    /// at for a DNAME above it).
    static func namesRead(by updates: [CheckedUpdate], in origin: DNSName) -> Set<DNSName> {
        var names: Set<DNSName> = [origin]
        for update in updates {
            for prerequisite in update.prerequisites {
                switch prerequisite {
                case .rrsetExists(let name, _), .rrsetEquals(let name, _, _), .rrsetDoesNotExist(let name, _),
                    .nameInUse(let name), .nameNotInUse(let name):
                    names.insert(name)
                }
            }
            for operation in update.operations {
                switch operation {
                case .add(let record):
                    var name = record.name
                    names.insert(name)
                    while name.labelCount > origin.labelCount {
                        name = name.parent
                        names.insert(name)
                    }
                case .deleteRRset(let name, _), .deleteName(let name), .deleteRecord(let name, _, _):
                    names.insert(name)
                }
            }
        }
        return names
    }

    /// The answer for an outcome; refusals with a reason are logged. A lease granted is said in an
    /// UPDATE-LEASE option of the answer (RFC 9664 section 4).
    private func answer(_ context: RequestContext, _ outcome: Outcome, lease: UInt32? = nil) -> ByteBuffer {
        let granted = outcome.succeeded ? lease.map { [EDNSOption.updateLease($0)] } ?? [] : []
        switch outcome {
        case .answer(let rcode, let why):
            if let why, rcode == .servFail {
                refusals.refused("update failed", level: .error, "an UPDATE failed", source: context.source, metadata: ["rcode": "\(rcode)", "why": "\(why)"])
            } else if let why {
                refusals.refused("update", "refused an UPDATE", source: context.source, metadata: ["rcode": "\(rcode)", "why": "\(why)"])
            }
            return context.respond(rcode: rcode, payloadLimit: 65535, reason: why, options: granted)
        case .commit:
            return context.respond(rcode: .noError, payloadLimit: 65535, options: granted)
        }
    }

    private enum Outcome {
        case answer(ResponseCode, String?)
        /// Changes to store, the SOA's own change with its new serial among them.
        case commit(JournalStep)

        /// Applied, or nothing to change: every prerequisite held.
        var succeeded: Bool {
            switch self {
            case .commit: return true
            case .answer(let rcode, _): return rcode == .noError
            }
        }
    }

    /// Checks the prerequisites against the zone as drafted so far and works out the changes
    /// (RFC 2136 section 3), the new serial included; on success the draft holds them.
    private func plan(_ prerequisites: [Prerequisite], _ operations: [UpdateOperation], in draft: inout ZoneDraft) throws -> Outcome {
        let origin = draft.origin
        if let rcode = try check(prerequisites, in: draft) { return .answer(rcode, nil) }
        var next = draft
        var changes: [ZoneChange] = []
        for operation in operations { try apply(operation, to: &next, changes: &changes) }
        guard !changes.isEmpty else { return .answer(.noError, nil) }
        if let why = try dnameProblem(changes, before: draft, after: next) { return .answer(.refused, why) }
        for name in Set(changes.map(\.record.name)) {
            for (type, set) in try next.types(at: name) {
                if set.count > configuration.maxRecordsPerRRset {
                    return .answer(.refused, "\(name) \(type) would hold \(set.count) records; the limit is \(configuration.maxRecordsPerRRset)")
                }
                if set.answerSize() > maxRRSetAnswerOctets {
                    return .answer(.refused, "\(name) \(type) would not fit in one 65,535-octet answer")
                }
            }
        }
        // The new serial, recorded as the SOA's own change.
        guard let soaSet = try next.rrset(origin, .soa), case .soa(var soa)? = soaSet.rdatas.first else {
            return .answer(.servFail, "the zone \(origin) has no SOA record")
        }
        let oldSOA = ResourceRecord(name: origin, type: .soa, ttl: soaSet.ttl, rdata: .soa(soa))
        let oldSerial = soa.serial
        soa.serial = nextSerial(soa.serial)
        let newSOA = ResourceRecord(name: origin, type: .soa, ttl: soaSet.ttl, rdata: .soa(soa))
        try next.remove(origin, .soa, oldSOA.rdata)
        try next.add(newSOA)
        changes.insert(ZoneChange(action: .delete, record: oldSOA), at: 0)
        changes.append(ZoneChange(action: .add, record: newSOA))
        draft = next
        return .commit(JournalStep(from: oldSerial, to: soa.serial, changes: changes))
    }

    /// Why an UPDATE would put names below a DNAME (RFC 6672 section 2.3: a DNAME owner has no
    /// descendants), or nil. Secondaries refuse such a zone whole (Knot does), so an UPDATE that
    /// adds a DNAME above existing names, or a name below a DNAME, is refused. A new name is
    /// checked up its ancestors until one that owns records: names that exist were checked when
    /// they were added, so none lies below a DNAME.
    private func dnameProblem(_ changes: [ZoneChange], before: ZoneDraft, after: ZoneDraft) throws -> String? {
        var checked = Set<DNSName>()
        for change in changes where change.action == .add {
            let name = change.record.name
            if change.record.type == .dname, try after.hasDescendants(name) {
                return "a DNAME at \(name) would have names below it"
            }
            guard checked.insert(name).inserted, try before.types(at: name).isEmpty else { continue }
            var ancestor = name
            while ancestor != after.origin, ancestor.labelCount > after.origin.labelCount {
                ancestor = ancestor.parent
                let types = try after.types(at: ancestor)
                if types[.dname] != nil { return "\(name) would be below the DNAME at \(ancestor)" }
                if !types.isEmpty { break }
            }
        }
        return nil
    }

    /// The RCODE of the first prerequisite that fails, or nil (RFC 2136 section 3.2).
    private func check(_ prerequisites: [Prerequisite], in zone: ZoneDraft) throws -> ResponseCode? {
        for prerequisite in prerequisites {
            switch prerequisite {
            case .nameInUse(let name):
                if try zone.types(at: name).isEmpty { return .nxDomain }
            case .nameNotInUse(let name):
                if try !zone.types(at: name).isEmpty { return .yxDomain }
            case .rrsetExists(let name, let type):
                if try zone.rrset(name, type) == nil { return .nxRRSet }
            case .rrsetDoesNotExist(let name, let type):
                if try zone.rrset(name, type) != nil { return .yxRRSet }
            case .rrsetEquals(let name, let type, let rdatas):
                guard let set = try zone.rrset(name, type) else { return .nxRRSet }
                let wanted = RRSet(ttl: 0, rdatas: rdatas)
                if wanted.count != set.count || !wanted.rdatas.allSatisfy(set.contains) { return .nxRRSet }
            }
        }
        return nil
    }

    /// Applies one change as RFC 2136 section 3.4.2 says, recording what it actually changed.
    private func apply(_ operation: UpdateOperation, to zone: inout ZoneDraft, changes: inout [ZoneChange]) throws {
        let origin = zone.origin
        switch operation {
        case .add(var record):
            record.class = .in
            if record.type == .soa {
                return  // The serial is ours to manage.
            }
            // RFC 2136 section 3.4.2.2 with RFC 2181 section 10.1: a CNAME stands alone at its
            // name (DNSSEC records aside) and replaces the one there; adds that would break this
            // are ignored, as are data added beside a CNAME. A DNAME replaces the one there.
            let present = try zone.types(at: record.name)
            if record.type == .cname {
                if let other = present.keys.first(where: { $0 != .cname && !RDataRules.allowedBesideCNAME.contains($0) }) {
                    logger.info("ignored a CNAME added beside other data", metadata: ["name": "\(record.name)", "type": "\(other)"])
                    return
                }
            } else if present[.cname] != nil && !RDataRules.allowedBesideCNAME.contains(record.type) {
                logger.info("ignored data added beside a CNAME", metadata: ["name": "\(record.name)", "type": "\(record.type)"])
                return
            }
            if RDataRules.singletons.contains(record.type), let existing = try zone.rrset(record.name, record.type), !existing.contains(record.rdata) {
                try removeAll(record.name, record.type, from: &zone, changes: &changes)
            }
            if let existing = try zone.rrset(record.name, record.type), existing.ttl != record.ttl {
                // A new TTL applies to the whole RRset: journal it as the records re-added.
                for rdata in existing.rdatas {
                    let old = ResourceRecord(name: record.name, type: record.type, ttl: existing.ttl, rdata: rdata)
                    changes.append(ZoneChange(action: .delete, record: old))
                    var renewed = old
                    renewed.ttl = record.ttl
                    changes.append(ZoneChange(action: .add, record: renewed))
                }
            }
            if try zone.add(record) { changes.append(ZoneChange(action: .add, record: record)) }
        case .deleteRRset(let name, let type):
            if name == origin && (type == .soa || type == .ns) { return }
            try removeAll(name, type, from: &zone, changes: &changes)
        case .deleteName(let name):
            for type in try zone.types(at: name).keys where !(name == origin && (type == .soa || type == .ns)) {
                try removeAll(name, type, from: &zone, changes: &changes)
            }
        case .deleteRecord(let name, let type, let rdata):
            if type == .soa { return }
            if name == origin, type == .ns, try zone.rrset(name, .ns)?.count == 1 { return }
            guard let set = try zone.rrset(name, type), let stored = set.stored(rdata) else { return }
            try zone.remove(name, type, rdata)
            changes.append(ZoneChange(action: .delete, record: ResourceRecord(name: name, type: type, ttl: set.ttl, rdata: stored)))
        }
    }

    private func removeAll(_ name: DNSName, _ type: RRType, from zone: inout ZoneDraft, changes: inout [ZoneChange]) throws {
        guard let set = try zone.rrset(name, type) else { return }
        for rdata in set.rdatas {
            try zone.remove(name, type, rdata)
            changes.append(ZoneChange(action: .delete, record: ResourceRecord(name: name, type: type, ttl: set.ttl, rdata: rdata)))
        }
    }
}

import DNSStore
import DNSWire
import Foundation

extension Route53Transport {
    /// Answers an UPDATE as a DNS primary would, by one change batch: read the serial record and
    /// every name the UPDATE concerns, plan, send the batch with the serial moved on. A batch
    /// refused because the zone changed after the reads is planned again; a prerequisite that
    /// fails, or a plan that changes nothing, stands only if the serial held still across its reads.
    func update(_ request: Message) async throws -> Message {
        guard request.zone?.name == zone else { return reply(to: request, .notAuth) }
        let prerequisites: [Prerequisite]
        let operations: [UpdateOperation]
        do {
            prerequisites = try request.parsedPrerequisites(zoneClass: .in)
            operations = try request.parsedOperations(zoneClass: .in)
        } catch {
            return reply(to: request, .formErr)
        }
        let names = Route53UpdatePlan.names(prerequisites, operations)
        // The first plan takes names given a whole new set as empty, unread; a batch refused is
        // planned again with every name read.
        let unread = Route53UpdatePlan.plannedUnread(prerequisites, operations)
        // Data chunks no prerequisite concerns (the old generation's, deleted) are first read as
        // listed before or by a listing under their record: a chunk deleted since makes Route 53
        // refuse the DELETE, and the next plan reads every name itself.
        let required = Route53UpdatePlan.required(prerequisites)
        let listed = Set(names.map(\.lowercased).filter { DataChunkCache.isDataChunk($0) && !required.contains($0) })
        let token = String(UInt64.random(in: 0...UInt64.max), radix: 16)
        var lastRefusal = ""
        for attempt in 0..<maxPlans {
            let serial = try await currentSerial()
            let excerpt = try await read(
                attempt == 0 ? names.filter { !unread.contains($0.lowercased) } : names, listing: attempt == 0 ? listed : [])
            switch Route53UpdatePlan.plan(zone: zone, prerequisites: prerequisites, operations: operations, over: excerpt) {
            case .refused(let rcode, _):
                if try await currentSerial().number != serial.number { continue }
                return reply(to: request, rcode)
            case .changes(let changes) where changes.isEmpty:
                if try await currentSerial().number != serial.number { continue }
                return reply(to: request, .noError)
            case .changes(var changes):
                let next = serial.number &+ 1 == 0 ? 1 : serial.number &+ 1
                let moved = Route53RecordSet(
                    name: Route53Text.name(serialName), type: "TXT", ttl: 0, values: [Route53Text.value(TXT("\(next) \(token)"))])
                if let old = serial.set { changes.append(Route53Change(.delete, old)) }
                changes.append(Route53Change(.create, moved))
                try Self.checkLimits(changes)
                do {
                    _ = try await client.change(zone: hostedZone, changes)
                    seen(serial: next)
                    dataChunks.withLock { cache in
                        for change in changes {
                            guard let name = Route53Text.name(change.recordSet.name) else { continue }
                            if change.action == .delete {
                                cache.forget(name)
                            } else if change.recordSet.type == "TXT", DataChunkCache.isDataChunk(name) {
                                cache.keep(change.recordSet, at: name)
                            }
                        }
                    }
                    return reply(to: request, .noError)
                } catch Route53Error.rejectedBatch(let why) {
                    lastRefusal = why
                    // Another write came first: plan again over what it left, after a pause that
                    // spreads writers that collided.
                    try await Task.sleep(for: .milliseconds(Int.random(in: 0...min(10 * (attempt + 1), 200))))
                } catch Route53Error.unanswered(let why) {
                    if let now = try? await currentSerial(), now.set?.values == moved.values { return reply(to: request, .noError) }
                    throw StoreError.outcomeUnknown(
                        "a change batch was sent to Route 53 and no answer came (\(why)); the zone's serial no longer tells whether it was applied")
                }
            }
        }
        throw StoreError.serverFailure("other writers changed the hosted zone first \(maxPlans) times in a row; nothing applied (the last batch refused: \(lastRefusal))")
    }

    /// The TXT set at each of `names`, read concurrently. Only TXT is read: a store's names hold
    /// nothing else, and a prerequisite or deletion of another type is refused by the plan.
    /// Names in `listing` (lower case) are data chunks read through the chunks listed.
    func read(_ names: [DNSName], listing: Set<DNSName> = []) async throws -> Route53Excerpt {
        try await withThrowingTaskGroup(of: (DNSName, Route53RecordSet?).self) { group in
            for name in names {
                group.addTask {
                    let listed = listing.contains(name.lowercased)
                    return (name, try await listed ? self.dataChunkSet(at: name) : self.recordSet(at: name, type: "TXT"))
                }
            }
            var excerpt = Route53Excerpt()
            for try await (name, set) in group {
                if let set { excerpt.set(set, at: name, type: set.type) }
            }
            return excerpt
        }
    }

    /// Refuses, before anything is sent, a batch Route 53 would refuse for its size.
    static func checkLimits(_ changes: [Route53Change]) throws {
        var characters = 0
        var records = 0
        for change in changes {
            for value in change.recordSet.values {
                if value.count > maxValueCharacters {
                    throw StoreError.tooLarge(
                        "a TXT record of \(value.count) characters at \(change.recordSet.name): Route 53 takes at most \(maxValueCharacters) per value (a store on Route 53 needs Route53Transport.backendLimits and indexPageOctets)")
                }
                characters += value.count
                records += 1
            }
        }
        if characters > maxBatchCharacters || records > maxBatchRecords {
            throw StoreError.tooLarge(
                "this write is one change batch of \(records) records and \(characters) characters of values: Route 53 takes at most \(maxBatchRecords) records and \(maxBatchCharacters) characters per batch")
        }
    }
}

import DNSWire
import NIOCore

extension Authority {
    /// Octets of records per transfer message before starting the next one.
    static let transferMessageOctets = 16_000
    /// Records read from storage per step of a transfer: each step's messages are written before
    /// the next step is read, so a transfer holds about one step in memory however large the zone.
    static let transferStepRecords = 2_000

    /// AXFR (RFC 5936) and IXFR (RFC 1995), over TCP only, to signed requests unless configured
    /// otherwise. Every message is signed, each MAC chained from the one before.
    func admitTransfer(_ context: RequestContext) -> RequestOutcome {
        let request = context.request
        guard let question = request.questions.first, request.questions.count == 1 else {
            return .answered([context.respond(rcode: .formErr, payloadLimit: 65535)])
        }
        guard context.isAuthenticated || !configuration.requireSignedTransfers else {
            refusals.refused("unsigned transfer", "refused a zone transfer", source: context.source,
                             metadata: ["zone": "\(question.name)", "why": "it is not signed, and this server transfers to signed requests only"])
            return .answered([context.respond(rcode: .refused, payloadLimit: payloadLimit(context))])
        }
        guard configuration.zones.contains(question.name) else {
            refusals.refused("transfer zone", "refused a zone transfer", source: context.source,
                             metadata: ["zone": "\(question.name)", "why": "this server is not authoritative for the zone"])
            return .answered([context.respond(rcode: .notAuth, payloadLimit: payloadLimit(context))])
        }
        if question.type == .axfr && context.transport == .udp {
            refusals.refused("transfer over udp", level: .info, "refused a zone transfer", source: context.source,
                             metadata: ["zone": "\(question.name)", "why": "AXFR is over TCP only"])
            return .answered([context.respond(rcode: .refused, payloadLimit: 512)])
        }
        if let answer = transferFromMemory(context, zone: question.name) { return .answered(answer) }
        return admit(context, to: transferQueue, steps: { self.transfer(context, zone: question.name) })
    }

    /// An IXFR over TCP whose answer is kept (`TransferCache`) and ends at the zone's serial now,
    /// answered at once. Only where the node cache's serials are exact (not on PostgreSQL, whose
    /// other front ends commit without this process's counter showing it until a look).
    private func transferFromMemory(_ context: RequestContext, zone origin: DNSName) -> [ByteBuffer]? {
        guard context.request.questions[0].type == .ixfr, context.transport == .tcp, !store.confirmsChanges,
            let clientSOA = context.request.authority.first, case .soa(let client) = clientSOA.rdata
        else { return nil }
        let counter = store.changes.value
        let (at, serials) = cache.position
        guard at == counter, let current = serials[origin], let records = transfers.records(origin, from: client.serial, to: current) else {
            return nil
        }
        statistics.transfersFromMemory.add(1, ordering: .relaxed)
        countIncremental(origin, from: client.serial, to: current)
        return TransferStream(context: context).messages(records, last: true)
    }

    /// Counts and logs an IXFR answered with differences.
    private func countIncremental(_ origin: DNSName, from: UInt32, to: UInt32?) {
        statistics.incrementalTransfers.add(1, ordering: .relaxed)
        ServerMetrics.transfersIncremental.increment()
        logger.info("IXFR", metadata: ["zone": "\(origin)", "from": "\(from)", "to": "\(to ?? 0)"])
    }

    /// The first step of a transfer: an IXFR answered from the journal, or the start of the zone.
    private func transfer(_ context: RequestContext, zone origin: DNSName) -> BlockingWork.Step {
        let failure = { (why: String) -> BlockingWork.Step in
            ServerMetrics.storageErrors.increment()
            self.logger.error("transfer failed", metadata: ["zone": "\(origin)", "error": "\(why)"])
            return .done([context.respond(rcode: .servFail, payloadLimit: 65535, reason: why)])
        }
        let ixfrFrom: UInt32?
        if context.request.questions[0].type == .ixfr {
            guard let clientSOA = context.request.authority.first, case .soa(let client) = clientSOA.rdata else {
                return .done([context.respond(rcode: .formErr, payloadLimit: 65535)])
            }
            ixfrFrom = client.serial
            // The journal is read in one transaction of its own and ends at the SOA it read, so a
            // commit landing meanwhile cannot make the answer inconsistent (or needlessly full).
            if context.transport != .udp, let journal = (try? store.journal(origin, after: client.serial)) ?? nil {
                countIncremental(origin, from: client.serial, to: Self.serial(of: journal.soa))
                return journalStep(TransferStream(context: context), journal, from: journal.start, first: true) { records in
                    if let to = Self.serial(of: journal.soa) { self.transfers.keep(origin, from: client.serial, to: to, records: records) }
                }
            }
        } else {
            ixfrFrom = nil
        }
        let snapshot: any ZoneSnapshot
        do {
            snapshot = try store.snapshot(origin)
        } catch {
            return failure("\(error)")
        }
        guard let soa = snapshot.soa, case .soa(let current) = soa.rdata else { return failure("the zone \(origin) has no SOA record") }
        let stream = TransferStream(context: context)
        if let ixfrFrom, ixfrFrom == current.serial || context.transport == .udp {
            // Up to date, or over UDP: the current SOA alone (RFC 1995 section 2).
            var response = context.template(rcode: .noError)
            response.authoritative = true
            response.answers = [soa]
            return .done([context.finish(response, payloadLimit: payloadLimit(context))])
        }
        statistics.fullTransfers.add(1, ordering: .relaxed)
        ServerMetrics.transfersFull.increment()
        return zoneStep(stream, snapshot, soa: soa, after: nil, first: true)
    }

    /// One step of a full transfer: the next page of records, and a continuation unless it was the last.
    private func zoneStep(
        _ stream: TransferStream, _ snapshot: any ZoneSnapshot, soa: ResourceRecord, after: [UInt8]?, first: Bool
    ) -> BlockingWork.Step {
        do {
            let page = try snapshot.records(after: after, limit: Self.transferStepRecords)
            let records = (first ? [soa] : []) + page.records + (page.next == nil ? [soa] : [])
            let messages = stream.messages(records, last: page.next == nil)
            guard let next = page.next else { return .done(messages) }
            return .more(messages) { self.zoneStep(stream, snapshot, soa: soa, after: next, first: false) }
        } catch {
            logger.error("transfer stopped", metadata: ["zone": "\(soa.name)", "error": "\(error)"])
            return .brokeOff([])
        }
    }

    /// Octets of journal changes an incremental transfer reads per step.
    static let transferStepOctets = 256 << 10

    /// One step of an incremental transfer (RFC 1995): the current SOA first, then each journal
    /// step as its old SOA, deletions, new SOA and additions, then the current SOA again; a page
    /// of journal steps at a time.
    /// `whole` hears of the answer's records when they fit in one page.
    private func journalStep(
        _ stream: TransferStream, _ journal: any JournalSnapshot, from position: Int, first: Bool,
        whole: ([ResourceRecord]) -> Void = { _ in }
    ) -> BlockingWork.Step {
        do {
            let page = try journal.diffs(from: position, octets: Self.transferStepOctets)
            var records = first ? [journal.soa] : []
            for diff in page.diffs { records += [diff.fromSOA] + diff.deleted + [diff.toSOA] + diff.added }
            guard let next = page.next else {
                records.append(journal.soa)
                if first { whole(records) }
                return .done(stream.messages(records, last: true))
            }
            return .more(stream.messages(records, last: false)) { self.journalStep(stream, journal, from: next, first: false) }
        } catch {
            logger.error("transfer stopped", metadata: ["zone": "\(journal.soa.name)", "error": "\(error)"])
            return .brokeOff([])
        }
    }

    static func serial(of record: ResourceRecord?) -> UInt32? {
        if case .soa(let soa)? = record?.rdata { return soa.serial }
        return nil
    }
}

/// The messages of one transfer, signed in sequence: each MAC chains from the one before.
/// Used by one step at a time, never concurrently.
final class TransferStream: @unchecked Sendable {
    let context: RequestContext
    private var priorMAC: [UInt8]?
    private var count = 0

    init(context: RequestContext) {
        self.context = context
    }

    /// Packs records into messages of about 16,000 octets and signs each.
    func messages(_ records: [ResourceRecord], last: Bool) -> [ByteBuffer] {
        var groups: [[ResourceRecord]] = [[]]
        var size = 0
        for record in records {
            let octets = RecordKeys.recordOctets(record.name, record.rdata)
            if size + octets > Authority.transferMessageOctets && !groups[groups.count - 1].isEmpty {
                groups.append([])
                size = 0
            }
            groups[groups.count - 1].append(record)
            size += octets
        }
        var messages: [ByteBuffer] = []
        for group in groups where !group.isEmpty {
            var response = context.template(rcode: .noError)
            response.authoritative = true
            if count > 0 { response.edns = nil }
            response.answers = group
            guard let unsigned = try? response.encode() else { return messages }
            if let key = context.key, let requestMAC = context.requestMAC {
                guard let signed = try? (count == 0
                    ? TSIGSigner.sign(unsigned, key: key, timeSigned: context.now, requestMAC: requestMAC)
                    : TSIGSigner.signContinuation(unsigned, key: key, timeSigned: context.now, priorMAC: priorMAC ?? []))
                else { return messages }
                priorMAC = signed.mac
                messages.append(signed.message)
            } else {
                messages.append(unsigned)
            }
            count += 1
        }
        return messages
    }
}

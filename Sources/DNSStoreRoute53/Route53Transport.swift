import DNSClient
import DNSStore
import DNSWire
import Foundation

/// A store on a Route 53 hosted zone: answers the DNS messages a store sends from the Route 53
/// API, so that documents, their format and their guarantees are the same as on a DNS server.
///
/// - Queries are answered from `ListResourceRecordSets`, which shows every change the API has
///   accepted: reads through the transport are `latest`.
/// - An UPDATE (one at a time per transport) is read, planned and sent as one change batch (`Route53UpdatePlan`). Every batch
///   also moves the zone's serial record (`_dnsstore-serial.<zone>`, a TXT holding a number and
///   the writer's token) from the value read to the next, DELETE and CREATE: a batch applies only
///   if no other write came between its reads and itself, so prerequisites hold at the moment of
///   the change, as on a DNS primary. A batch refused for that is planned again over the newer
///   zone. The number is the serial this transport puts in the zone's SOA (Route 53 keeps its
///   own fixed), so serial-based reads and `watch` see the zone move.
/// - A batch sent without an answer is looked up by its serial record: applied, not applied
///   (then planned again), or, when another write has moved the serial since, unknown
///   (``StoreError/Code/outcomeUnknown``).
/// - Zone transfers: AXFR is answered by listing the zone (every TXT set, framed by the SOA),
///   listed again until its serial held still throughout; IXFR is NOTIMP, so `watch` reads again.
///
/// Writes made to the zone by other means than this transport do not move the serial: a batch
/// still applies only over the exact values it read of the sets it changes, but a prerequisite on
/// a set it does not change can then be overtaken.
public final class Route53Transport: StoreTransport {
    public let client: Route53Client
    /// The hosted zone's id (`Z...`).
    public let hostedZone: String
    /// The hosted zone's name.
    public let zone: DNSName
    /// The record that orders this transport's writes.
    public let serialName: DNSName
    /// Plans of one UPDATE before giving up when other writers keep changing the zone first.
    public let maxPlans: Int
    /// This transport's UPDATEs, one at a time: Route 53 applies a zone's changes one at a time
    /// anyway, and every write moves the serial record, so two in flight from one process would
    /// only refuse each other and read everything again.
    let writes = OneAtATime()
    /// The apex's SOA as listed once (its serial aside, Route 53 never changes it).
    private let soaTemplate = Locked<ResourceRecord?>(nil)
    /// The latest serial this transport has read or written.
    private let lastSerial = Locked<UInt32>(0)
    /// Data chunks listed, and the listings under way by record (`Route53Transport+DataChunks`).
    let dataChunks = Locked(DataChunkCache())
    let chunkListings = Locked<[DNSName: Task<Void, any Error>]>([:])

    /// The index page size (``StoreConfiguration/indexPageOctets``) a store on Route 53 needs: a
    /// page of n octets is at most 4n + 3 per 255-octet string characters as a Route 53 value
    /// (every octet escaped), within the 4,000 a value holds.
    public static let indexPageOctets = 950

    /// The limits (``StoreConfiguration/backendLimits``) a store on Route 53 needs: a record's
    /// value within 4,000 characters, and seven data chunks to a change batch, whose 32,000
    /// characters then hold them and the serial record.
    public static let backendLimits = BackendLimits(
        recordFits: { Route53Text.valueCharacters($0) <= maxValueCharacters }, dataChunksPerUpdate: 7)

    /// Sets what a store on Route 53 needs in `configuration`: the index page size and the limits.
    public static func fit(_ configuration: inout StoreConfiguration) {
        configuration.indexPageOctets = indexPageOctets
        configuration.backendLimits = backendLimits
    }

    /// Route 53's limits on one change batch and one value (ChangeResourceRecordSets).
    static let maxValueCharacters = 4_000
    static let maxBatchCharacters = 32_000
    static let maxBatchRecords = 1_000

    public init(client: Route53Client, hostedZone: String, zone: DNSName, maxPlans: Int = 100) throws {
        self.client = client
        self.maxPlans = maxPlans
        self.hostedZone = hostedZone
        self.zone = zone
        serialName = try zone.prepending("_dnsstore-serial")
    }

    public func send(_ request: Message, overTCP: Bool, each: (Message) throws -> Void) async throws {
        do {
            guard let question = request.questions.first else { return try each(reply(to: request, .formErr)) }
            switch (request.opcode, question.type) {
            case (.update, _): try each(try await writes.run { try await update(request) })
            case (.query, .axfr): try await transfer(request, each)
            case (.query, .ixfr): try each(reply(to: request, .notImp))
            case (.query, _): try each(try await query(request, question))
            default: try each(reply(to: request, .notImp))
            }
        } catch let error as Route53Error {
            throw StoreError(route53: error, hostedZone: hostedZone)
        }
    }

    // MARK: Queries

    func query(_ request: Message, _ question: Question) async throws -> Message {
        guard question.name.isSubdomain(of: zone) else { return reply(to: request, .refused) }
        if question.type == .soa && question.name == zone {
            return reply(to: request, .noError, answers: [try await soaRecord()])
        }
        let isChunk = question.type == .txt && DataChunkCache.isDataChunk(question.name)
        if let set = isChunk ? try await dataChunkSet(at: question.name) : try await recordSet(at: question.name, type: question.type.description) {
            return reply(to: request, .noError, answers: records(of: set, at: question.name))
        }
        // One request, not three: a name without the type asked for is NXDOMAIN (this transport
        // writes TXT sets alone, so in a store's zone only the apex holds other types), and the
        // SOA in the answer carries the latest serial this transport has seen, not one read now.
        let soa = try await soaRecord(serial: lastSerial.withLock { $0 })
        return reply(to: request, question.name == zone ? .noError : .nxDomain, authority: [soa])
    }

    /// The zone's SOA as Route 53 keeps it (read once), with this transport's serial: `known`, or
    /// the serial record read now.
    func soaRecord(serial known: UInt32? = nil) async throws -> ResourceRecord {
        async let serial = known == nil ? currentSerial().number : known!
        var apex = soaTemplate.withLock { $0 }
        if apex == nil {
            let page = try await client.recordSets(zone: hostedZone, from: Route53Text.name(zone), type: "SOA", maxItems: 1)
            guard let set = page.recordSets.first, set.type == "SOA", let soa = set.values.first.flatMap(Route53Text.soa) else {
                throw StoreError.serverFailure("hosted zone \(hostedZone) lists no SOA for \(zone): is it the zone's id?")
            }
            apex = ResourceRecord(name: zone, type: .soa, ttl: UInt32(clamping: set.ttl), rdata: .soa(soa))
            soaTemplate.withLock { $0 = apex }
        }
        guard var record = apex, case .soa(var soa) = record.rdata else { preconditionFailure("an SOA template that is not an SOA") }
        soa.serial = try await serial
        record.rdata = .soa(soa)
        return record
    }

    /// The serial record's set as listed (nil before the first write) and its number.
    func currentSerial() async throws -> (set: Route53RecordSet?, number: UInt32) {
        guard let set = try await recordSet(at: serialName, type: "TXT") else { return (nil, 0) }
        let number = Self.serialNumber(set)
        seen(serial: number)
        return (set, number)
    }

    /// The record set of `name` and `type`, if there is one: one `ListResourceRecordSets` from it.
    func recordSet(at name: DNSName, type: String) async throws -> Route53RecordSet? {
        let page = try await client.recordSets(zone: hostedZone, from: Route53Text.name(name), type: type, maxItems: 1)
        return page.recordSets.first.flatMap { Route53Text.name($0.name) == name && $0.type == type ? $0 : nil }
    }

    /// Notes a serial read or written, for the SOA of negative answers.
    func seen(serial: UInt32) {
        lastSerial.withLock { if SOA.serial($0, isBefore: serial) { $0 = serial } }
    }

    static func serialNumber(_ set: Route53RecordSet) -> UInt32 {
        set.values.first.flatMap(Route53Text.txt).map { Route53NameServer.serialNumber(.txt($0)) } ?? 0
    }

    func records(of set: Route53RecordSet, at name: DNSName) -> [ResourceRecord] {
        guard let type = RRType(mnemonic: set.type) else { return [] }
        let ttl = UInt32(clamping: set.ttl)
        switch type {
        case .txt:
            return (Route53Excerpt.rdata(of: set) ?? []).map { ResourceRecord(name: name, type: .txt, ttl: ttl, rdata: $0) }
        case .soa:
            return set.values.compactMap(Route53Text.soa).map { ResourceRecord(name: name, type: .soa, ttl: ttl, rdata: .soa($0)) }
        default:
            return []
        }
    }

    func reply(to request: Message, _ rcode: ResponseCode, answers: [ResourceRecord] = [], authority: [ResourceRecord] = []) -> Message {
        Message(
            id: request.id, isResponse: true, opcode: request.opcode, authoritative: true, rcode: rcode,
            questions: request.questions, answers: answers, authority: authority)
    }

    // MARK: Transfers

    /// The whole zone as an AXFR: the SOA, every TXT record, the SOA again, in messages of at most
    /// 300 record sets. Listed again (up to five times) until the serial is the same before and after.
    func transfer(_ request: Message, _ each: (Message) throws -> Void) async throws {
        guard request.questions[0].name == zone else { return try each(reply(to: request, .notAuth)) }
        for _ in 0..<5 {
            let before = try await currentSerial().number
            var pages: [[ResourceRecord]] = []
            var from: (name: String, type: String)? = (Route53Text.name(zone), "SOA")
            while let start = from {
                let page = try await client.recordSets(zone: hostedZone, from: start.name, type: start.type, maxItems: 300)
                pages.append(page.recordSets.flatMap { set -> [ResourceRecord] in
                    guard set.type == "TXT", let name = Route53Text.name(set.name) else { return [] }
                    return records(of: set, at: name)
                })
                from = page.next
            }
            let soa = try await soaRecord()
            guard case .soa(let after) = soa.rdata, after.serial == before else { continue }
            pages[0].insert(soa, at: 0)
            pages[pages.count - 1].append(soa)
            for records in pages { try each(reply(to: request, .noError, answers: records)) }
            return
        }
        throw StoreError.serverFailure("the hosted zone \(hostedZone) changed every time it was listed (five times)")
    }
}

extension StoreError {
    /// What a Route 53 API failure means to a store: a zone that is not there or credentials
    /// refused are the configuration's fault (exit 5), an endpoint that does not answer as
    /// Route 53 is unreachable (exit 6), a request that got no answer may have been applied (7).
    init(route53 error: Route53Error, hostedZone: String) {
        switch error {
        case .noSuchZone(let why): self = .unauthorized("Route 53 has no hosted zone \(hostedZone) for these credentials (\(why))")
        case .unauthorized(let why): self = .unauthorized("Route 53 refused the credentials: \(why)")
        case .throttled(let why): self = .timeout("Route 53 kept asking to slow down: \(why)")
        case .notRoute53(let why): self = .unreachable("not a Route 53 API: \(why)")
        case .unreachable(let why): self = .unreachable("Route 53 API: \(why)")
        case .unanswered(let why): self = .outcomeUnknown("a change batch was sent to Route 53 and no answer came (\(why))")
        case .rejectedBatch(let why): self = .serverFailure("Route 53 refused a change batch: \(why)")
        case .failed(let status, let code, let message): self = .serverFailure("Route 53 answered \(status) \(code): \(message)")
        }
    }
}

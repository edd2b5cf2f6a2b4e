import DNSWire
import Metrics
import NIOCore

/// Counters for whatever metrics backend the program installs (`dnsstore serve --metrics`
/// installs Prometheus). Without one, each is a no-op. Names follow Prometheus's conventions;
/// every label takes a bounded set of values (never a name from a request).
enum ServerMetrics {
    static let malformed = Counter(label: "dnsstore_malformed_requests_total")
    static let storageErrors = Counter(label: "dnsstore_storage_errors_total")
    /// Statements sent to PostgreSQL, each a round trip.
    static let storageStatements = Counter(label: "dnsstore_storage_statements_total")
    /// Writes to PostgreSQL planned again because another front end wrote the zone first.
    static let storageConflicts = Counter(label: "dnsstore_storage_write_conflicts_total")
    static let preparedHits = Counter(label: "dnsstore_prepared_answers_total")
    static let leasesExpired = Counter(label: "dnsstore_lease_names_expired_total")
    static let transfersIncremental = Counter(label: "dnsstore_transfers_total", dimensions: [("kind", "ixfr")])
    static let transfersFull = Counter(label: "dnsstore_transfers_total", dimensions: [("kind", "axfr")])

    /// Requests shed before any work because their queue was full, by the queue.
    static func shed(_ kind: String) -> Counter { shedCounters[kind] ?? shedCounters["other"]! }
    private static let shedCounters: [String: Counter] = Dictionary(
        uniqueKeysWithValues: ["update", "transfer", "read", "other"].map { ($0, Counter(label: "dnsstore_shed_requests_total", dimensions: [("queue", $0)])) })

    /// How long storage took: a transaction of UPDATEs (`commit`), a read for a query the cache
    /// could not answer (`read`).
    static let storageCommit = Metrics.Timer(label: "dnsstore_storage_duration_seconds", dimensions: [("operation", "commit")])
    static let storageRead = Metrics.Timer(label: "dnsstore_storage_duration_seconds", dimensions: [("operation", "read")])

    /// Signed requests refused for their TSIG, by reason; `replay` for a possible replay.
    static func tsigFailure(_ reason: String) -> Counter { tsigCounters[reason] ?? tsigCounters["malformed"]! }
    static let tsigReasons = ["badsig", "badkey", "badtime", "badtrunc", "malformed", "replay"]
    private static let tsigCounters: [String: Counter] = Dictionary(
        uniqueKeysWithValues: tsigReasons.map { ($0, Counter(label: "dnsstore_tsig_failures_total", dimensions: [("reason", $0)])) })

    /// TCP connections: open now, opened, and closed by this server by reason (those the clients
    /// closed are the opened less the closed and the open).
    static let tcpOpen = Gauge(label: "dnsstore_tcp_connections_open")
    static let tcpOpened = Counter(label: "dnsstore_tcp_connections_opened_total")
    static func tcpClosed(_ reason: TCPCloseReason) -> Counter { tcpClosedCounters[reason.rawValue]! }
    private static let tcpClosedCounters: [String: Counter] = Dictionary(
        uniqueKeysWithValues: TCPCloseReason.allCases.map { ($0.rawValue, Counter(label: "dnsstore_tcp_connections_closed_total", dimensions: [("reason", $0.rawValue)])) })

    /// A zone's octets of records, its journal's, and what the journal may hold before its oldest
    /// steps go (a secondary further behind then gets the whole zone); set after every commit.
    static func sizes(of zone: DNSName, zoneOctets: Int, journalOctets: Int, journalBudget: Int) {
        let labels = [("zone", zone.description)]
        Gauge(label: "dnsstore_zone_octets", dimensions: labels).record(zoneOctets)
        Gauge(label: "dnsstore_journal_octets", dimensions: labels).record(journalOctets)
        Gauge(label: "dnsstore_journal_limit_octets", dimensions: labels).record(journalBudget)
    }

    /// The zone's SOA serial, set after every commit.
    static func serial(_ zone: String) -> Gauge { Gauge(label: "dnsstore_zone_serial", dimensions: [("zone", zone)]) }
}

/// Requests answered, by opcode, transport and RCODE, read from each answer's header, and UPDATEs
/// by outcome; how long the requests that needed work took. Made once per engine, so that
/// counting costs an array index and an atomic add, not a lookup.
final class RequestMetrics: Sendable {
    static let opcodes = ["query", "notify", "update", "other"]
    static let transports = ["udp", "tcp"]
    static let rcodes = ["NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE", "other"]
    static let outcomes = ["applied", "prerequisite_failed", "refused", "servfail", "unanswered", "shed"]

    private let requests: [Counter]
    private let updates: [Counter]
    private let durations: [Metrics.Timer]

    init() {
        var requests: [Counter] = []
        for opcode in Self.opcodes {
            for transport in Self.transports {
                for rcode in Self.rcodes {
                    requests.append(Counter(label: "dnsstore_requests_total", dimensions: [("opcode", opcode), ("transport", transport), ("rcode", rcode)]))
                }
            }
        }
        self.requests = requests
        updates = Self.outcomes.map { Counter(label: "dnsstore_updates_total", dimensions: [("outcome", $0)]) }
        durations = Self.opcodes.map { Metrics.Timer(label: "dnsstore_request_duration_seconds", dimensions: [("opcode", $0)], preferredDisplayUnit: .seconds) }
    }

    private static func opcodeIndex(_ opcode: UInt8) -> Int {
        switch opcode {
        case 0: return 0
        case 4: return 1
        case 5: return 2
        default: return 3
        }
    }

    private static func rcodeIndex(_ rcode: UInt8) -> Int { rcode <= 10 ? Int(rcode) : 11 }

    /// Counts an answer from its header (nothing when it is shorter than one).
    func answered(_ answer: ByteBuffer, over transport: RequestTransport) {
        guard let flags = answer.getInteger(at: answer.readerIndex + 2, as: UInt16.self) else { return }
        answered(flags: flags, over: transport)
    }

    /// Counts an answer written into a send buffer (the prepared-answer path).
    func answered(_ answer: UnsafeMutableRawBufferPointer, length: Int, over transport: RequestTransport) {
        guard length >= 4 else { return }
        answered(flags: UInt16(answer[2]) << 8 | UInt16(answer[3]), over: transport)
    }

    private func answered(flags: UInt16, over transport: RequestTransport) {
        guard transport != .local else { return }
        let opcode = UInt8((flags >> 11) & 0xF)
        let rcode = UInt8(flags & 0xF)
        let o = Self.opcodeIndex(opcode)
        let t = transport == .udp ? 0 : 1
        requests[(o * Self.transports.count + t) * Self.rcodes.count + Self.rcodeIndex(rcode)].increment()
        if opcode == 5 {
            switch rcode {
            case 0: updates[0].increment()
            case 3, 6, 7, 8: updates[1].increment()
            case 2: updates[3].increment()
            default: updates[2].increment()
            }
        }
    }

    /// An UPDATE left unanswered: the storage did not say whether it was applied.
    func unanswered() { updates[4].increment() }

    /// An UPDATE shed before any work.
    func shedUpdate() { updates[5].increment() }

    /// How long a request that needed work took, from its arrival to its answer.
    func took(_ nanoseconds: Int64, opcode: UInt8) {
        durations[Self.opcodeIndex(opcode)].recordNanoseconds(nanoseconds)
    }
}

/// Why this server closed a TCP connection.
enum TCPCloseReason: String, CaseIterable, Sendable {
    /// No request for the idle timeout.
    case idle
    /// A message did not arrive whole within its deadline.
    case slowMessage = "slow_message"
    /// The client did not read its answers within the stall timeout.
    case unreadAnswers = "unread_answers"
    /// Every slot was taken: the connection idle the longest made room for a new one.
    case evicted
    /// Every slot was taken by a busy connection: the new one was refused.
    case refused
    /// An error on the connection.
    case error
}

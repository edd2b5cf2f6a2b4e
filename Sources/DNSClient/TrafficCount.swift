import DNSWire

/// What a program sent and received over DNS, by kind of request: for reporting the cost of what
/// it ran (`dnsstore --stats`). Every message on the wire counts: a retry is another request, a
/// zone transfer one request and each of its messages an answer. Octets are the messages' own,
/// TSIG included, without the two-octet length of TCP or the IP and UDP headers.
public final class TrafficCount: Sendable {
    /// The kinds of request, as their opcode and question say.
    public enum Kind: String, Sendable, CaseIterable {
        case query, update, transfer, other
    }

    /// One kind's figures.
    public struct Figures: Sendable, Equatable {
        public var requests = 0
        public var octetsSent = 0
        public var answers = 0
        public var octetsReceived = 0
    }

    private let figures = Locked<[Kind: Figures]>([:])

    public init() {}

    /// A query, an UPDATE, a zone transfer (AXFR or IXFR) or anything else (NOTIFY).
    public static func kind(of message: Message) -> Kind {
        switch message.opcode {
        case .update: return .update
        case .query:
            let type = message.questions.first?.type
            return type == .axfr || type == .ixfr ? .transfer : .query
        default: return .other
        }
    }

    /// A request of `octets` went out.
    public func sent(_ kind: Kind, octets: Int) {
        figures.withLock {
            $0[kind, default: Figures()].requests += 1
            $0[kind, default: Figures()].octetsSent += octets
        }
    }

    /// An answer of `octets` came back to a request of `kind`.
    public func received(_ kind: Kind, octets: Int) {
        figures.withLock {
            $0[kind, default: Figures()].answers += 1
            $0[kind, default: Figures()].octetsReceived += octets
        }
    }

    /// The figures so far, by kind (kinds never sent are absent).
    public var totals: [Kind: Figures] { figures.withLock { $0 } }

    /// One line: each kind sent, with its requests, answers and octets both ways.
    public var summary: String {
        let totals = self.totals
        let names: [Kind: (one: String, many: String)] = [
            .query: ("query", "queries"), .update: ("UPDATE", "UPDATEs"), .transfer: ("zone transfer", "zone transfers"),
            .other: ("other request", "other requests"),
        ]
        let parts = Kind.allCases.compactMap { kind -> String? in
            guard let figures = totals[kind], let name = names[kind] else { return nil }
            let noun = figures.requests == 1 ? name.one : name.many
            return "\(figures.requests) \(noun) (\(figures.octetsSent) octets sent; \(figures.answers) "
                + "\(figures.answers == 1 ? "answer" : "answers"), \(figures.octetsReceived) octets)"
        }
        return parts.isEmpty ? "no DNS requests" : parts.joined(separator: ", ")
    }
}

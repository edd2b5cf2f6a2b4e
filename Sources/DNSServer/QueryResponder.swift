import DNSWire
import NIOCore

extension Authority {
    /// An authoritative answer (RFC 1034 section 4.3.2, without delegations): the RRset, NODATA or
    /// NXDOMAIN with the SOA in the authority section, AA set.
    func answer(_ context: RequestContext, fresh: Bool = false) -> ByteBuffer {
        let limit = payloadLimit(context)
        guard context.request.questions.count == 1, let question = context.request.questions.first else {
            return context.respond(rcode: .formErr, payloadLimit: limit)
        }
        guard question.class == .in || question.class == .any else {
            return context.respond(rcode: .refused, payloadLimit: limit)
        }
        guard let zone = zone(for: question.name) else {
            return context.respond(rcode: .refused, payloadLimit: limit)
        }
        var response = context.template(rcode: .noError)
        response.authoritative = true
        let name = question.name
        if question.type == .any {
            for (type, set) in (zone.nodes[name] ?? [:]).sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                response.answers += set.rdatas.map { ResourceRecord(name: name, type: type, ttl: set.ttl, rdata: $0) }
            }
        } else if let set = zone.rrset(name, question.type) {
            response.answers = set.rdatas.map { ResourceRecord(name: name, type: question.type, ttl: set.ttl, rdata: $0) }
        } else if question.type != .cname, let cname = zone.rrset(name, .cname) {
            response.answers = cname.rdatas.map { ResourceRecord(name: name, type: .cname, ttl: cname.ttl, rdata: $0) }
        }
        if response.answers.isEmpty {
            // Positive answers may lag another process's commit by the refresh interval; a negative
            // one is only given after looking, so nothing another server wrote is denied.
            if !fresh && refreshIfChanged(maxAge: .zero) { return answer(context, fresh: true) }
            if !zone.nameExists(name) { response.rcode = .nxDomain }
            if let soa = zone.rrset(zone.origin, .soa), case .soa(let record)? = soa.rdatas.first {
                // Negative answers are cached for the smaller of the SOA TTL and MINIMUM (RFC 2308).
                response.authority = [ResourceRecord(name: zone.origin, type: .soa, ttl: min(soa.ttl, record.minimum), rdata: .soa(record))]
            }
        }
        return context.finish(response, payloadLimit: limit)
    }
}

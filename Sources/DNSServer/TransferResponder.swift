import DNSWire
import NIOCore

extension Authority {
    /// Octets of records per transfer message before starting the next one.
    static let transferMessageOctets = 16_000

    /// AXFR (RFC 5936) and IXFR (RFC 1995), over TCP only, to signed requests unless configured otherwise.
    /// Every message is signed, each MAC chained from the one before.
    func transfer(_ context: RequestContext) -> [ByteBuffer] {
        let request = context.request
        guard let question = request.questions.first, request.questions.count == 1 else {
            return [context.respond(rcode: .formErr, payloadLimit: 65535)]
        }
        guard context.isAuthenticated || !configuration.requireSignedTransfers else {
            return [context.respond(rcode: .refused, payloadLimit: payloadLimit(context))]
        }
        guard let zone = zone(origin: question.name) else {
            return [context.respond(rcode: .notAuth, payloadLimit: payloadLimit(context))]
        }
        guard let soaSet = zone.rrset(zone.origin, .soa), let soaData = soaSet.rdatas.first else {
            return [context.respond(rcode: .servFail, payloadLimit: 65535)]
        }
        let soa = ResourceRecord(name: zone.origin, type: .soa, ttl: soaSet.ttl, rdata: soaData)
        var records: [ResourceRecord]
        if question.type == .ixfr {
            guard let clientSOA = request.authority.first, case .soa(let client) = clientSOA.rdata else {
                return [context.respond(rcode: .formErr, payloadLimit: 65535)]
            }
            if client.serial == zone.serial || context.transport == .udp {
                // Up to date, or over UDP: the current SOA alone (RFC 1995 section 2).
                var response = context.template(rcode: .noError)
                response.authoritative = true
                response.answers = [soa]
                return [context.finish(response, payloadLimit: payloadLimit(context))]
            }
            if let diffs = try? database.diffs(zone.origin, after: client.serial, current: zone.serial) {
                statistics.incrementalTransfers.add(1, ordering: .relaxed)
                logger.info("IXFR", metadata: ["zone": "\(zone.origin)", "from": "\(client.serial)", "to": "\(zone.serial)"])
                records = [soa]
                for diff in diffs {
                    records += [diff.fromSOA] + diff.deleted + [diff.toSOA] + diff.added
                }
                records.append(soa)
            } else {
                statistics.fullTransfers.add(1, ordering: .relaxed)
                records = zone.allRecords + [soa]
            }
        } else {
            statistics.fullTransfers.add(1, ordering: .relaxed)
            guard context.transport != .udp else { return [context.respond(rcode: .refused, payloadLimit: 512)] }
            records = zone.allRecords + [soa]
        }
        return transferMessages(records, context)
    }

    private func transferMessages(_ records: [ResourceRecord], _ context: RequestContext) -> [ByteBuffer] {
        var groups: [[ResourceRecord]] = [[]]
        var size = 0
        for record in records {
            let octets = record.name.wireLength + 10 + record.rdata.uncompressedWire.count
            if size + octets > Self.transferMessageOctets && !groups[groups.count - 1].isEmpty {
                groups.append([])
                size = 0
            }
            groups[groups.count - 1].append(record)
            size += octets
        }
        var messages: [ByteBuffer] = []
        var priorMAC: [UInt8]? = nil
        for (i, group) in groups.enumerated() {
            var response = context.template(rcode: .noError)
            response.authoritative = true
            if i > 0 { response.edns = nil }
            response.answers = group
            guard let unsigned = try? response.encode() else { return [context.respond(rcode: .servFail, payloadLimit: 65535)] }
            if let key = context.key, let requestMAC = context.requestMAC {
                do {
                    let signed = i == 0
                        ? try TSIGSigner.sign(unsigned, key: key, timeSigned: context.now, requestMAC: requestMAC)
                        : try TSIGSigner.signContinuation(unsigned, key: key, timeSigned: context.now, priorMAC: priorMAC ?? [])
                    priorMAC = signed.mac
                    messages.append(signed.message)
                } catch {
                    return [context.respond(rcode: .servFail, payloadLimit: 65535)]
                }
            } else {
                messages.append(unsigned)
            }
        }
        return messages
    }
}

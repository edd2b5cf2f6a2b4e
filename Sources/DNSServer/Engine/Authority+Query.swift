import DNSWire
import Logging
import NIOCore

extension Authority {
    /// An authoritative answer (RFC 1034 section 4.3.2, without delegations): the RRset, NODATA or
    /// NXDOMAIN with the SOA in the authority section, AA set. From the cache when it holds the
    /// name; otherwise from storage: where the request arrived while storage answers from memory
    /// (its recent reads were quick), off the event loop when it does not.
    func answer(_ context: RequestContext) -> RequestOutcome {
        let limit = payloadLimit(context)
        guard context.request.questions.count == 1, let question = context.request.questions.first else {
            return .answered([context.respond(rcode: .formErr, payloadLimit: limit)])
        }
        guard question.class == .in || question.class == .any else {
            refusals.refused("query class", level: .info, "refused a query", source: context.source, metadata: ["why": "class \(question.class) is not served"])
            return .answered([context.respond(rcode: .refused, payloadLimit: limit)])
        }
        guard let origin = zone(for: question.name) else {
            refusals.refused(
                "query zone", level: .info, "refused a query", source: context.source, metadata: ["why": "no zone served here holds \(question.name)"])
            return .answered([context.respond(rcode: .refused, payloadLimit: limit)])
        }
        if store.changesSeenAtOnce, let answer = cachedAnswer(context, question, origin: origin) {
            return .answered([answer])
        }
        if context.transport == .local || (store.readsAreLocal && readTimes.isQuick) {
            return .answered([answerFromStorage(context, question, origin: origin)])
        }
        if store.confirmsChanges { return afterLook(context, question, origin: origin) }
        return admit(context, to: readQueue) { [self.answerFromStorage(context, question, origin: origin)] }
    }

    /// The answer from the cache, when it holds the name (and the apex, for a negative answer) as
    /// of the storage's change counter now.
    private func cachedAnswer(_ context: RequestContext, _ question: Question, origin: DNSName) -> ByteBuffer? {
        let counter = store.changes.value
        guard let node = cache.node(question.name, counter: counter) else { return nil }
        let soa = node.needsSOA(for: question.type) ? cache.node(origin, counter: counter) : nil
        guard !node.needsSOA(for: question.type) || soa != nil else { return nil }
        statistics.cacheHits.add(1, ordering: .relaxed)
        return respond(context, question, node: node, apex: soa, origin: origin)
    }

    /// Where storage confirms changes (PostgreSQL): the query waits, holding no thread, for a look
    /// at storage that began after it arrived (one look for every query waiting), then is answered
    /// from the cache, or from storage on the thread pool for what the cache does not hold.
    private func afterLook(_ context: RequestContext, _ question: Question, origin: DNSName) -> RequestOutcome {
        guard readQueue.enter() else { return shed(context, readQueue) }
        let queue = readQueue
        return .deferred(DeferredWork { pool, deliver in
            self.store.confirmChanges(on: pool) { outcome in
                switch outcome {
                case .abandoned:
                    queue.leave()
                    deliver([])
                case .failed(let error):
                    queue.leave()
                    deliver([self.failed(context, question, error)])
                case .confirmed:
                    self.refreshCache()
                    if let answer = self.cachedAnswer(context, question, origin: origin) {
                        queue.leave()
                        deliver([answer])
                        return
                    }
                    pool.submit { state in
                        defer { queue.leave() }
                        guard case .active = state else { return deliver([]) }
                        deliver([self.answerFromStorage(context, question, origin: origin, confirmed: true)])
                    }
                }
            }
        })
    }

    /// Reads the name (and the apex, for a negative answer) from storage, keeps them, answers.
    /// Where storage confirms changes (PostgreSQL), the cache is brought up to a look at storage
    /// that began after the query arrived, and answers when it holds the name.
    func answerFromStorage(_ context: RequestContext, _ question: Question, origin: DNSName, confirmed: Bool = false) -> ByteBuffer {
        let started = ContinuousClock.now
        let confirming = store.confirmsChanges
        let caching = store.changesSeenAtOnce || confirming
        do {
            if confirming && !confirmed {
                try store.confirmChanges()
                refreshCache()
                if let answer = cachedAnswer(context, question, origin: origin) { return answer }
            } else if caching {
                refreshCache()
            }
        } catch {
            return failed(context, question, error)
        }
        statistics.cacheMisses.add(1, ordering: .relaxed)
        defer {
            let took = ContinuousClock.now - started
            readTimes.record(took)
            ServerMetrics.storageRead.recordNanoseconds(took.timeAmount.nanoseconds)
        }
        let counter = cache.position.counter
        do {
            let (node, apex) = try store.read(origin) { zone -> (NodeCache.Node, NodeCache.Node?) in
                let rrsets = try zone.node(question.name)
                let exists = try !rrsets.isEmpty || zone.hasDescendants(question.name)
                let node = NodeCache.Node(rrsets: rrsets, exists: exists)
                guard node.needsSOA(for: question.type) else { return (node, nil) }
                let apexRRsets = try zone.node(origin)
                return (node, NodeCache.Node(rrsets: apexRRsets, exists: true))
            }
            if caching {
                cache.store(question.name, node, counter: counter)
                if let apex { cache.store(origin, apex, counter: counter) }
            }
            return respond(context, question, node: node, apex: apex, origin: origin)
        } catch {
            return failed(context, question, error)
        }
    }

    private func failed(_ context: RequestContext, _ question: Question, _ error: any Error) -> ByteBuffer {
        ServerMetrics.storageErrors.increment()
        let level: Logger.Level = (error as? AuthorityError)?.isRepeat == true ? .debug : .error
        logger.log(level: level, "query failed", metadata: ["name": "\(question.name)", "type": "\(question.type)", "error": "\(error)"])
        return context.respond(rcode: .servFail, payloadLimit: payloadLimit(context), reason: "\(error)")
    }

    private func respond(_ context: RequestContext, _ question: Question, node: NodeCache.Node, apex: NodeCache.Node?, origin: DNSName) -> ByteBuffer {
        var response = context.template(rcode: .noError)
        response.authoritative = true
        let name = question.name
        if question.type == .any {
            for (type, set) in node.rrsets.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                response.answers += set.rdatas.map { ResourceRecord(name: name, type: type, ttl: set.ttl, rdata: $0) }
            }
        } else if let set = node.rrsets[question.type] {
            response.answers = set.rdatas.map { ResourceRecord(name: name, type: question.type, ttl: set.ttl, rdata: $0) }
        } else if question.type != .cname, let cname = node.rrsets[.cname] {
            response.answers = cname.rdatas.map { ResourceRecord(name: name, type: .cname, ttl: cname.ttl, rdata: $0) }
        }
        if response.answers.isEmpty {
            if !node.exists { response.rcode = .nxDomain }
            if let soa = apex?.rrsets[.soa], case .soa(let record)? = soa.rdatas.first {
                // Negative answers are cached for the smaller of the SOA TTL and MINIMUM (RFC 2308).
                response.authority = [ResourceRecord(name: origin, type: .soa, ttl: min(soa.ttl, record.minimum), rdata: .soa(record))]
            }
        }
        return context.finish(response, payloadLimit: payloadLimit(context))
    }
}

extension NodeCache.Node {
    /// Whether an answer for `type` at this name is negative, and so carries the zone's SOA.
    func needsSOA(for type: RRType) -> Bool {
        if type == .any { return rrsets.isEmpty }
        return rrsets[type] == nil && (type == .cname || rrsets[.cname] == nil)
    }
}

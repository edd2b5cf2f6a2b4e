import DNSClient
import DNSWire
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// What becomes of a request: answered where it arrived, or work that blocks (the disk, a long
/// transfer) to run on a thread pool. The authority alone decides which.
public enum RequestOutcome: Sendable {
    /// The answers to send now; none: the request is dropped.
    case answered([ByteBuffer])
    /// Run it off the event loop, then send what it returns.
    case work(BlockingWork)
    /// Start it; its answers come when the work it joined is done (UPDATEs, committed together).
    case deferred(DeferredWork)
}

/// Admitted blocking work. It holds a place in its queue until its last step has run or it is
/// abandoned. Work may come in steps (a zone transfer): each step's answers are sent before the
/// next step runs, so that a slow reader slows the work down instead of piling up its answers.
public struct BlockingWork: Sendable {
    /// What a step produced: answers, and whether more is to come.
    public enum Step: Sendable {
        case done([ByteBuffer])
        case more([ByteBuffer], @Sendable () -> Step)
        /// The work broke off part way (a transfer whose storage failed): the answers so far, and
        /// then the connection is closed, so that the client learns at once that nothing more is
        /// coming instead of waiting on an open connection (RFC 5936 section 2.2).
        case brokeOff([ByteBuffer])
    }

    let body: @Sendable () -> Step
    let release: @Sendable () -> Void

    init(body: @escaping @Sendable () -> Step, release: @escaping @Sendable () -> Void) {
        self.body = body
        self.release = release
    }

    /// Runs one step on the calling thread: its answers, the work of the next step, if any, and
    /// whether the work broke off (then the connection must be closed after the answers).
    public func run() -> (answers: [ByteBuffer], next: BlockingWork?, brokeOff: Bool) {
        switch body() {
        case .done(let answers):
            release()
            return (answers, nil, false)
        case .brokeOff(let answers):
            release()
            return (answers, nil, true)
        case .more(let answers, let rest):
            return (answers, BlockingWork(body: rest, release: release), false)
        }
    }

    /// Runs every step on the calling thread: every answer.
    public func runToEnd() -> [ByteBuffer] {
        var (answers, next, _) = run()
        while let work = next {
            let step = work.run()
            answers += step.answers
            next = step.next
        }
        return answers
    }

    /// Gives the place back without doing the work (the thread pool is gone, the client left).
    public func abandon() { release() }
}

extension Authority {
    /// Looks at one request and answers it if it can without blocking. Every check that refuses a
    /// request runs here, before any work is queued: decoding, TSIG (a MAC is cheap to check;
    /// a flood of bad ones never reaches the queue), the EDNS version, the opcode, and whether
    /// an unsigned UPDATE may be applied at all.
    /// `source` is where it came from, for the log of refusals.
    public func receive(_ request: ByteBuffer, over transport: RequestTransport, from source: RequestSource = .unknown) -> RequestOutcome {
        counted(receiveUncounted(request, over: transport, from: source), request: request, over: transport)
    }

    /// The outcome, with its answer counted when it is given (at once, after the first step of
    /// work, or when deferred work delivers) and, for work, how long it took.
    private func counted(_ outcome: RequestOutcome, request: ByteBuffer, over transport: RequestTransport) -> RequestOutcome {
        guard transport != .local else { return outcome }
        let metrics = requestMetrics
        switch outcome {
        case .answered(let answers):
            if let first = answers.first { metrics.answered(first, over: transport) }
            return outcome
        case .work(let work):
            let start = NIODeadline.now()
            let opcode = request.getInteger(at: request.readerIndex + 2, as: UInt16.self).map { UInt8(($0 >> 11) & 0xF) } ?? 0
            return .work(BlockingWork(body: {
                let step = work.body()
                let answers: [ByteBuffer]
                switch step {
                case .done(let done), .brokeOff(let done): answers = done
                case .more(let more, _): answers = more
                }
                if let first = answers.first { metrics.answered(first, over: transport) }
                metrics.took((NIODeadline.now() - start).nanoseconds, opcode: opcode)
                return step
            }, release: work.release))
        case .deferred(let work):
            let start = NIODeadline.now()
            let opcode = request.getInteger(at: request.readerIndex + 2, as: UInt16.self).map { UInt8(($0 >> 11) & 0xF) } ?? 0
            return .deferred(DeferredWork { pool, deliver in
                work.start(on: pool) { answers in
                    if let first = answers.first { metrics.answered(first, over: transport) } else if opcode == 5 { metrics.unanswered() }
                    metrics.took((NIODeadline.now() - start).nanoseconds, opcode: opcode)
                    deliver(answers)
                }
            })
        }
    }

    private func receiveUncounted(_ request: ByteBuffer, over transport: RequestTransport, from source: RequestSource) -> RequestOutcome {
        // A plain query asked before, while nothing changed since: its answer as sent then.
        guard let query = preparedQuery(request, over: transport) else { return decodeAndReceive(request, over: transport, from: source) }
        let counter = store.changes.value
        if let answer = prepared.answer(query, counter: counter) {
            countPreparedHit()
            return .answered([answer])
        }
        let outcome = decodeAndReceive(request, over: transport, from: source)
        if case .answered(let answers) = outcome, answers.count == 1 { prepared.keep(answers[0], for: query, counter: counter) }
        return outcome
    }

    /// The kept answer to a plain query asked before, while nothing changed since, or nil (then
    /// `receive` is the way). For the socket's read, which tries it on the datagram where it lies
    /// in the read buffer and copies the datagram only when it has to keep it.
    public func preparedAnswer(_ request: ByteBuffer, over transport: RequestTransport) -> ByteBuffer? {
        guard let query = preparedQuery(request, over: transport),
              let answer = prepared.answer(query, counter: store.changes.value)
        else { return nil }
        countPreparedHit()
        requestMetrics.answered(answer, over: transport)
        return answer
    }

    /// The same, written into `out` (a send buffer) without allocating: its length, or nil.
    func preparedAnswer(_ request: ByteBuffer, over transport: RequestTransport, into out: UnsafeMutableRawBufferPointer) -> Int? {
        guard let query = preparedQuery(request, over: transport),
              let size = prepared.answer(query, counter: store.changes.value, into: out)
        else { return nil }
        countPreparedHit()
        requestMetrics.answered(out, length: size, over: transport)
        return size
    }

    private func preparedQuery(_ request: ByteBuffer, over transport: RequestTransport) -> PreparedAnswers.Query? {
        guard transport != .local, store.changesSeenAtOnce else { return nil }
        return PreparedAnswers.Query.parse(request, tcp: transport == .tcp, maxUDPPayload: Int(configuration.udpPayloadSize))
    }

    private func countPreparedHit() {
        ServerMetrics.preparedHits.increment()
        statistics.preparedHits.add(1, ordering: .relaxed)
    }

    private func decodeAndReceive(_ request: ByteBuffer, over transport: RequestTransport, from source: RequestSource) -> RequestOutcome {
        let message: Message
        do {
            message = try Message(decoding: request)
        } catch {
            ServerMetrics.malformed.increment()
            refusals.refused("malformed", level: .info, "answered a request that does not decode", source: source, metadata: ["error": "\(error)"])
            return .answered(formatError(for: request).map { [$0] } ?? [])
        }
        guard !message.isResponse else { return .answered([]) }
        var checking = RequestContext(request: message, octets: request, transport: transport, now: WallClock.seconds(), source: source)
        if case .fail(let answer, let reason, let why) = checking.checkTSIG(keys: configuration.keys) {
            ServerMetrics.tsigFailure(reason).increment()
            refusals.refused("tsig", "refused a request whose TSIG failed", source: source, metadata: ["opcode": "\(message.opcode)", "why": "\(why)"])
            return .answered(answer.map { [$0] } ?? [])
        }
        let context = checking
        if let edns = message.edns, edns.version > 0 {
            // RFC 6891 section 6.1.3: nothing is done for a version we do not speak.
            return .answered([context.respond(rcode: .badVers, payloadLimit: payloadLimit(context))])
        }
        switch message.opcode {
        case .query:
            if let type = message.questions.first?.type, type == .axfr || type == .ixfr {
                return admitTransfer(context)
            }
            return answer(context)
        case .update:
            guard context.isAuthenticated || !configuration.requireSignedUpdates else {
                refusals.refused("unsigned update", "refused an UPDATE", source: source, metadata: ["why": "it is not signed, and this server takes signed UPDATEs only"])
                return .answered([context.respond(rcode: .refused, payloadLimit: 65535)])
            }
            return admitUpdate(context)
        default:
            // NOTIFY included: this server is a primary and follows no one.
            let rcode: ResponseCode = message.opcode == .notify ? .refused : .notImp
            refusals.refused(
                "opcode", level: .info, "refused a request", source: source,
                metadata: ["opcode": "\(message.opcode)", "why": "\(message.opcode == .notify ? "this server is a primary and follows no one" : "the opcode is not implemented")"])
            return .answered([context.respond(rcode: rcode, payloadLimit: payloadLimit(context))])
        }
    }

    /// Answers one request, doing any blocking work on the calling thread: for the embedding
    /// process, and for callers that are already off the event loop.
    public func handle(_ request: ByteBuffer, over transport: RequestTransport) -> [ByteBuffer] {
        switch receive(request, over: transport) {
        case .answered(let answers): return answers
        case .work(let work): return work.runToEnd()
        case .deferred(let work): return work.wait(on: NIOThreadPool.singleton)
        }
    }

    /// A signed UPDATE seen before gets the answer it got then; one that may be a replay the
    /// cache no longer holds is refused (BADTIME); a new one is admitted.
    private func admitUpdate(_ context: RequestContext) -> RequestOutcome {
        guard let tsig = context.tsig, context.key != nil else { return admitUpdate(context, replay: nil) }
        if let seen = seenBefore(context, replays.lookup(tsig, now: context.now)) { return seen }
        return admitUpdate(context, replay: tsig)
    }

    /// The answer to an UPDATE the replay cache knows (`lookup` or `reserve`), or nil when it is fresh.
    private func seenBefore(_ context: RequestContext, _ lookup: ReplayCache.Lookup) -> RequestOutcome? {
        switch lookup {
        case .fresh:
            return nil
        case .answered(var answer):
            refusals.refused(
                "repeated update", level: .info, "repeated signed UPDATE answered as before, not applied again", source: context.source,
                metadata: ["key": "\(context.tsig?.keyName.description ?? "")"])
            if var header = MessageHeader(peeking: answer) {
                header.id = context.request.id
                header.write(over: &answer)
            }
            return .answered([answer])
        case .inProgress:
            return .answered(context.transport == .tcp ? [context.respond(rcode: .servFail, payloadLimit: 65535)] : [])
        case .tooOld:
            ServerMetrics.tsigFailure("replay").increment()
            refusals.refused(
                "replay", "refused an UPDATE", source: context.source,
                metadata: ["key": "\(context.tsig?.keyName.description ?? "")",
                           "why": "it may be a replay: signed before this process started or at its key's low-water mark"])
            return .answered(context.badTimeAnswer().map { [$0] } ?? [])
        }
    }

    /// Checks an UPDATE and queues it for the next group commit. In-process requests are applied
    /// alone on the caller's thread, and never shed. A signed one (`replay`) takes its place in
    /// the replay cache only once its checks pass, so requests its key may not make cannot push
    /// others out; its answer is kept there for retransmissions.
    private func admitUpdate(_ context: RequestContext, replay: TSIGRecord?) -> RequestOutcome {
        let answered: @Sendable (ByteBuffer?) -> Void = { answer in
            guard let replay else { return }
            if let answer { self.replays.record(replay, answer: answer) } else { self.replays.forget(replay) }
        }
        guard context.transport != .local else {
            if let replay, let seen = seenBefore(context, replays.reserve(replay, now: context.now)) { return seen }
            return .work(BlockingWork(body: {
                let answer = self.update(context)
                answered(answer)
                return .done(answer.map { [$0] } ?? [])
            }, release: {}))
        }
        guard updateQueue.enter() else { return shed(context, updateQueue) }
        let update: CheckedUpdate
        switch check(update: context) {
        case .answer(let answer):
            updateQueue.leave()
            return .answered([answer])
        case .ready(let ready):
            update = ready
        }
        if let replay, let seen = seenBefore(context, replays.reserve(replay, now: context.now)) {
            updateQueue.leave()
            return seen
        }
        let queue = updateQueue
        return .deferred(DeferredWork { pool, deliver in
            let job = UpdateCommitter.Job(update: update, octets: context.octets.readableBytes) { answer in
                queue.leave()
                answered(answer)
                deliver(answer.map { [$0] } ?? [])
            }
            self.committer.enqueue(job, on: pool) { self.commit($0) }
        })
    }

    /// Work of one kind, admitted while fewer than `limit` are pending; otherwise shed at once:
    /// dropped over UDP (the client retries), SERVFAIL over TCP. In-process requests are never shed.
    func admit(
        _ context: RequestContext, to queue: WorkQueue, _ body: @escaping @Sendable () -> [ByteBuffer]
    ) -> RequestOutcome {
        admit(context, to: queue) { BlockingWork.Step.done(body()) }
    }

    func admit(
        _ context: RequestContext, to queue: WorkQueue, steps body: @escaping @Sendable () -> BlockingWork.Step
    ) -> RequestOutcome {
        guard context.transport != .local else { return .work(BlockingWork(body: body, release: {})) }
        guard queue.enter() else { return shed(context, queue) }
        return .work(BlockingWork(body: body, release: { queue.leave() }))
    }

    /// A request not taken because its queue is full: dropped over UDP (the client retries),
    /// SERVFAIL over TCP.
    func shed(_ context: RequestContext, _ queue: WorkQueue) -> RequestOutcome {
        ServerMetrics.shed(queue.kind).increment()
        if queue.kind == "update" { requestMetrics.shedUpdate() }
        if let count = queue.shedToReport() {
            // At most one line per queue every 10 s, so that a flood cannot flood the log too.
            logger.warning(
                "shed requests: queue full", metadata: ["kind": "\(queue.kind)", "limit": "\(queue.limit)", "shed": "\(count)"])
        }
        return .answered(context.transport == .tcp ? [context.respond(rcode: .servFail, payloadLimit: 65535)] : [])
    }

    /// FORMERR for a request that does not decode, when at least its header does.
    func formatError(for request: ByteBuffer) -> ByteBuffer? {
        guard let header = MessageHeader(peeking: request), !header.isResponse else { return nil }
        let response = Message(id: header.id, isResponse: true, opcode: header.opcode, rcode: .formErr)
        return try? response.encode()
    }
}

/// A count of admitted work against its limit.
final class WorkQueue: Sendable {
    let kind: String
    let limit: Int
    private let pending = Atomic<Int>(0)

    init(kind: String, limit: Int) {
        self.kind = kind
        self.limit = limit
    }

    /// Takes a place if one is free.
    func enter() -> Bool {
        guard pending.wrappingAdd(1, ordering: .relaxed).newValue <= limit else {
            pending.wrappingSubtract(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func leave() { pending.wrappingSubtract(1, ordering: .relaxed) }

    /// Requests shed since the last report, and when that was.
    private let shedState = Locked<(count: Int, reported: ContinuousClock.Instant?)>((0, nil))

    /// Counts one shed request; returns how many were shed since the last report when a report
    /// is due (the first shed, then at most every 10 s), nil otherwise.
    func shedToReport() -> Int? {
        let now = ContinuousClock.now
        return shedState.withLock { state -> Int? in
            state.count += 1
            if let reported = state.reported, reported.duration(to: now) < .seconds(10) { return nil }
            defer { state = (0, now) }
            return state.count
        }
    }

    var count: Int { pending.load(ordering: .relaxed) }
}

import DNSClient
import DNSWire
import Logging
import Metrics
import NIOCore
import NIOPosix

/// Tells secondaries of changes with NOTIFY (RFC 1996), and keeps telling each one until it has
/// them: after a NOTIFY is acknowledged, the secondary's SOA serial is looked at a second later,
/// and while it is behind the zone (a lost NOTIFY, a failed transfer, a partition that healed) it
/// is told again, backing off from 1 s to 10 s. A secondary that does not acknowledge is retried
/// on the same backoff, and told at once of every new change.
///
/// Each secondary has a loop of its own, so one that is slow or dead delays nobody else; the
/// loops run on a thread of their own, so NOTIFYs leave on time even when the process's shared
/// executor is busy. Changes that come while a loop is busy are merged: a burst of UPDATEs costs
/// a few NOTIFYs per secondary, not one each. The NOTIFYs of one change are spread, a quarter of
/// a millisecond apart and over 15 ms at most, so that many secondaries do not ask for their
/// transfers in the same instant; every millisecond of spread is lag for the last one told.
final class Notifier: Sendable {
    let targets: [SocketAddress]
    let delay: Duration
    let logger: Logger
    private let loops: [TargetLoop]
    private let thread: MultiThreadedEventLoopGroup
    private let workers: [Task<Void, Never>]

    /// The serial of each zone's latest change made by this process, as `zoneChanged` was told.
    private let latest = Locked([DNSName: UInt32]())

    /// `serial` reads a zone's current serial from storage (nil when it cannot be read), for the
    /// zones this process has not changed since it started.
    init(targets: [SocketAddress], delay: Duration, logger: Logger, serial: @escaping @Sendable (DNSName) -> UInt32? = { _ in nil }) {
        self.targets = targets
        self.delay = delay
        self.logger = logger
        thread = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = thread.next()
        let step = Duration.microseconds(min(15_000, 250 * targets.count)) / max(1, targets.count)
        let latest = self.latest
        let lastChange: @Sendable (DNSName) -> UInt32? = { origin in latest.withLock { $0[origin] } }
        loops = targets.enumerated().map { i, target in
            var config = DNSClientConfiguration(servers: [target])
            config.timeout = .seconds(1)
            config.attempts = 1
            return TargetLoop(
                target: target, client: DNSClient(configuration: config, group: loop), offset: step * i, delay: delay, lastChange: lastChange,
                serial: serial, logger: logger)
        }
        workers = loops.map { target in Task(executorPreference: EventLoopTaskExecutor(loop)) { await target.run() } }
    }

    /// Called after every commit, with the serial it made; never blocks.
    func zoneChanged(_ origin: DNSName, serial: UInt32? = nil) {
        if let serial {
            latest.withLock { latest in
                if let last = latest[origin], SOA.serial(serial, isBefore: last) { return }
                latest[origin] = serial
            }
        }
        for loop in loops { loop.changed(origin) }
    }

    /// What is known of each secondary: the serial it last answered for each zone, and since
    /// when it has been behind (nil: it is current, or was never looked at).
    var status: [(target: SocketAddress, serials: [DNSName: UInt32], behindSince: ContinuousClock.Instant?)] {
        loops.map { ($0.target, $0.known.withLock { $0.serials }, $0.known.withLock { $0.behindSince }) }
    }

    /// Ends the loops (a NOTIFY on its way is abandoned), then the clients and the thread.
    func shutdown() async {
        for worker in workers { worker.cancel() }
        for worker in workers { await worker.value }
        for loop in loops { await loop.client.shutdown() }
        try? await thread.shutdownGracefully()
    }
}

/// One secondary's loop: which zones it must be told of, when, and what it last said.
final class TargetLoop: Sendable {
    let target: SocketAddress
    let client: DNSClient
    /// How long after a change this secondary is told: the notify delay, and its place in the spread.
    let offset: Duration
    let delay: Duration
    /// The zone's serial as this process last changed it, in memory (nil: not changed since start).
    let lastChange: @Sendable (DNSName) -> UInt32?
    /// The zone's serial read from storage: for zones `known` does not have.
    let serial: @Sendable (DNSName) -> UInt32?
    let logger: Logger
    private let doorbell = Doorbell()
    /// NOTIFYs sent to this secondary, acknowledged, and unanswered (metrics backend).
    private let sent: Counter
    private let acknowledged: Counter
    private let unacknowledged: Counter
    /// Zones changed and not yet dealt with.
    private let inbox = Locked(Set<DNSName>())
    let known = Locked((serials: [DNSName: UInt32](), behindSince: ContinuousClock.Instant?.none))

    /// A zone this secondary is to be told of: when, how long the next wait is if it does not
    /// catch up, and whether it was told and is now being looked at.
    private struct Pending {
        var due: ContinuousClock.Instant
        var backoff: Duration = .seconds(1)
        var checking = false
        var failures = 0
    }

    init(
        target: SocketAddress, client: DNSClient, offset: Duration, delay: Duration, lastChange: @escaping @Sendable (DNSName) -> UInt32?,
        serial: @escaping @Sendable (DNSName) -> UInt32?, logger: Logger
    ) {
        self.lastChange = lastChange
        let name = [("secondary", "\(target.ipAddress ?? "?"):\(target.port ?? 0)")]
        sent = Counter(label: "dnsstore_notify_sent_total", dimensions: name)
        acknowledged = Counter(label: "dnsstore_notify_acknowledged_total", dimensions: name)
        unacknowledged = Counter(label: "dnsstore_notify_unacknowledged_total", dimensions: name)
        self.target = target
        self.client = client
        self.offset = offset
        self.delay = delay
        self.serial = serial
        self.logger = logger
    }

    func changed(_ origin: DNSName) {
        inbox.withLock { _ = $0.insert(origin) }
        doorbell.ring()
    }

    func run() async {
        var pending: [DNSName: Pending] = [:]
        while !Task.isCancelled {
            await doorbell.wait(until: pending.values.map(\.due).min())
            let now = ContinuousClock.now
            for origin in inbox.withLock({ inbox in defer { inbox = [] }; return inbox }) {
                // Every change is told soon, even to a secondary that failed lately: it may be back
                // (started, resumed, reconnected), and waiting out its backoff would leave it behind
                // by up to 10 s. One NOTIFY is in flight per secondary at a time, so a dead one costs
                // at most one timeout a second however fast changes come; it keeps its failure count
                // (logged once) and its backoff for when changes stop. A change never puts a
                // NOTIFY already due off: changes that come closer together than the delay would
                // otherwise keep a secondary untold for as long as they go on.
                let told = now + delay + offset
                var entry = pending[origin] ?? Pending(due: told)
                entry.due = min(entry.due, told)
                entry.checking = false
                pending[origin] = entry
            }
            for (origin, entry) in pending where entry.due <= ContinuousClock.now {
                if Task.isCancelled { return }
                pending[origin] = await step(origin, entry)
            }
        }
    }

    /// Tells the secondary of `origin`, or looks whether it caught up; returns what comes next.
    private func step(_ origin: DNSName, _ entry: Pending) async -> Pending? {
        var next = entry
        // Without the zone's serial, a NOTIFY acknowledged is as far as it can be followed. It is
        // the serial of this process's last change when there was one (a read of storage per
        // secondary per change cost more than the NOTIFY), else read on the thread pool: storage
        // may block, and this runs on an event loop.
        let serial = self.serial
        var want = lastChange(origin)
        if want == nil { want = (try? await NIOThreadPool.singleton.runIfActive { serial(origin) }) ?? nil }
        if entry.checking, let want {
            let answer = try? await client.query(origin, type: .soa)
            let has = answer?.answers.lazy.compactMap { record -> UInt32? in
                if case .soa(let soa) = record.rdata { return soa.serial }
                return nil
            }.first
            if let has { known.withLock { $0.serials[origin] = has } }
            if let has, !SOA.serial(has, isBefore: want) {
                caughtUp(origin, has: has)
                return nil
            }
            behind(origin, has: has, want: want)
            next.checking = false
            next.due = .now + next.backoff
            next.backoff = min(Self.longestWait, next.backoff * 2)
            return next
        }
        var notify = Message(opcode: .notify, authoritative: true, questions: [Question(name: origin, type: .soa)])
        notify.edns = nil
        sent.increment()
        do {
            _ = try await client.send(notify)
            acknowledged.increment()
            guard want != nil else { return nil }
            next.failures = 0
            next.checking = true
            next.due = .now + .seconds(1)
        } catch {
            unacknowledged.increment()
            next.failures += 1
            if next.failures == 1 {
                logger.warning(
                    "NOTIFY not acknowledged; telling it again, backing off up to 10 s",
                    metadata: ["target": "\(target)", "zone": "\(origin)", "error": "\(error)"])
            }
            if let want { behind(origin, has: known.withLock { $0.serials[origin] }, want: want) }
            next.due = .now + next.backoff
            next.backoff = min(Self.longestWait, next.backoff * 2)
        }
        return next
    }

    private func behind(_ origin: DNSName, has: UInt32?, want: UInt32) {
        let (first, since) = known.withLock { known -> (Bool, ContinuousClock.Instant) in
            defer { if known.behindSince == nil { known.behindSince = .now } }
            return (known.behindSince == nil, known.behindSince ?? .now)
        }
        record(origin, has: has, want: want, behindFor: since.duration(to: .now))
        if first {
            logger.warning(
                "secondary is behind",
                metadata: ["target": "\(target)", "zone": "\(origin)", "serial": "\(has.map(String.init) ?? "unknown")", "zone serial": "\(want)"])
        }
    }

    private func caughtUp(_ origin: DNSName, has: UInt32) {
        let since = known.withLock { known in
            defer { known.behindSince = nil }
            return known.behindSince
        }
        record(origin, has: has, want: has, behindFor: .zero)
        if let since {
            logger.notice("secondary caught up", metadata: ["target": "\(target)", "zone": "\(origin)", "behind for": "\(since.duration(to: .now))"])
        }
    }

    /// The gauges an operator alerts on: the serial the secondary last answered (kept while it
    /// does not answer), how many serials it is behind the zone by that, and for how long it has
    /// been behind. Updated at each NOTIFY and each look at its serial: while it is behind, at
    /// least every `longestWait`, and at once on every change.
    private func record(_ origin: DNSName, has: UInt32?, want: UInt32, behindFor: Duration) {
        let labels = [("secondary", "\(target.ipAddress ?? "?"):\(target.port ?? 0)"), ("zone", origin.description)]
        if let has {
            Gauge(label: "dnsstore_secondary_serial", dimensions: labels).record(Int64(has))
            Gauge(label: "dnsstore_secondary_serials_behind", dimensions: labels).record(SOA.serial(has, isBefore: want) ? Int64(want &- has) : 0)
        }
        let (seconds, attoseconds) = behindFor.components
        Gauge(label: "dnsstore_secondary_lag_seconds", dimensions: labels).record(Double(seconds) + Double(attoseconds) / 1e18)
    }

    /// The longest wait between two NOTIFYs to a secondary that is behind: after a partition
    /// heals, it is told again within this long (docs/CONSISTENCY.md).
    static let longestWait: Duration = .seconds(10)

}

/// Wakes one waiting task: `ring` before `wait` is kept, so no ring is ever lost.
final class Doorbell: Sendable {
    private let state = Locked((rung: false, waiter: CheckedContinuation<Void, Never>?.none))

    func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state.waiter = nil }
            if state.waiter == nil { state.rung = true }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Returns at a ring, at `deadline`, or when the task is cancelled.
    func wait(until deadline: ContinuousClock.Instant?) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.rung() }
            if let deadline { group.addTask { try? await Task.sleep(until: deadline) } }
            await group.next()
            group.cancelAll()
        }
    }

    private func rung() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.rung || Task.isCancelled {
                        state.rung = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}

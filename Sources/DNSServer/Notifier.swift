import DNSClient
import DNSWire
import Logging
import NIOCore
import NIOPosix

/// Sends NOTIFY (RFC 1996) to secondaries after changes, so they transfer them at once.
///
/// One long-lived client per target and one long-lived task that owns every round, running on a
/// thread of its own: NOTIFYs leave on time even when the process's shared executor is busy with
/// blocking work (a test process, an embedding program). Changes that come while a round for the
/// zone is waiting or on its way are merged into the next round, so a burst of UPDATEs costs a
/// few NOTIFYs, not one each, and at most one change per zone is ever queued.
final class Notifier: Sendable {
    let targets: [SocketAddress]
    let delay: Duration
    let logger: Logger
    private let clients: [DNSClient]
    /// Per zone: a round is scheduled or running, and whether another is owed after it.
    private let rounds = Locked<[DNSName: Bool]>([:])
    private let starts: AsyncStream<DNSName>.Continuation
    private let thread: MultiThreadedEventLoopGroup
    private let worker: Task<Void, Never>

    init(targets: [SocketAddress], delay: Duration, logger: Logger) {
        self.targets = targets
        self.delay = delay
        self.logger = logger
        thread = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = thread.next()
        clients = targets.map { target in
            var config = DNSClientConfiguration(servers: [target])
            config.timeout = .seconds(1)
            config.attempts = 5
            return DNSClient(configuration: config, group: loop)
        }
        let (stream, continuation) = AsyncStream.makeStream(of: DNSName.self)
        starts = continuation
        let rounds = self.rounds
        let clients = self.clients
        worker = Task(executorPreference: EventLoopTaskExecutor(loop)) {
            await Self.run(stream, rounds: rounds, targets: targets, clients: clients, delay: delay, logger: logger)
        }
    }

    /// Called after every commit; never blocks and never queues more than one start per zone.
    func zoneChanged(_ origin: DNSName) {
        let start = rounds.withLock { rounds -> Bool in
            if rounds[origin] != nil {
                rounds[origin] = true
                return false
            }
            rounds[origin] = false
            return true
        }
        if start { starts.yield(origin) }
    }

    /// Every round as a child of one task, until the stream of starts ends at shutdown.
    private static func run(
        _ starts: AsyncStream<DNSName>, rounds: Locked<[DNSName: Bool]>, targets: [SocketAddress], clients: [DNSClient],
        delay: Duration, logger: Logger
    ) async {
        await withTaskGroup(of: Void.self) { group in
            for await origin in starts {
                group.addTask {
                    await round(origin, rounds: rounds, targets: targets, clients: clients, delay: delay, logger: logger)
                }
            }
            group.cancelAll()
        }
    }

    private static func round(
        _ origin: DNSName, rounds: Locked<[DNSName: Bool]>, targets: [SocketAddress], clients: [DNSClient],
        delay: Duration, logger: Logger
    ) async {
        while !Task.isCancelled {
            if delay > .zero { try? await Task.sleep(for: delay) }
            rounds.withLock { $0[origin] = false }
            await withTaskGroup(of: Void.self) { group in
                for (target, client) in zip(targets, clients) {
                    group.addTask {
                        var notify = Message(opcode: .notify, authoritative: true, questions: [Question(name: origin, type: .soa)])
                        notify.edns = nil
                        do {
                            _ = try await client.send(notify)
                        } catch {
                            logger.warning("NOTIFY not acknowledged", metadata: ["target": "\(target)", "error": "\(error)"])
                        }
                    }
                }
            }
            let again = rounds.withLock { rounds -> Bool in
                if rounds[origin] == true { return true }
                rounds[origin] = nil
                return false
            }
            guard again else { return }
        }
    }

    /// Ends the rounds (a NOTIFY on its way is abandoned), then the clients and the thread.
    func shutdown() async {
        starts.finish()
        worker.cancel()
        await worker.value
        for client in clients { await client.shutdown() }
        try? await thread.shutdownGracefully()
    }
}

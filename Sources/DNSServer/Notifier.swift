import DNSClient
import DNSWire
import Logging
import NIOCore

/// Sends NOTIFY (RFC 1996) to secondaries after changes, so they transfer them at once. One
/// long-lived client per target; changes that come while a round of NOTIFYs for the zone is
/// waiting or on its way are merged into the next round, so a burst of UPDATEs costs a few
/// NOTIFYs, not one each.
final class Notifier: Sendable {
    let targets: [SocketAddress]
    let delay: Duration
    let logger: Logger
    private let clients: [DNSClient]
    /// Per zone: a round is scheduled or running, and whether another is owed after it.
    private let rounds = Locked<[DNSName: Bool]>([:])

    init(targets: [SocketAddress], delay: Duration, logger: Logger) {
        self.targets = targets
        self.delay = delay
        self.logger = logger
        clients = targets.map { target in
            var config = DNSClientConfiguration(servers: [target])
            config.timeout = .seconds(1)
            config.attempts = 5
            return DNSClient(configuration: config)
        }
    }

    func zoneChanged(_ origin: DNSName) {
        let start = rounds.withLock { rounds -> Bool in
            if rounds[origin] != nil {
                rounds[origin] = true
                return false
            }
            rounds[origin] = false
            return true
        }
        guard start else { return }
        Task { await self.round(origin) }
    }

    private func round(_ origin: DNSName) async {
        while true {
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
                            self.logger.warning("NOTIFY not acknowledged", metadata: ["target": "\(target)", "error": "\(error)"])
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

    func shutdown() async {
        for client in clients { await client.shutdown() }
    }
}

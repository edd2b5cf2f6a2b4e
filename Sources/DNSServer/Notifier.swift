import DNSClient
import DNSWire
import Logging
import NIOCore

/// Sends NOTIFY (RFC 1996) to secondaries after each change, so they transfer it at once.
final class Notifier: Sendable {
    let targets: [SocketAddress]
    let logger: Logger

    init(targets: [SocketAddress], logger: Logger) {
        self.targets = targets
        self.logger = logger
    }

    func zoneChanged(_ origin: DNSName) {
        for target in targets {
            Task {
                var config = DNSClientConfiguration(servers: [target])
                config.timeout = .seconds(1)
                config.attempts = 5
                let client = DNSClient(configuration: config)
                var notify = Message(opcode: .notify, authoritative: true, questions: [Question(name: origin, type: .soa)])
                notify.edns = nil
                do {
                    _ = try await client.send(notify)
                } catch {
                    logger.warning("NOTIFY not acknowledged", metadata: ["target": "\(target)", "error": "\(error)"])
                }
                await client.shutdown()
            }
        }
    }
}

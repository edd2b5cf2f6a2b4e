import DNSClient
import DNSWire

/// The read servers of a store and what is known of each: how fast it answers (a moving average),
/// whether it failed lately (then it rests, longer each time), and whether it was found behind
/// what a session had seen (then it is passed over for session reads for a while). Reads go to
/// the fastest healthy server; now and then to another, to keep its time known.
final class ReplicaSet: Sendable {
    struct Server: Sendable {
        let transport: any StoreTransport
        let name: String
    }

    private struct Health {
        var seconds = 0.005
        var failures = 0
        var restUntil: ContinuousClock.Instant?
        var behindUntil: ContinuousClock.Instant?
    }

    let servers: [Server]
    private let health: Locked<(servers: [Health], reads: Int)>
    /// What other clients (and earlier commands) know of the servers, by name: a server resting
    /// there is passed over here too.
    let shared: ServerHealth?
    /// How long a server found behind a session is passed over for session reads.
    static let behindFor: Duration = .seconds(2)

    init(_ servers: [Server], shared: ServerHealth? = nil) {
        self.servers = servers
        self.shared = shared
        self.health = Locked((Array(repeating: Health(), count: servers.count), 0))
    }

    /// The servers to try for a read, best first. Servers resting after failures are left out
    /// until their rest is over, and for session reads servers found behind are left out too.
    func order(for consistency: ReadConsistency) -> [Int] {
        let now = ContinuousClock.now
        return health.withLock { state in
            state.reads &+= 1
            let servers = state.servers
            let all = Array(servers.indices)
            let shared = self.shared
            let names = self.servers.map(\.name)
            let resting = { (i: Int) in (servers[i].restUntil.map { $0 > now } ?? false) || (shared?.isResting(names[i]) ?? false) }
            let behind = { (i: Int) in servers[i].behindUntil.map { $0 > now } ?? false }
            var ready = all.filter { !resting($0) && !(consistency == .session && behind($0)) }
                .sorted { servers[$0].seconds < servers[$1].seconds }
            // One read in sixteen goes to another ready server, so a server that got faster is noticed.
            if ready.count > 1 && state.reads % 16 == 0 {
                ready.swapAt(0, Int.random(in: 1..<ready.count))
            }
            return ready
        }
    }

    func answered(_ i: Int, after duration: Duration) {
        shared?.answered(servers[i].name)
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        health.withLock { state in
            state.servers[i].seconds = state.servers[i].seconds * 0.8 + seconds * 0.2
            state.servers[i].failures = 0
            state.servers[i].restUntil = nil
        }
    }

    func failed(_ i: Int) {
        shared?.failed(servers[i].name)
        health.withLock { state in
            state.servers[i].failures += 1
            let rest = min(30.0, 0.5 * Double(1 << min(6, state.servers[i].failures)))
            state.servers[i].restUntil = .now + .milliseconds(Int(rest * 1000))
        }
    }

    func foundBehind(_ i: Int) {
        health.withLock { $0.servers[i].behindUntil = .now + Self.behindFor }
    }
}

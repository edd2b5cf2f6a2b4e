import DNSWire
import Foundation
import NIOCore

/// What is known of servers that failed lately: each rests after a failure, twice as long for
/// each one in a row, and is tried after the others meanwhile. Shared by every client of a
/// program, and kept between commands by the command line (a file under the user's cache
/// folder), so a dead server costs the first request a timeout, not every one.
public final class ServerHealth: Sendable {
    /// One server's record: failures in a row, and until when it rests (seconds since 1970).
    public struct Entry: Codable, Sendable, Equatable {
        public var failures: Int
        public var restUntil: Double

        public init(failures: Int, restUntil: Double) {
            self.failures = failures
            self.restUntil = restUntil
        }
    }

    private let state: Locked<[String: Entry]>
    /// The first rest; each failure in a row doubles it, up to `longestRest`.
    public let firstRest: Double
    public let longestRest: Double
    private let changed: (@Sendable ([String: Entry]) -> Void)?

    /// `entries`: what an earlier run knew; `changed` hears of every change (to keep it).
    public init(
        firstRest: Duration = .milliseconds(500), longestRest: Duration = .seconds(30), entries: [String: Entry] = [:],
        changed: (@Sendable ([String: Entry]) -> Void)? = nil
    ) {
        self.firstRest = Double(firstRest.components.seconds) + Double(firstRest.components.attoseconds) / 1e18
        self.longestRest = Double(longestRest.components.seconds) + Double(longestRest.components.attoseconds) / 1e18
        let now = Date().timeIntervalSince1970
        self.state = Locked(entries.filter { $0.value.restUntil > now - 3600 })
        self.changed = changed
    }

    /// Whether the server named `name` (an address as `display` gives it) is resting now.
    public func isResting(_ name: String) -> Bool {
        state.withLock { $0[name].map { $0.restUntil > Date().timeIntervalSince1970 } ?? false }
    }

    /// `servers` with those resting moved to the end, in their order.
    public func order(_ servers: [SocketAddress]) -> [SocketAddress] {
        let resting = servers.filter { isResting($0.display) }
        return resting.isEmpty ? servers : servers.filter { !isResting($0.display) } + resting
    }

    public func failed(_ server: SocketAddress) { failed(server.display) }
    public func answered(_ server: SocketAddress) { answered(server.display) }

    public func failed(_ name: String) {
        let now = Date().timeIntervalSince1970
        let all = state.withLock { state -> [String: Entry] in
            var entry = state[name] ?? Entry(failures: 0, restUntil: 0)
            entry.failures += 1
            entry.restUntil = now + min(longestRest, firstRest * Double(1 << min(10, entry.failures - 1)))
            state[name] = entry
            return state
        }
        changed?(all)
    }

    public func answered(_ name: String) {
        let all = state.withLock { state -> [String: Entry]? in
            guard state.removeValue(forKey: name) != nil else { return nil }
            return state
        }
        if let all { changed?(all) }
    }

    /// Every record.
    public var entries: [String: Entry] { state.withLock { $0 } }
}

import DNSStoreHistory
import DNSWire
import Foundation

/// The clients' work, each operation recorded with when it was invoked and answered: increments
/// by compare-and-swap (read the counter, write it plus one if its version has not moved) and
/// reads. Keys are `a/k0`... (the documents `cl/counters/k0`... of `a.test`) and `b/k0`... (of
/// `b.test`).
final class Recorder: @unchecked Sendable {
    let start = ContinuousClock.now
    private let state = Locked((operations: [ClientOperation](), unexpected: [String]()))

    func now() -> Double {
        let d = start.duration(to: .now)
        return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    func record(_ op: ClientOperation) { state.withLock { $0.operations.append(op) } }

    /// An answer no operation should give (a usage error, corrupt data, no answer at all).
    func unexpected(_ what: String) { state.withLock { $0.unexpected.append(what) } }

    var operations: [ClientOperation] { state.withLock { $0.operations } }
    var unexpectedAnswers: [String] { state.withLock { $0.unexpected } }

    /// When the first write invoked after `since` on a key starting with `prefix` was acknowledged.
    func firstWrite(_ prefix: String, after since: Double) -> Double? {
        operations.filter { $0.key.hasPrefix(prefix) && $0.isAcknowledgedWrite && $0.invoked >= since }.compactMap(\.completed).min()
    }
}

struct Workload {
    static let documentKeys = ["k0", "k1", "k2"]
    let recorder: Recorder

    /// What an answer says of a write: done, refused as a conflict, surely not done, or unknown.
    func writeOutcome(_ answer: ShellClient.Answer?, process: String) -> (ClientOperation.Outcome, conflict: Bool) {
        guard let answer else {
            recorder.unexpected("\(process): a write got no answer from the shell within 30 s")
            return (.unknown, false)
        }
        if answer.ok { return (.ok, false) }
        switch answer.exit {
        case 4: return (.failed, true)
        case 7: return (.unknown, false)
        // Unreachable before anything was sent, SERVFAIL, not found: nothing applied.
        case 3, 6, 8: return (.failed, false)
        default:
            recorder.unexpected("\(process): exit \(answer.exit): \(answer.message)")
            return (.failed, false)
        }
    }

    /// Reads a counter: (version, value), or nil when the read failed.
    func read(_ shell: ShellClient, store: String, key: String, consistency: String) async -> (version: Int, value: Int)? {
        let invoked = recorder.now()
        let answer = await shell.request("get cl/counters/\(key) --with-version")
        let completed = recorder.now()
        guard let answer else {
            recorder.unexpected("\(shell.name): a read got no answer from the shell within 30 s")
            return nil
        }
        guard answer.ok, let version = answer.result["version"] as? Int, let doc = answer.result["doc"] as? [String: Any],
            let value = doc["n"] as? Int
        else {
            if ![3, 6, 8].contains(answer.exit) { recorder.unexpected("\(shell.name): read exit \(answer.exit): \(answer.message)") }
            recorder.record(ClientOperation(process: shell.name, key: "\(store)/\(key)", kind: .read, consistency: consistency, invoked: invoked, completed: completed, outcome: .failed))
            return nil
        }
        recorder.record(ClientOperation(
            process: shell.name, key: "\(store)/\(key)", kind: .read, consistency: consistency, invoked: invoked, completed: completed,
            outcome: .ok, version: version, value: value))
        return (version, value)
    }

    /// One increment: a read, then a compare-and-swap from what it saw.
    func increment(_ shell: ShellClient, store: String, key: String, consistency: String) async {
        guard let (version, value) = await read(shell, store: store, key: key, consistency: consistency) else { return }
        let invoked = recorder.now()
        let answer = await shell.request(#"update cl/counters/\#(key) {"n":\#(value + 1),"by":"\#(shell.name)"} --if-version \#(version)"#)
        let completed = recorder.now()
        let (outcome, conflict) = writeOutcome(answer, process: shell.name)
        recorder.record(ClientOperation(
            process: shell.name, key: "\(store)/\(key)", kind: .cas, consistency: consistency, invoked: invoked,
            completed: outcome == .unknown ? nil : completed, outcome: outcome, expectedVersion: version,
            version: outcome == .ok ? answer?.result["version"] as? Int : nil, value: value + 1, conflict: conflict))
    }

    /// Creates the keys at value 0 (recorded as writes).
    func create(_ shell: ShellClient, store: String) async throws {
        for key in Self.documentKeys {
            let invoked = recorder.now()
            guard let answer = await shell.request(#"put cl/counters/\#(key) {"n":0}"#), answer.ok, let version = answer.result["version"] as? Int else {
                throw ClusterError("\(shell.name) could not create \(store)/\(key)")
            }
            recorder.record(ClientOperation(
                process: shell.name, key: "\(store)/\(key)", kind: .write, invoked: invoked, completed: recorder.now(), outcome: .ok, version: version, value: 0))
        }
    }

    /// Runs `shell` as a client of one kind until `until` (seconds from the start).
    func run(_ shell: ShellClient, store: String, role: String, until: Double) async {
        var random = SystemRandomNumberGenerator()
        while recorder.now() < until {
            let key = Self.documentKeys.randomElement(using: &random)!
            switch role {
            case "any": _ = await read(shell, store: store, key: key, consistency: "any")
            case "session":
                // Sessions read more than they write, and read what they wrote.
                if Bool.random(using: &random) {
                    await increment(shell, store: store, key: key, consistency: "session")
                } else {
                    _ = await read(shell, store: store, key: key, consistency: "session")
                }
            default: await increment(shell, store: store, key: key, consistency: "latest")
            }
            try? await Task.sleep(for: .milliseconds(Int.random(in: 20...80, using: &random)))
        }
    }
}

import DNSStoreHistory
import Testing

/// The cluster test's checker fed histories whose verdict is known: each kind of anomaly is
/// caught, and correct histories with concurrency and unknown outcomes pass.
@Suite("History checker")
struct HistoryCheckTests {
    static func write(_ p: String, _ version: Int, value: Int, _ t0: Double, _ t1: Double?) -> ClientOperation {
        ClientOperation(process: p, key: "k", kind: .write, invoked: t0, completed: t1, outcome: .ok, version: version, value: value)
    }

    static func cas(
        _ p: String, _ expected: Int, value: Int, _ t0: Double, _ t1: Double?, _ outcome: ClientOperation.Outcome = .ok, conflict: Bool = false
    ) -> ClientOperation {
        ClientOperation(
            process: p, key: "k", kind: .cas, invoked: t0, completed: t1, outcome: outcome, expectedVersion: expected,
            version: outcome == .ok ? expected + 1 : nil, value: value, conflict: conflict)
    }

    static func read(_ p: String, _ version: Int, value: Int?, _ t0: Double, _ t1: Double, _ consistency: String = "latest") -> ClientOperation {
        ClientOperation(process: p, key: "k", kind: .read, consistency: consistency, invoked: t0, completed: t1, outcome: .ok, version: version, value: value)
    }

    @Test func concurrentCompareAndSwapsWithAnUnknownOneAreLinearizable() {
        let history = [
            Self.write("a", 1, value: 0, 0, 1),
            // Two overlapping increments from version 1: one wins, one is refused.
            Self.cas("a", 1, value: 1, 2, 5),
            Self.cas("b", 1, value: 1, 3, 4, .failed, conflict: true),
            // The refused one read after its refusal: it may see the winner, since they overlapped.
            Self.read("b", 2, value: 1, 5.5, 6),
            // An increment with no answer that did happen, seen by a later read.
            Self.cas("c", 2, value: 2, 7, nil, .unknown),
            Self.read("a", 3, value: 2, 9, 10),
            // One with no answer that did not happen (its version was passed by then).
            Self.cas("b", 2, value: 9, 11, nil, .unknown),
            Self.cas("a", 3, value: 3, 12, 13),
            Self.read("b", 4, value: 3, 14, 15),
        ]
        #expect(Linearizability.check(history) == .linearizable)
        let check = HistoryCheck(operations: history, finalValues: ["k": (4, 3)])
        #expect(check.anomalies().isEmpty, "\(check.anomalies())")
    }

    @Test func aLostWriteIsCaught() {
        // An acknowledged increment that a later read does not see.
        let history = [
            Self.write("a", 1, value: 0, 0, 1),
            Self.cas("a", 1, value: 1, 2, 3),
            Self.read("b", 1, value: 0, 4, 5),
        ]
        guard case .violated = Linearizability.check(history) else {
            Issue.record("a lost write passed")
            return
        }
        let anomalies = HistoryCheck(operations: history).anomalies()
        #expect(anomalies.contains { $0.kind == .notLinearizable })
        #expect(anomalies.contains { $0.kind == .staleLatestRead })
    }

    @Test func aStaleReadIsCaughtEvenWhenTheVersionsChainUp() {
        // Versions 1, 2, 3 all written, but a read after 3 was acknowledged sees 2.
        let history = [
            Self.write("a", 1, value: 0, 0, 1),
            Self.cas("a", 1, value: 1, 2, 3),
            Self.cas("a", 2, value: 2, 4, 5),
            Self.read("b", 2, value: 1, 6, 7),
        ]
        #expect(Linearizability.check(history) != .linearizable)
        #expect(HistoryCheck(operations: history).staleLatestReads().count == 1)
        // An `any` read may be stale: not an anomaly, but counted.
        var any = history
        any[3].consistency = "any"
        #expect(HistoryCheck(operations: any).staleLatestReads().isEmpty)
        #expect(HistoryCheck(operations: any).figures().staleAnyReads == 1)
    }

    @Test func aDuplicateVersionIsCaught() {
        // Two increments from the same version both acknowledged: a compare-and-swap that did not compare.
        let history = [
            Self.write("a", 1, value: 0, 0, 1),
            Self.cas("a", 1, value: 1, 2, 3),
            Self.cas("b", 1, value: 1, 2.5, 3.5),
        ]
        #expect(Linearizability.check(history) != .linearizable)
        let anomalies = HistoryCheck(operations: history).anomalies()
        #expect(anomalies.contains { $0.kind == .duplicateVersion })
    }

    @Test func aRefusalThatShouldHaveSucceededIsCaught() {
        // Refused as a conflict though nothing else wrote: the compare was wrong.
        let history = [
            Self.write("a", 1, value: 0, 0, 1),
            Self.cas("a", 1, value: 1, 2, 3, .failed, conflict: true),
            Self.read("a", 1, value: 0, 4, 5),
        ]
        #expect(Linearizability.check(history) != .linearizable)
    }

    @Test func aSessionGoingBackIsCaught() {
        let history = [
            Self.write("a", 1, value: 0, 0, 1),
            ClientOperation(process: "s", key: "k", kind: .cas, consistency: "session", invoked: 2, completed: 3, outcome: .ok, expectedVersion: 1, version: 2, value: 1),
            Self.read("s", 1, value: 0, 4, 5, "session"),
        ]
        #expect(HistoryCheck(operations: history).sessionViolations().count == 1)
    }

    @Test func countersAndWatchesAreChecked() {
        let history = [
            Self.write("a", 1, value: 0, 0, 1),
            Self.cas("a", 1, value: 1, 2, 3),
            Self.cas("b", 2, value: 2, 4, nil, .unknown),
        ]
        #expect(HistoryCheck(operations: history, finalValues: ["k": (3, 2)]).counterMismatches().isEmpty)
        #expect(HistoryCheck(operations: history, finalValues: ["k": (2, 1)]).counterMismatches().isEmpty)
        #expect(HistoryCheck(operations: history, finalValues: ["k": (1, 0)]).counterMismatches().count == 1)
        #expect(HistoryCheck(operations: history, finalValues: ["k": (4, 3)]).counterMismatches().count == 1)

        let good = ["w": [WatchEvent(key: "k", version: 1, at: 1), WatchEvent(key: "k", version: 2, at: 3)]]
        #expect(HistoryCheck(operations: history, watches: good, finalValues: ["k": (2, 1)]).watchAnomalies().isEmpty)
        let bad = ["w": [WatchEvent(key: "k", version: 1, at: 1), WatchEvent(key: "k", version: 3, at: 3), WatchEvent(key: "k", version: 3, at: 4),
                         WatchEvent(key: "k", version: 2, at: 5)]]
        let kinds = HistoryCheck(operations: history, watches: bad, finalValues: ["k": (3, 2)]).watchAnomalies().map(\.kind)
        #expect(kinds.contains(.watchMissed) && kinds.contains(.watchDuplicate) && kinds.contains(.watchOutOfOrder))
    }

    /// A long history of several clients in turn is decided quickly (the search remembers states).
    @Test func aLongHistoryIsDecided() {
        var history = [Self.write("a", 1, value: 0, 0, 1)]
        var t = 2.0
        for i in 1...3_000 {
            // Three clients race for each version: one wins, two are refused.
            history.append(Self.cas("a", i, value: i, t, t + 0.5))
            history.append(Self.cas("b", i, value: i, t + 0.1, t + 0.4, .failed, conflict: true))
            history.append(Self.cas("c", i, value: i, t + 0.6, t + 0.7, .failed, conflict: true))
            history.append(Self.read("c", i + 1, value: i, t + 0.2, t + 0.9))
            t += 1
        }
        #expect(Linearizability.check(history, maxSteps: 200_000) == .linearizable)
    }
}

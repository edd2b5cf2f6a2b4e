import Foundation

/// What a cluster test records: every operation a client invoked, when it was invoked and when
/// its answer came (in seconds from the run's start, on one monotonic clock), and what it said.
/// The checks of `HistoryCheck` and `Linearizability` read it; nothing here does I/O.
///
/// The keys are compare-and-swap registers: a document whose version grows by one at each write,
/// and whose value is a counter.
public struct ClientOperation: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        /// A read: `version` and `value` say what was seen (version 0: no document).
        case read
        /// A write if the document is at `expectedVersion`: `version` is the version it wrote.
        case cas
        /// A write whatever the version (creating keys).
        case write
    }

    public enum Outcome: String, Codable, Sendable {
        /// Answered and done.
        case ok
        /// Answered, and known not to have happened: a refused compare-and-swap (its
        /// `version` then says the version found when known), or an error before anything was
        /// sent or a SERVFAIL.
        case failed
        /// No answer to a write that went out: it may or may not have happened.
        case unknown
    }

    /// Who invoked it: one sequential client (a shell), e.g. `c1/a-session`.
    public var process: String
    public var key: String
    public var kind: Kind
    /// How a read was asked: `latest`, `session` or `any`.
    public var consistency: String?
    public var invoked: Double
    /// When the answer came; nil when none came.
    public var completed: Double?
    public var outcome: Outcome
    /// For a compare-and-swap: the version it replaced.
    public var expectedVersion: Int?
    /// A read's version, or the version a write wrote.
    public var version: Int?
    /// A read's value, or the value a write wrote.
    public var value: Int?
    /// Set when the refusal was a conflict (the compare failed), as opposed to an error.
    public var conflict: Bool

    public init(
        process: String, key: String, kind: Kind, consistency: String? = nil, invoked: Double, completed: Double?, outcome: Outcome,
        expectedVersion: Int? = nil, version: Int? = nil, value: Int? = nil, conflict: Bool = false
    ) {
        self.process = process
        self.key = key
        self.kind = kind
        self.consistency = consistency
        self.invoked = invoked
        self.completed = completed
        self.outcome = outcome
        self.expectedVersion = expectedVersion
        self.version = version
        self.value = value
        self.conflict = conflict
    }

    /// Whether it changed the register for sure.
    public var isAcknowledgedWrite: Bool { kind != .read && outcome == .ok }
}

/// A change a watch printed: the key, the version it reported, and when.
public struct WatchEvent: Codable, Sendable, Equatable {
    public var key: String
    public var version: Int
    /// A delete reports the version it deleted.
    public var deleted: Bool
    public var at: Double

    public init(key: String, version: Int, deleted: Bool = false, at: Double) {
        self.key = key
        self.version = version
        self.deleted = deleted
        self.at = at
    }
}

/// Something a check found wrong, in words that name the key, the operations and the times.
public struct Anomaly: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case notLinearizable = "not linearizable"
        case staleLatestRead = "stale latest read"
        case sessionViolated = "session guarantee broken"
        case duplicateVersion = "duplicate version"
        case counterMismatch = "counter mismatch"
        case watchOutOfOrder = "watch out of order"
        case watchDuplicate = "watch duplicate"
        case watchMissed = "watch missed a change"
        case noAnswer = "no answer"
    }

    public var kind: Kind
    public var key: String
    public var detail: String

    public init(_ kind: Kind, key: String, _ detail: String) {
        self.kind = kind
        self.key = key
        self.detail = detail
    }

    public var description: String { "\(kind.rawValue) on \(key): \(detail)" }
}

func seconds(_ t: Double?) -> String {
    guard let t else { return "never" }
    return String(format: "%.3f s", t)
}

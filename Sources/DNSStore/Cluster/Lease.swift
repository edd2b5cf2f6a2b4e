import Foundation

/// A lease (docs/FORMAT.md section 13): documents attached to it live only as long as it is
/// renewed. Its holder renews it (`DocumentStore.keepAlive`); when it lapses, every reader treats
/// its documents as gone at once, and a reaper (our server's own, or `dnsstore reap`) deletes them.
public struct Lease: Codable, Sendable, Hashable {
    /// 16 lower-case hex digits.
    public var id: String
    /// Seconds it lives without a renewal.
    public var ttl: Int

    /// A lease with this id and time to live.
    public init(id: String, ttl: Int) {
        self.id = id
        self.ttl = ttl
    }

    /// The longest time to live a lease may have, in seconds (a week).
    public static let maxTTL = 604_800

    /// Whether `id` has the form of a lease id.
    public static func isValidID(_ id: String) -> Bool { FormatLimits.isLowerHex(id, count: 16) }

    enum CodingKeys: String, CodingKey {
        case id = "lease", ttl
    }
}

/// What a lease is now, as `dnsstore lease show` prints it.
public struct LeaseStatus: Codable, Sendable, Equatable {
    /// The lease's id.
    public var lease: String
    /// Its time to live, in seconds.
    public var ttl: Int
    /// Seconds left before it lapses, by this client's clock (0 once lapsed).
    public var remaining: Double
    /// The documents attached, as `database/collection/id` (a private collection's ids sealed
    /// unless this store holds its key).
    public var documents: [String]
}

/// A lease's record (section 13): when it lapses and which documents are attached to it.
struct LeaseRecord: Codable, Sendable, Hashable {
    var id: String
    var ttl: Int
    /// Milliseconds since 1970 (UTC) after which the lease has lapsed, by the reader's clock.
    var deadline: Int64
    /// Database, collection and stored id of each document attached.
    var docs: [[String]]

    /// Chunks of the lease index: fixed, so a lease's record name follows from its id alone.
    static let indexChunks = 16
    /// Octets of a lease record's text at most, as of an index page.
    static let maxTextOctets = 16_000

    func isLive(at now: Int64) -> Bool { now <= deadline }
}

extension LeaseRecord: FormatChecked {
    var formatProblem: String? {
        guard Lease.isValidID(id) else { return "'id' is not 16 lower-case hex digits" }
        guard (1...Lease.maxTTL).contains(ttl) else { return "'ttl' is \(ttl), not 1 to \(Lease.maxTTL)" }
        guard (0...Int64(FormatLimits.maxVersion)).contains(deadline) else { return "'deadline' is \(deadline)" }
        guard docs.allSatisfy({ $0.count == 3 && $0.allSatisfy(FormatLimits.isName) }) else {
            return "'docs' holds an entry that is not three names"
        }
        return nil
    }
}

import DNSClient
import DNSWire
import Foundation
import Logging

/// Where a store lives and how it writes.
public struct StoreConfiguration: Sendable {
    /// The domain the store lives under (`_dnsstore.<domain>`).
    public var domain: DNSName
    /// The zone UPDATEs go to; the domain unless the store sits in a zone of its own.
    public var zone: DNSName
    /// TTL of records and index pages.
    public var recordTTL: UInt32 = 30
    /// TTL of the root, database and collection records.
    public var metadataTTL: UInt32 = 300
    /// Index chunks of a new store, database and collection.
    public var rootChunks = 8
    /// Index chunks of a new database.
    public var databaseChunks = 8
    /// Index chunks of a new collection.
    public var collectionChunks = 16
    /// Octets this store fills an index page to (900 to 16,000): the format allows 16,000
    /// (docs/FORMAT.md section 3.2); a backend that holds smaller records wants less, as Route 53,
    /// whose values hold 4,000 characters (`Route53Transport.indexPageOctets`).
    public var indexPageOctets = 16_000
    /// What the backend holds, when less than a DNS server (`Route53Transport.backendLimits`);
    /// nil: records and UPDATEs up to the format's and DNS's own limits.
    public var backendLimits: BackendLimits?
    /// Attempts for writes that lose a race on an index page (never for a compare-and-swap).
    public var maxAttempts = 100
    /// Reads in flight during listings and scans.
    public var readConcurrency = 32
    /// How fresh reads must be when the store has read servers.
    public var consistency: ReadConsistency = .session
    /// The keys of private collections: the first wraps the secrets of new ones, each reads.
    public var encryptionKeys: EncryptionKeys?
    /// Whether writes compress documents that shrink by an eighth (docs/FORMAT.md section 7.2).
    /// Off, the size of a private document's ciphertext no longer depends on how well its content
    /// compresses, which matters when an attacker can put chosen text next to a secret.
    public var compression = true
    /// Collections (`database/collection`) known to be private: one whose metadata no longer says
    /// so is refused as altered, so that stripping `"private"` from the zone can deny service but
    /// never make this client write or read that collection in the clear. Collections this store
    /// object sees private are added as it runs (``DocumentStore/privateCollections``).
    public var privateCollections: Set<String> = []
    /// Called with the whole set whenever this store object pins a collection it sees private or
    /// unpins one it dropped, so a program can keep the pins for its next run.
    public var privateCollectionsChanged: (@Sendable (Set<String>) -> Void)?
    /// Which servers failed lately, shared with the store's clients (and kept between commands by
    /// the command line): a read server resting there is passed over.
    public var serverHealth: ServerHealth?
    /// The clock leases are read by: milliseconds since 1970 (UTC).
    public var clock: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
    /// How far apart the clocks of the writers, readers and reapers of a store may be
    /// (docs/FORMAT.md section 13): a reaper deletes a lapsed lease's documents this long after
    /// its deadline, and a holder gives its lease up this long before it.
    public var leaseClockSkew: Duration = .seconds(1)

    var leaseClockSkewMilliseconds: Int64 {
        leaseClockSkew.components.seconds * 1000 + leaseClockSkew.components.attoseconds / 1_000_000_000_000_000
    }

    /// Where the store says what it does: writes retried after a lost race (debug), read servers
    /// passed over (debug), writes whose outcome is unknown (notice). By default the process's
    /// swift-log handler, under `dnsstore`.
    public var logger = Logger(label: "dnsstore")
    /// Whether a write to a collection that does not exist creates it (and its database and the
    /// store root), as the command line does; otherwise it throws `.notFound`.
    public var createIfMissing = false
    /// How Codable values become documents and back: by default dates as ISO 8601 text.
    public var coding = DocumentCoding.standard

    /// A store under `domain`, writing to `zone` (the domain itself unless given).
    public init(domain: DNSName, zone: DNSName? = nil) {
        self.domain = domain
        self.zone = zone ?? domain
    }
}

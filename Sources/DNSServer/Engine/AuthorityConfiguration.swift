import DNSWire
import NIOCore

/// What an authoritative server serves and whom it lets write.
public struct AuthorityConfiguration: Sendable {
    /// Zones served; created empty (SOA and NS only) on first start.
    public var zones: [DNSName]
    /// Keys accepted for TSIG.
    public var keys: [TSIGKey]
    /// Per key, the subtrees its UPDATEs may touch: every name an UPDATE names, prerequisites
    /// included, must lie at or below one of them (compared label by label, case-insensitively).
    /// A key not listed may update its whole zone.
    public var updateSubtrees: [DNSName: [DNSName]] = [:]
    /// Refuse unsigned UPDATEs (the default).
    public var requireSignedUpdates = true
    /// Refuse unsigned zone transfers (the default).
    public var requireSignedTransfers = true
    /// Secondaries told of every change with NOTIFY.
    public var notify: [SocketAddress] = []
    /// Time to wait before sending a NOTIFY, merging the changes that come meanwhile (BIND's
    /// `notify-delay`); secondaries lag behind by at least this much.
    public var notifyDelay: Duration = .zero
    /// Flush every committed UPDATE to disk before answering, so it survives power loss. Without
    /// it (the default, as BIND and Knot do) an acknowledged UPDATE survives a crash or kill -9 of
    /// the server but the last ones may be lost if the machine loses power.
    public var syncEveryCommit = false
    /// UDP payload we accept and advertise.
    public var udpPayloadSize: UInt16 = EDNS.defaultPayloadSize
    /// UPDATEs admitted at once (queued or being applied); more are shed before any work.
    public var maxPendingUpdates = 64
    /// Zone transfers admitted at once (waiting for a thread or running); more are shed (SERVFAIL
    /// over TCP, logged at warning level). Each holds a TCP connection, so the default matches the
    /// default connection limit: a primary feeding many secondaries that all ask at once (every
    /// NOTIFY of a change leaves within a few milliseconds) queues their transfers instead of
    /// refusing them; a refused IXFR makes Knot fetch the whole zone, then rest until its retry.
    /// A waiting transfer holds only its request; a running one about one step of records.
    public var maxPendingTransfers = 256
    /// Records one RRset may hold; an UPDATE that would pass it is refused.
    public var maxRecordsPerRRset = 1_000
    /// Queries waiting for storage at once (those the cache cannot answer); more are shed.
    public var maxPendingReads = 256
    /// A query the cache cannot answer reads storage where it arrived while storage reads have
    /// averaged under this many microseconds (its pages are in memory), and on the thread pool
    /// otherwise; 0: always on the pool.
    public var quickReadMicroseconds = 250
    /// Memory for recently asked names, about (records and their bookkeeping).
    public var cacheOctets = 64 << 20
    /// Octets of answers kept as sent, for plain queries asked again (0: none kept).
    public var preparedAnswerOctets = 16 << 20
    /// Octets of history the journal keeps for IXFR; nil: a quarter of what the zone itself
    /// holds, at least 512 KiB. An IXFR from before the journal's start gets the whole zone.
    public var journalMaxOctets: Int?
    /// Seconds of history the journal keeps.
    public var journalMaxAge = 7 * 24 * 3600
    /// The longest lease (RFC 9664 UPDATE-LEASE) granted, in seconds; a longer one asked for is
    /// granted this long, and the answer says so.
    public var maxUpdateLease: UInt32 = 7 * 24 * 3600

    /// Serves `zones`, accepting `keys`; every other setting has its documented default.
    public init(zones: [DNSName], keys: [TSIGKey]) {
        self.zones = zones
        self.keys = keys
    }
}

/// How a request reached the server, which decides size limits and what it may ask.
public enum RequestTransport: Sendable {
    case udp
    case tcp
    /// In-process: the embedding program itself, trusted like a signed client.
    case local
}

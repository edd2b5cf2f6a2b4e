/// How fresh a read must be, chosen per store object (and per command on the command line). The
/// levels follow etcd's linearizable and serializable reads and MongoDB's read concerns; what each
/// guarantees and costs is in docs/CONSISTENCY.md.
public enum ReadConsistency: String, Sendable, CaseIterable, Codable {
    /// What the primary has now: records and index pages are read from the primary. Costs no
    /// query more than `any`; loads the primary instead of a read server.
    case latest
    /// Read-your-writes and monotonic reads for one store object: a read never returns a document
    /// older than one this store object wrote or read before, a document it deleted does not come
    /// back, and a listing holds what it created. Read servers answer; an answer that would break
    /// this is asked again of another read server, then of the primary. No query more than `any`
    /// while the read servers are current.
    case session
    /// Whatever the chosen read server has; may lag behind the primary (a caching resolver: by up
    /// to the TTLs of docs/FORMAT.md section 9).
    case any
}

/// Where one read goes.
enum ReadRoute: Sendable {
    /// The primary: what writes compare against, and `latest` reads.
    case primary
    /// Read servers as `consistency` allows; for session reads, `accepts` says whether an answer
    /// is one this store object may see, and a server whose answer is not is passed over.
    case reader(ReadConsistency, accepts: @Sendable (TXTLookup) -> Bool)

    static func reader(_ consistency: ReadConsistency) -> ReadRoute { .reader(consistency) { _ in true } }
}

/// One document write, alone or in a batch.
struct WriteOp: Sendable {
    enum Mode: Sendable {
        /// Create or replace.
        case put
        /// Create; fails if present.
        case insert
        /// Replace only at this version (compare-and-swap).
        case update(expected: Int)
        /// Delete, optionally only at this version.
        case delete(expected: Int?)
    }

    var database: String
    var collection: String
    /// The id; with `byStoredID`, the stored id.
    var id: String
    var mode: Mode

    /// What the write is called in a span: put, insert, update or delete.
    var operationName: String {
        switch mode {
        case .put: return "put"
        case .insert: return "insert"
        case .update: return "update"
        case .delete: return "delete"
        }
    }
    var body: [UInt8] = []
    /// A put that leaves a document already holding the same JSON as it is (an import run again).
    var skipIfUnchanged = false
    /// The body is known to be normalized JSON within the size limit already.
    var checked = false
    /// The lease the document is attached to once written (docs/FORMAT.md section 13); nil:
    /// none, so a write detaches a document from the lease it had.
    var lease: String?
    /// `id` is the stored id: a reaper, which may hold no key of a private collection, deletes
    /// records by what the lease record lists.
    var byStoredID = false
    /// The write's condition sees the record as stored even when its lease has lapsed (what a
    /// reaper deletes); otherwise a document whose lease lapsed is gone for conditions too.
    var physical = false

    var key: Session.DocumentKey { Session.DocumentKey(database: database, collection: collection, id: id) }
    var path: String { "\(database)/\(collection)/\(id)" }

    var isDelete: Bool {
        if case .delete = mode { return true }
        return false
    }
}

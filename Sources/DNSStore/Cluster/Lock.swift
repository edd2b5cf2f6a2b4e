import Foundation

/// A lock held on a lease (docs/FORMAT.md section 13): a document that exists while its holder's
/// lease lives. Its fencing token is the document's version, which only grows from one holder to
/// the next (versions of an id never repeat, section 7.1): pass it with every write the lock
/// guards, and have the guarded resource refuse a token lower than one it has seen. A lock alone
/// cannot stop a holder that paused past its lease (a stop of the world, a partition) from acting
/// on stale belief; the token lets the resource tell.
public struct LockHandle: Codable, Sendable, Hashable {
    /// The lock's name.
    public var name: String
    /// The fencing token: strictly greater than every earlier holder's.
    public var token: Int
    /// The lease that holds it.
    public var lease: String
}

extension DocumentStore {
    /// Where locks live: the documents of `_dnsstore/locks`, one per lock name.
    public static let lockDatabase = "_dnsstore"
    /// See `lockDatabase`.
    public static let lockCollection = "locks"

    /// Takes the lock `name` for `lease`; throws `.alreadyExists` while another lease holds it
    /// (a holder whose lease lapsed holds nothing). `holder` says who, for people reading it.
    public func lock(_ name: String, lease: Lease, holder: String? = nil) async throws -> LockHandle {
        let body = try DocumentJSON.encode(LockDocument(holder: holder ?? Self.defaultHolder, lease: lease.id))
        var op = WriteOp(database: Self.lockDatabase, collection: Self.lockCollection, id: name, mode: .insert, body: body)
        op.lease = lease.id
        try await ensureLockCollection()
        do {
            let token = try await execute([op], "taking lock '\(name)'")[0]
            return LockHandle(name: name, token: token, lease: lease.id)
        } catch let error as StoreError where error.code == .alreadyExists {
            throw StoreError.alreadyExists("lock '\(name)' is held", path: error.path)
        }
    }

    /// Takes the lock `name` for `lease`, waiting while another holds it, looking every `poll`.
    public func lock(_ name: String, lease: Lease, holder: String? = nil, waiting poll: Duration) async throws -> LockHandle {
        while true {
            do {
                return try await lock(name, lease: lease, holder: holder)
            } catch let error as StoreError where error.code == .alreadyExists || error.code == .conflict {
                try await Task.sleep(for: poll)
            }
        }
    }

    /// Gives the lock up, if `handle` still holds it (its token is still the lock's version).
    public func unlock(_ handle: LockHandle) async throws {
        let locks = database(Self.lockDatabase).collection(Self.lockCollection)
        do {
            try await locks.delete(handle.name, ifVersion: handle.token)
        } catch let error as StoreError where error.code == .notFound || error.code == .conflict {
            // Gone with its lease already, or taken by another since: nothing of ours to give up.
        }
    }

    /// Who holds the lock `name` now, or nil when nobody does.
    public func lockHolder(_ name: String) async throws -> (holder: String, handle: LockHandle)? {
        let locks = database(Self.lockDatabase).collection(Self.lockCollection)
        do {
            guard let document = try await locks.get(name), let lease = document.lease else { return nil }
            let held = try document.decode(LockDocument.self)
            return (held.holder, LockHandle(name: name, token: document.version, lease: lease))
        } catch let error as StoreError where error.code == .notFound {
            return nil
        }
    }

    private func ensureLockCollection() async throws {
        do {
            _ = try await collection(named: Self.lockCollection, in: Self.lockDatabase, forWriting: true)
        } catch let error as StoreError where error.code == .notFound {
            do {
                try await createDatabase(Self.lockDatabase)
            } catch let error as StoreError where error.code == .alreadyExists {}
            do {
                try await database(Self.lockDatabase).createCollection(Self.lockCollection)
            } catch let error as StoreError where error.code == .alreadyExists {}
        }
    }

    static var defaultHolder: String {
        "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
    }
}

/// A lock's document: who holds it and on which lease.
struct LockDocument: Codable {
    var holder: String
    var lease: String
}

import DNSWire

/// What one store object has written and read: per document the lowest version it may see again
/// (or that it deleted it), and per database and collection whether it exists. Session reads use
/// it to tell a read server that is behind; every read and write uses it as a high-water mark, to
/// tell a rollback (a document below a version seen) and never to write a version number again.
/// Bounded: the oldest knowledge goes first.
final class Session: Sendable {
    struct DocumentKey: Hashable, Sendable {
        var database: String
        var collection: String
        var id: String
    }

    enum Knowledge: Sendable, Equatable {
        /// Exists, at this version or later.
        case atLeast(Int)
        /// Deleted at this version; only a later version may be seen.
        case deleted(Int)

        /// The highest version seen, written or deleted.
        var version: Int {
            switch self {
            case .atLeast(let v), .deleted(let v): return v
            }
        }
    }

    private struct State {
        var documents: [DocumentKey: Knowledge] = [:]
        var order: [DocumentKey] = []
        var nodes: [[String]: Bool] = [:]
    }

    /// Documents remembered at most; 0: none.
    let capacity: Int
    private let state = Locked(State())

    init(capacity: Int = 100_000) {
        self.capacity = capacity
    }

    func knowledge(of key: DocumentKey) -> Knowledge? { state.withLock { $0.documents[key] } }


    /// Records a version seen or written; never lowers what was known.
    func saw(_ key: DocumentKey, version: Int) {
        update(key) { known in
            switch known {
            case .atLeast(let v)?: return .atLeast(max(v, version))
            case .deleted(let v)? where version <= v: return known!
            default: return .atLeast(version)
            }
        }
    }

    func deleted(_ key: DocumentKey, version: Int) {
        update(key) { _ in .deleted(version) }
    }

    private func update(_ key: DocumentKey, _ change: (Knowledge?) -> Knowledge) {
        guard capacity > 0 else { return }
        state.withLock { state in
            if state.documents[key] == nil {
                state.order.append(key)
                if state.order.count > capacity {
                    let dropped = state.order.prefix(capacity / 10)
                    for old in dropped { state.documents[old] = nil }
                    state.order.removeFirst(dropped.count)
                }
            }
            state.documents[key] = change(state.documents[key])
        }
    }

    /// Whether a document found at `version` (nil: not found) is one this session may see.
    func accepts(_ key: DocumentKey, version: Int?) -> Bool {
        switch knowledge(of: key) {
        case nil: return true
        case .atLeast(let v)?: return version.map { $0 >= v } ?? false
        case .deleted(let v)?: return version.map { $0 > v } ?? true
        }
    }

    /// Documents of a collection this session knows to exist: a listing must hold them.
    func existing(in database: String, _ collection: String) -> [String] {
        state.withLock { state in
            state.documents.compactMap { key, known in
                guard key.database == database, key.collection == collection, case .atLeast = known else { return nil }
                return key.id
            }
        }
    }

    /// Databases (path of one name) and collections (two names) created or dropped by this session.
    func node(_ path: [String], exists: Bool) { state.withLock { $0.nodes[path] = exists } }

    func nodeExists(_ path: [String]) -> Bool? { state.withLock { $0.nodes[path] } }
}

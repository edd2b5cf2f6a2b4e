import DNSStore
import DNSWire
import Foundation

/// What `dnsstore shell` keeps between requests: one store object (so its session consistency,
/// cached metadata, server health and connections), and the leases it keeps alive.
final class ShellSession: Sendable {
    let store: DocumentStore
    let options: StoreOptions
    /// Renewals started by `lease keepalive`, by lease id.
    private let keepers = Locked([String: Task<Void, any Error>]())
    /// Writes a line of output; answers and events never interleave within a line.
    let emit: @Sendable ([UInt8]) -> Void

    init(store: DocumentStore, options: StoreOptions, emit: @escaping @Sendable ([UInt8]) -> Void) {
        self.store = store
        self.options = options
        self.emit = emit
    }

    /// The answer to one line, as one line of JSON: `{"id": ..., "ok": true, "result": ...}` or
    /// `{"id": ..., "ok": false, "error": {"code", "exit", "message", "version"?}}`.
    func answer(_ line: [UInt8]) async -> [UInt8] {
        var tag: [UInt8]?
        do {
            let request = try ShellRequest(line: line)
            tag = request.tag
            let result = try await perform(request)
            return Self.envelope(tag, ok: true, "result", result)
        } catch {
            // A request that did not parse may still carry an id worth echoing.
            if tag == nil, line.first == UInt8(ascii: "{"), let members = try? JSONText.members(ofObject: line),
                let id = members.first(where: { $0.name == "id" })
            {
                tag = Array(line[id.value])
            }
            return Self.envelope(tag, ok: false, "error", Self.describe(error, options: options))
        }
    }

    /// Stops the renewals this session started (their leases then lapse in their own time).
    func close() {
        for keeper in keepers.withLock({ $0.values }) { keeper.cancel() }
    }

    private func perform(_ r: ShellRequest) async throws -> [UInt8] {
        switch r.op {
        case "get":
            let p = try StorePath(r.path!, needs: 3)
            guard let document = try await p.collection(in: store).get(p.id!) else { throw StoreError.notFound("document '\(r.path!)'") }
            return r.withVersion ? JSONLines.line(document) : document.json
        case "put", "insert", "update":
            let p = try StorePath(r.path!, needs: 3)
            let body = r.doc!
            // The write checks the lease itself; only its id matters here.
            let lease = r.lease.map { Lease(id: $0, ttl: 1) }
            let collection = try await store.collectionForWriting(p.database, p.collection!, documents: [(p.id!, body)])
            let version: Int
            switch r.op {
            case "put": version = try await collection.putJSON(p.id!, body, lease: lease)
            case "insert": version = try await collection.insertJSON(p.id!, body, lease: lease)
            default: version = try await collection.updateJSON(p.id!, body, ifVersion: r.ifVersion!, lease: lease)
            }
            return try Self.encode(Written(path: r.path!, version: version))
        case "delete":
            let p = try StorePath(r.path!, needs: 3)
            let version = try await p.collection(in: store).delete(p.id!, ifVersion: r.ifVersion)
            return try Self.encode(Deleted(deleted: r.path!, version: version))
        case "list":
            let p = try StorePath(r.path!, needs: 2)
            let ids = try await p.collection(in: store).ids(after: r.after, limit: r.limit ?? Int.max)
            return try Self.encode(ids)
        case "find":
            let p = try StorePath(r.path!, needs: 2)
            let filter = Filter.and(try r.conditions.map { try Filter(parsing: $0) })
            var rows: [[UInt8]] = []
            // Through an index when one covers a condition, as the find command does.
            for try await documents in p.collection(in: store).matching(filter) {
                for document in documents { rows.append(JSONLines.line(document)) }
            }
            return [UInt8(ascii: "[")] + Array(rows.joined(separator: [UInt8(ascii: ",")])) + [UInt8(ascii: "]")]
        case "db create":
            let p = try StorePath(r.path!, needs: 1)
            try await store.createDatabase(p.database, chunks: r.chunks)
            return try Self.encode(["created": p.database])
        case "db list":
            return try Self.encode(try await store.databases())
        case "db drop":
            let p = try StorePath(r.path!, needs: 1)
            try await store.dropDatabase(p.database)
            return try Self.encode(["dropped": p.database])
        case "collection create":
            let p = try StorePath(r.path!, needs: 2)
            do {
                try await store.database(p.database).createCollection(p.collection!, chunks: r.chunks, private: r.isPrivate)
            } catch let error as StoreError where error.code == .notFound {
                do { try await store.createDatabase(p.database) } catch let error as StoreError where error.code == .alreadyExists {}
                try await store.database(p.database).createCollection(p.collection!, chunks: r.chunks, private: r.isPrivate)
            }
            return try Self.encode(["created": r.path!])
        case "collection list":
            let p = try StorePath(r.path!, needs: 1)
            return try Self.encode(try await store.database(p.database).collections())
        case "collection drop":
            let p = try StorePath(r.path!, needs: 2)
            try await store.database(p.database).dropCollection(p.collection!)
            return try Self.encode(["dropped": r.path!])
        case "lease grant":
            return try Self.encode(try await store.grant(ttl: r.ttl!))
        case "lease renew":
            return try Self.encode(try await store.renew(r.lease!))
        case "lease keepalive":
            let status = try await store.renew(r.lease!)
            startKeepingAlive(Lease(id: r.lease!, ttl: status.ttl))
            return try Self.encode(status)
        case "lease revoke":
            keepers.withLock { $0.removeValue(forKey: r.lease!) }?.cancel()
            let deleted = try await store.revoke(r.lease!)
            return try Self.encode(LeaseCommand.Revoked(lease: r.lease!, deleted: deleted))
        case "lease show":
            return try Self.encode(try await store.leaseStatus(r.lease!))
        case "lock":
            try Naming.validate(r.path!)
            let lease = Lease(id: r.lease!, ttl: try await store.leaseStatus(r.lease!).ttl)
            let handle = try await store.lock(r.path!, lease: lease, holder: r.holder)
            return try Self.encode(LockCommand.Held(lock: r.path!, token: handle.token, lease: handle.lease))
        case "unlock":
            guard let (holder, handle) = try await store.lockHolder(r.path!) else { throw StoreError.notFound("lock '\(r.path!)' is not held") }
            guard handle.lease == r.lease else { throw StoreError.conflict("lock '\(r.path!)' is held by \(holder) on lease \(handle.lease)") }
            try await store.unlock(handle)
            return try Self.encode(LockCommand.Held(lock: r.path!, token: handle.token, lease: handle.lease))
        case "help":
            return try Self.encode(ShellRequest.operations.mapValues { $0 })
        case "quit":
            return Array("null".utf8)
        default:
            throw CLIError.invalidInput("unknown operation '\(r.op)'")
        }
    }

    /// Renews `lease` every third of its time to live for as long as the shell runs; if it is
    /// lost, says so in an event line `{"event": "lease lost", "lease": ID, "error": ...}`.
    private func startKeepingAlive(_ lease: Lease) {
        let store = self.store
        let emit = self.emit
        let options = self.options
        let keeper = Task<Void, any Error> {
            do {
                try await store.keepAlive(lease).value
            } catch is CancellationError {
            } catch {
                guard !Task.isCancelled else { return }
                let event = Array("{\"event\":\"lease lost\",\"lease\":".utf8) + JSONText.string(lease.id) + Array(",\"error\":".utf8)
                    + Self.describe(error, options: options) + [UInt8(ascii: "}")]
                emit(event)
            }
        }
        keepers.withLock { $0.updateValue(keeper, forKey: lease.id) }?.cancel()
    }

    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(value))
    }

    static func envelope(_ tag: [UInt8]?, ok: Bool, _ name: String, _ value: [UInt8]) -> [UInt8] {
        var line = Array("{".utf8)
        if let tag { line += Array("\"id\":".utf8) + tag + [UInt8(ascii: ",")] }
        line += Array("\"ok\":\(ok),\"\(name)\":".utf8) + value + [UInt8(ascii: "}")]
        return line
    }

    /// An error as JSON: the exit code the same failure gives a command, its name, the message,
    /// and for a conflict the version found when the store knows it.
    static func describe(_ error: any Error, options: StoreOptions?) -> [UInt8] {
        let failure = Failure(error, options: options) ?? Failure(exitCode: ExitCodes.failed, message: "\(error)")
        var out = Array("{\"code\":".utf8) + JSONText.string(ExitCodes.name(failure.exitCode))
        out += Array(",\"exit\":\(failure.exitCode),\"message\":".utf8) + JSONText.string(failure.message)
        if let found = (error as? StoreError)?.actualVersion { out += Array(",\"version\":\(found)".utf8) }
        return out + [UInt8(ascii: "}")]
    }
}

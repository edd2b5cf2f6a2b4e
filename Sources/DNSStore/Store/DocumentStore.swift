import DNSClient
import DNSWire
import Logging
import NIOCore

/// A document store in DNS TXT records (docs/FORMAT.md): databases hold collections, collections
/// hold JSON documents. Every write is an RFC 2136 UPDATE whose prerequisites make it a
/// compare-and-swap; every read is a plain TXT query.
public final class DocumentStore: Sendable {
    /// Where the store lives and how it writes.
    public let configuration: StoreConfiguration
    /// The primary: writes, and reads that must see what it has now.
    let transport: any StoreTransport
    /// Read servers (secondaries, other front ends, resolvers); nil: reads go to the primary.
    let replicas: ReplicaSet?
    /// What this store object wrote and read, for session reads.
    let session: Session
    let layout: StoreLayout
    private let cache = Locked(MetadataCache())
    /// Collections pinned private: the configuration's, those seen private, less those dropped here.
    private let pins: Locked<Set<String>>
    /// Whether `shutdown()` shuts the transports down: they were made for this store.
    let ownsTransports: Bool
    /// Set once `shutdown()` has run.
    let isShutDown = Locked(false)
    /// Index lists' pages as this store object last wrote or read them (`ListPageCache`).
    let listPages = ListPageCache()

    struct MetadataCache {
        var root: RootMetadata?
        var databases: [String: Node] = [:]
        var collections: [CollectionKey: Node] = [:]
    }

    struct CollectionKey: Hashable {
        var database: String
        var collection: String
    }

    /// A database or collection: where it lives and its metadata.
    struct Node: Sendable {
        var name: DNSName
        var metadata: NodeMetadata
        /// The chunk of the parent's index that lists it.
        var chunk: Int
        /// The record as read, for prerequisites.
        var rdata: RData
        /// When it was read or last found unchanged.
        var cachedAt = ContinuousClock.now
        /// A collection's codec (its secrets, when private); nil for a database.
        var codec: CollectionCodec?
    }

    /// A store whose reads and writes go to one server (`transport`), or whose reads go to
    /// `readServers` (by name, for messages) as `configuration.consistency` allows. With
    /// `ownsTransports`, ``shutdown()`` shuts them down too; otherwise they stay the caller's.
    public init(
        configuration: StoreConfiguration, transport: any StoreTransport,
        readServers: [(transport: any StoreTransport, name: String)] = [], ownsTransports: Bool = false
    ) throws {
        self.configuration = configuration
        self.ownsTransports = ownsTransports
        self.pins = Locked(configuration.privateCollections)
        self.transport = transport
        self.replicas = readServers.isEmpty
            ? nil : ReplicaSet(readServers.map { ReplicaSet.Server(transport: $0.transport, name: $0.name) }, shared: configuration.serverHealth)
        self.session = Session()
        do {
            self.layout = try StoreLayout(domain: configuration.domain)
        } catch {
            throw StoreError.invalidName("domain \(configuration.domain) is too long for _dnsstore under it")
        }
    }

    /// A store under `domain` on DNS servers reached over the network, writing with `key`.
    public convenience init(
        domain: DNSName, servers: [SocketAddress], key: TSIGKey?, zone: DNSName? = nil
    ) throws {
        let client = DNSClient(configuration: DNSClientConfiguration(servers: servers, key: key))
        try self.init(configuration: StoreConfiguration(domain: domain, zone: zone), transport: client, ownsTransports: true)
    }

    /// A store that writes to `primaries` (in order of preference, signed with `key`) and reads
    /// from `readServers` as `consistency` allows. Reads are not signed: read servers (secondaries,
    /// resolvers) need not know the key.
    public convenience init(
        domain: DNSName, primaries: [SocketAddress], readServers: [SocketAddress], key: TSIGKey?, zone: DNSName? = nil,
        consistency: ReadConsistency = .session, readTimeout: Duration = .milliseconds(700)
    ) throws {
        var config = StoreConfiguration(domain: domain, zone: zone)
        config.consistency = consistency
        let primary = DNSClient(configuration: DNSClientConfiguration(servers: primaries, key: key))
        let readers = readServers.map { (transport: Self.readClient([$0], timeout: readTimeout) as any StoreTransport, name: $0.display) }
        try self.init(configuration: config, transport: primary, readServers: readers, ownsTransports: true)
    }

    /// A client for one read server (at `addresses`, one or all of a host name's): unsigned, one
    /// try of `timeout` an address, so a silent server costs one timeout before the next is asked.
    static func readClient(_ addresses: [SocketAddress], timeout: Duration, names: [String] = []) -> DNSClient {
        var reader = DNSClientConfiguration(servers: addresses)
        reader.serverNames = names
        reader.timeout = timeout
        reader.attempts = addresses.count
        return DNSClient(configuration: reader)
    }

    /// The store root's name, `_dnsstore.<domain>`.
    public var rootName: DNSName { layout.root }

    /// Forgets cached metadata, so the next operation reads it again.
    public func invalidateCache() {
        cache.withLock { $0 = MetadataCache() }
        listPages.removeAll()
    }

    // MARK: Reading records

    /// The single TXT record at `name`, or nil when there is none, read where `route` says.
    func readRecord(_ name: DNSName, overTCP: Bool = false, route: ReadRoute = .primary) async throws -> RData? {
        let answer = try await lookup(name, overTCP: overTCP, route: route)
        guard answer.records.count <= 1 else {
            throw StoreError.corrupted("\(name) holds \(answer.records.count) TXT records; the format allows one")
        }
        return answer.records.first
    }

    /// A TXT lookup where `route` says: the primary, or read servers in order of preference, each
    /// answer checked by the route's test; the primary answers when no read server does.
    func lookup(_ name: DNSName, overTCP: Bool = false, route: ReadRoute) async throws -> TXTLookup {
        if case .reader(let consistency, let accepts) = route, consistency != .latest, let replicas {
            for i in replicas.order(for: consistency) {
                let start = ContinuousClock.now
                do {
                    let server = replicas.servers[i]
                    let answer = try await tracedExchange("dns.query", name: name, server: server.name) { span in
                        let answer = try await server.transport.lookup(name, overTCP: overTCP)
                        span.attributes["dns.answer.count"] = answer.records.count
                        return answer
                    }
                    replicas.answered(i, after: ContinuousClock.now - start)
                    if consistency == .any || accepts(answer) { return answer }
                    replicas.foundBehind(i)
                    configuration.logger.debug("read server behind; asking the next", metadata: ["server": "\(replicas.servers[i].name)", "name": "\(name)"])
                } catch {
                    replicas.failed(i)
                    configuration.logger.debug("read server failed; asking the next", metadata: ["server": "\(replicas.servers[i].name)", "error": "\(error)"])
                }
            }
        }
        do {
            return try await tracedExchange("dns.query", name: name, server: "primary") { span in
                let answer = try await transport.lookup(name, overTCP: overTCP)
                span.attributes["dns.answer.count"] = answer.records.count
                return answer
            }
        } catch {
            throw StoreError.from(error, "reading \(name)")
        }
    }

    func text(of rdata: RData, at name: DNSName) throws -> [UInt8] {
        guard case .txt(let txt) = rdata else { throw StoreError.corrupted("\(name) holds no TXT record") }
        return txt.joined
    }

    // MARK: Metadata

    /// Where to read a database or collection (path of one or two names; none: the store root):
    /// the primary for a write, else read servers, which must hold a node this session created.
    func nodeRoute(_ path: [String], forWriting: Bool) -> ReadRoute {
        if forWriting { return .primary }
        let created = session.nodeExists(path) == true
        return .reader(configuration.consistency) { answer in !created || !answer.records.isEmpty }
    }

    func root(forWriting: Bool = false) async throws -> RootMetadata {
        if let root = cache.withLock({ $0.root }) { return root }
        guard let rdata = try await readRecord(layout.root, route: nodeRoute([], forWriting: forWriting)) else {
            throw StoreError.notFound("no store at \(layout.root); create a database first")
        }
        let root = try MetadataJSON.decode(RootMetadata.self, try text(of: rdata, at: layout.root), name: layout.root)
        guard root.version == RootMetadata.formatVersion else {
            throw StoreError.corrupted("\(layout.root) has format version \(root.version); this version reads 1")
        }
        cache.withLock { $0.root = root }
        return root
    }

    /// Creates the store root if it does not exist. Safe to call any number of times.
    public func initialize() async throws {
        if (try? await root(forWriting: true)) != nil { return }
        let root = RootMetadata(version: RootMetadata.formatVersion, chunks: ChunkCount(total: configuration.rootChunks))
        var update = UpdateBuilder(zone: configuration.zone)
        update.require(.rrsetDoesNotExist(layout.root, .txt))
        update.add(.txt(layout.root, TXT(splitting: try MetadataJSON.encode(root)), ttl: configuration.metadataTTL))
        do {
            try await send(update, "creating the store root \(layout.root)")
        } catch let error as StoreError where error.code == .conflict {
            // Another writer created it first.
        } catch let error as StoreError where error.code == .outcomeUnknown {
            // Whoever created it, a root that is there now is what was asked for.
            guard (try? await self.root(forWriting: true)) != nil else { throw error }
        }
        session.node([], exists: true)
        _ = try await self.root(forWriting: true)
    }

    func database(named name: String, forWriting: Bool = false) async throws -> Node {
        if let node = cache.withLock({ $0.databases[name] }) { return node }
        let root = try await root(forWriting: forWriting)
        let node = try await readNode(
            name, path: name, total: root.chunks.total, under: layout.root, kind: "database", route: nodeRoute([name], forWriting: forWriting))
        cache.withLock { $0.databases[name] = node }
        return node
    }

    func collection(named name: String, in database: String, forWriting: Bool = false) async throws -> Node {
        let key = CollectionKey(database: database, collection: name)
        if let node = cache.withLock({ $0.collections[key] }) { return node }
        let db = try await self.database(named: database, forWriting: forWriting)
        var node = try await readNode(
            name, path: "\(database)/\(name)", total: db.metadata.chunks.total, under: db.name, kind: "collection",
            route: nodeRoute([database, name], forWriting: forWriting))
        let path = "\(database)/\(name)"
        if node.metadata.privacy != nil {
            pinsChanged(pins.withLock { $0.insert(path).inserted ? $0 : nil })
        } else if pins.withLock({ $0.contains(path) }) {
            throw StoreError.corrupted(
                "collection '\(path)' is private, but its metadata at \(node.name) no longer says so: it was altered, and this client will not read or write it in the clear",
                path: path)
        }
        node.codec = codec(for: node.metadata, in: database)
        cache.withLock { $0.collections[key] = node }
        return node
    }

    /// The collections (`database/collection`) this store object holds to be private: those of
    /// its configuration and those it has seen private, less those it dropped. A program that
    /// runs again (the command line keeps them in a state file) passes them back in
    /// ``StoreConfiguration/privateCollections``.
    public var privateCollections: Set<String> { pins.withLock { $0 } }

    /// Forgets that a collection this store object dropped was private.
    func unpin(_ path: String) {
        pinsChanged(pins.withLock { $0.remove(path) != nil ? $0 : nil })
    }

    /// Forgets that the collections of a database this store object dropped were private.
    func unpin(database: String) {
        pinsChanged(pins.withLock { pins in
            let kept = pins.filter { !$0.hasPrefix(database + "/") }
            defer { pins = kept }
            return kept.count != pins.count ? kept : nil
        })
    }

    private func pinsChanged(_ pins: Set<String>?) {
        if let pins { configuration.privateCollectionsChanged?(pins) }
    }

    private func readNode(_ name: String, path: String, total: Int, under parent: DNSName, kind: String, route: ReadRoute) async throws -> Node {
        let (nodeName, chunk) = try layout.child(name, total: total, of: parent)
        guard let rdata = try await readRecord(nodeName, route: route) else {
            throw StoreError.notFound("\(kind) '\(name)' does not exist", path: path)
        }
        let metadata = try MetadataJSON.decode(NodeMetadata.self, try text(of: rdata, at: nodeName), name: nodeName)
        guard metadata.name == name else {
            throw StoreError.corrupted("\(nodeName) belongs to \(kind) '\(metadata.name)', not '\(name)'")
        }
        return Node(name: nodeName, metadata: metadata, chunk: chunk, rdata: rdata)
    }

    /// Reads the collection's node again (from the primary) and, when it is not what is cached,
    /// forgets the cached one; returns whether it changed. Not more often than `recheckAfter`.
    func refreshCollection(_ name: String, in database: String) async throws -> Bool {
        let key = CollectionKey(database: database, collection: name)
        let due = cache.withLock { cache -> Node? in
            guard let node = cache.collections[key], ContinuousClock.now - node.cachedAt >= Self.recheckAfter else { return nil }
            return node
        }
        guard let cached = due else { return false }
        let current = try? await readRecord(cached.name, route: .primary)
        if current == cached.rdata {
            cache.withLock { $0.collections[key]?.cachedAt = .now }
            return false
        }
        forget(collection: name, in: database)
        return true
    }

    /// How long a cached collection is trusted before a miss makes the store look at it again.
    static let recheckAfter: Duration = .milliseconds(200)

    func forget(database: String) {
        cache.withLock { cache in
            cache.databases[database] = nil
            cache.collections = cache.collections.filter { $0.key.database != database }
        }
    }

    func forget(collection: String, in database: String) {
        _ = cache.withLock { $0.collections.removeValue(forKey: CollectionKey(database: database, collection: collection)) }
    }

    // MARK: Writing

    /// Sends an UPDATE; a failed prerequisite becomes `.conflict`, other failures their store error.
    func send(_ update: UpdateBuilder, _ context: String) async throws {
        do {
            try await tracedExchange("dns.update", name: nil, server: "primary") { span in
                span.attributes["dns.update.prerequisites"] = update.prerequisites.count
                span.attributes["dns.update.changes"] = update.operations.count
                try await transport.apply(update)
            }
        } catch {
            let mapped = StoreError.from(error, context, writing: true)
            if let unknown = mapped as? StoreError, unknown.code == .outcomeUnknown {
                configuration.logger.notice("a write's outcome is unknown", metadata: ["error": "\(unknown.detail)"])
            }
            throw mapped
        }
    }

    /// A short random pause that grows with the attempt, so racing writers spread out.
    func backoff(_ attempt: Int) async throws {
        let ceiling = min(50, 1 + attempt * 2)
        try await Task.sleep(for: .milliseconds(Int.random(in: 0...ceiling)))
    }

    /// Runs `body` with up to `limit` of the given items at once, results in input order.
    func concurrently<T: Sendable, R: Sendable>(
        _ items: [T], limit: Int? = nil, _ body: @escaping @Sendable (T) async throws -> R
    ) async throws -> [R] {
        let width = max(1, limit ?? configuration.readConcurrency)
        return try await withThrowingTaskGroup(of: (Int, R).self) { group in
            var results = [R?](repeating: nil, count: items.count)
            var next = 0
            while next < min(width, items.count) {
                let i = next
                group.addTask { (i, try await body(items[i])) }
                next += 1
            }
            while let (i, result) = try await group.next() {
                results[i] = result
                if next < items.count {
                    let j = next
                    group.addTask { (j, try await body(items[j])) }
                    next += 1
                }
            }
            return results.map { $0! }
        }
    }
}

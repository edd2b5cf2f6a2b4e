import DNSClient
import DNSWire
import NIOCore
import Synchronization

/// A document store in DNS TXT records (docs/FORMAT.md): databases hold collections, collections
/// hold JSON documents. Every write is an RFC 2136 UPDATE whose prerequisites make it a
/// compare-and-swap; every read is a plain TXT query.
public final class DNSStore: Sendable {
    public let configuration: StoreConfiguration
    let transport: any StoreTransport
    let layout: StoreLayout
    private let cache = Mutex(MetadataCache())

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
    }

    public init(configuration: StoreConfiguration, transport: any StoreTransport) throws {
        self.configuration = configuration
        self.transport = transport
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
        try self.init(configuration: StoreConfiguration(domain: domain, zone: zone), transport: client)
    }

    /// The store root's name, `_dnsstore.<domain>`.
    public var rootName: DNSName { layout.root }

    /// Forgets cached metadata, so the next operation reads it again.
    public func invalidateCache() {
        cache.withLock { $0 = MetadataCache() }
    }

    // MARK: Reading records

    /// The single TXT record at `name`, or nil when there is none.
    func readRecord(_ name: DNSName, overTCP: Bool = false) async throws -> RData? {
        let rdatas: [RData]
        do {
            rdatas = try await transport.txt(at: name, overTCP: overTCP)
        } catch {
            throw StoreError.from(error, "reading \(name)")
        }
        guard rdatas.count <= 1 else {
            throw StoreError.corrupted("\(name) holds \(rdatas.count) TXT records; the format allows one")
        }
        return rdatas.first
    }

    func text(of rdata: RData, at name: DNSName) throws -> [UInt8] {
        guard case .txt(let txt) = rdata else { throw StoreError.corrupted("\(name) holds no TXT record") }
        return txt.joined
    }

    // MARK: Metadata

    func root() async throws -> RootMetadata {
        if let root = cache.withLock({ $0.root }) { return root }
        guard let rdata = try await readRecord(layout.root) else {
            throw StoreError.notFound("no store at \(layout.root); create a database first or run init")
        }
        let root = try MetadataJSON.decode(RootMetadata.self, try text(of: rdata, at: layout.root), name: layout.root)
        guard root.version == RootMetadata.formatVersion else {
            throw StoreError.corrupted("\(layout.root) has format version \(root.version); this version reads 1")
        }
        guard root.chunks.total > 0 else { throw StoreError.corrupted("\(layout.root) has no chunks") }
        cache.withLock { $0.root = root }
        return root
    }

    /// Creates the store root if it does not exist. Safe to call any number of times.
    public func initialize() async throws {
        if (try? await root()) != nil { return }
        let root = RootMetadata(version: RootMetadata.formatVersion, chunks: ChunkCount(total: configuration.rootChunks))
        var update = UpdateBuilder(zone: configuration.zone)
        update.require(.rrsetDoesNotExist(layout.root, .txt))
        update.add(.txt(layout.root, TXT(splitting: try MetadataJSON.encode(root)), ttl: configuration.metadataTTL))
        do {
            try await send(update, "creating the store root \(layout.root)")
        } catch StoreError.conflict {
            // Another writer created it first.
        }
        _ = try await self.root()
    }

    func database(named name: String) async throws -> Node {
        if let node = cache.withLock({ $0.databases[name] }) { return node }
        let root = try await root()
        let node = try await readNode(name, total: root.chunks.total, under: layout.root, kind: "database")
        cache.withLock { $0.databases[name] = node }
        return node
    }

    func collection(named name: String, in database: String) async throws -> Node {
        let key = CollectionKey(database: database, collection: name)
        if let node = cache.withLock({ $0.collections[key] }) { return node }
        let db = try await self.database(named: database)
        let node = try await readNode(name, total: db.metadata.chunks.total, under: db.name, kind: "collection")
        cache.withLock { $0.collections[key] = node }
        return node
    }

    private func readNode(_ name: String, total: Int, under parent: DNSName, kind: String) async throws -> Node {
        let (nodeName, chunk) = try layout.child(name, total: total, of: parent)
        guard let rdata = try await readRecord(nodeName) else {
            throw StoreError.notFound("\(kind) '\(name)' does not exist")
        }
        let metadata = try MetadataJSON.decode(NodeMetadata.self, try text(of: rdata, at: nodeName), name: nodeName)
        guard metadata.name == name else {
            throw StoreError.corrupted("\(nodeName) belongs to \(kind) '\(metadata.name)', not '\(name)'")
        }
        guard metadata.chunks.total > 0 else { throw StoreError.corrupted("\(nodeName) has no chunks") }
        return Node(name: nodeName, metadata: metadata, chunk: chunk, rdata: rdata)
    }

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
            try await transport.apply(update)
        } catch let error as DNSError {
            switch error {
            case .nxRRSet, .yxRRSet, .nxDomain, .yxDomain: throw StoreError.conflict(context)
            default: throw StoreError.from(error, context)
            }
        } catch {
            throw StoreError.from(error, context)
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

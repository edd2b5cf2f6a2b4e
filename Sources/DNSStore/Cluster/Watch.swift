import DNSClient
import DNSWire
import Foundation

/// One change seen by a watch (docs/CONSISTENCY.md, "Watch").
public struct ChangeEvent: Sendable, Equatable {
    /// What happened to the document.
    public enum Operation: String, Sendable, Codable {
        /// Created or replaced; deleted.
        case put, delete
        /// The watch could not follow the changes one by one (the server's journal no longer
        /// reaches back to where it was): forget what you knew of the collection; every document
        /// it holds now follows as a put.
        case resync
    }

    /// What happened.
    public var operation: Operation
    /// The database of the document.
    public var database: String
    /// The collection of the document.
    public var collection: String
    /// Empty for a resync.
    public var id: String
    /// The document's version after a put, the version deleted for a delete.
    public var version: Int
    /// The zone serial the change is part of: resume a watch from it to see what came after.
    public var serial: UInt32
    /// The document after a put, when asked for and still readable.
    public var document: Document?
    /// Why a document was deleted, when it went with its lease (docs/FORMAT.md section 13).
    public var reason: DeleteReason?

    /// Why a delete happened, when not by a write of its own.
    public enum DeleteReason: String, Sendable, Codable {
        /// Its lease lapsed and was reaped.
        case expired
        /// Its lease was revoked.
        case revoked
    }

    /// `database/collection/id`, or `database/collection` for a resync.
    public var path: String { id.isEmpty ? "\(database)/\(collection)" : "\(database)/\(collection)/\(id)" }
}

/// How a watch runs.
public struct WatchOptions: Sendable {
    /// Report changes after this zone serial; nil: from now on.
    public var from: UInt32?
    /// How often the server's serial is looked at when no NOTIFY wakes the watch first.
    public var interval: Duration = .seconds(1)
    /// Whether puts carry the document.
    public var includeDocuments = true
    /// The server to follow; nil: the store's first read server, or its primary. Give it a key to
    /// let the watch transfer changes (IXFR); without transfers it reads the collection again.
    public var server: (any StoreTransport)?
    /// Wakes the watch at once when it receives a NOTIFY for the zone.
    public var notifications: NotifyListener?
    /// Called once the watch is ready, with the serial it reports changes after: every change
    /// made from then on is reported.
    public var started: (@Sendable (UInt32) -> Void)?

    /// From now on, looking every second, with documents.
    public init() {}
}

extension DocumentCollection {
    /// The changes of this collection, in order, as long as the stream is consumed.
    public func watch(_ options: WatchOptions = WatchOptions()) -> AsyncThrowingStream<ChangeEvent, any Error> {
        Watcher(collection: self, id: nil, options: options).stream()
    }

    /// The changes of one document.
    public func watch(_ id: String, _ options: WatchOptions = WatchOptions()) -> AsyncThrowingStream<ChangeEvent, any Error> {
        Watcher(collection: self, id: id, options: options).stream()
    }
}

/// Follows a collection's changes: by IXFR from the serial last seen where the server transfers
/// to us, else by reading the collection again whenever the serial moves.
final class Watcher: @unchecked Sendable {
    let collection: DocumentCollection
    let id: String?
    let options: WatchOptions
    let source: any StoreTransport
    /// A store that reads only from the source, for what transfers do not carry.
    let reader: DocumentStore
    private var serial: UInt32 = 0
    /// What the watch knows the collection holds (id to version), when it knows it.
    private var known: [String: Int]?
    /// The leases of the documents it knows, to say why one that is gone went.
    private var knownLeases: [String: String] = [:]
    /// Data chunk texts seen in transfers, for the documents that refer to them.
    private var chunks: [DNSName: [UInt8]] = [:]
    private var chunkOctets = 0

    init(collection: DocumentCollection, id: String?, options: WatchOptions) {
        self.collection = collection
        self.id = id
        self.options = options
        let store = collection.store
        source = options.server ?? store.replicas?.servers.first?.transport ?? store.transport
        reader = (try? DocumentStore(configuration: store.configuration, transport: source)) ?? store
    }

    func stream() -> AsyncThrowingStream<ChangeEvent, any Error> {
        producing { continuation in try await self.run { continuation.yield($0) } }
    }

    private var zone: DNSName { collection.store.configuration.zone }

    private func run(_ emit: (ChangeEvent) -> Void) async throws {
        let now = try await currentSerial()
        serial = options.from ?? now
        // Whether the server transfers to us: an IXFR from its own serial is a lone SOA.
        var transfers = try await changes(since: now) != nil
        if !transfers, options.from == nil {
            // The starting point, reported as nothing. A change landing while it is read shows
            // in it or after it, never in neither: the serial was read first.
            let initial = try await state().state
            known = initial.mapValues(\.version)
            knownLeases = initial.compactMapValues(\.record.header.lease)
        }
        options.started?(serial)
        if !transfers, options.from != nil {
            try await reread(at: now, emit)  // the changes since then cannot be known: a resync
        }
        var failingSince: ContinuousClock.Instant?
        while !Task.isCancelled {
            do {
                let current = try await currentSerial()
                if current != serial {
                    if transfers, let transfer = try await changes(since: serial) {
                        try await follow(transfer, emit)
                    } else {
                        transfers = false
                        try await reread(at: current, emit)
                    }
                }
                failingSince = nil
            } catch let error where !(error is CancellationError) {
                // A server that stops answering for a while is waited for; one that stays away ends the watch.
                let since = failingSince ?? .now
                if since.duration(to: .now) > Self.patience { throw error }
                failingSince = since
            }
            if let notifications = options.notifications {
                await notifications.wait(for: zone, upTo: options.interval)
            } else {
                try await Task.sleep(for: options.interval)
            }
        }
    }

    /// How long a watch waits for a source that fails before it ends with the error.
    static let patience: Duration = .seconds(30)

    /// The changes since `serial`, or nil when the server refuses us transfers.
    private func changes(since serial: UInt32) async throws -> ZoneTransfer? {
        do {
            return try await source.changes(of: zone, since: serial)
        } catch {
            throw StoreError.from(error, "transferring the changes of \(zone) since serial \(serial)")
        }
    }

    private func currentSerial() async throws -> UInt32 {
        do {
            return try await source.serial(of: zone)
        } catch {
            throw StoreError.from(error, "reading the serial of \(zone)")
        }
    }

    // MARK: Transfers

    /// Reports an IXFR's steps, or when the server sent the whole zone, what differs from what
    /// the watch knew (or a resync when it knew nothing).
    private func follow(_ transfer: ZoneTransfer, _ emit: (ChangeEvent) -> Void) async throws {
        let records = transfer.records
        guard let last = transfer.serial else { return }
        let collectionNode = try await collection.store.collection(named: collection.name, in: collection.database)
        let node = collectionNode.name
        let codec = try collection.store.codec(of: collectionNode, in: collection.database)
        if records.count == 1 {
            serial = last
            return
        }
        guard transfer.isIncremental else {
            var state: [String: (version: Int, record: StoredRecord, name: DNSName)] = [:]
            for record in records where record.type == .txt {
                remember(record)
                if let (id, stored) = documentRecord(record, under: node, codec) { state[id] = (stored.header.version, stored, record.name) }
            }
            try await resync(to: state, serial: last, codec, emit)
            return
        }
        var i = 1
        while i < records.count - 1 {
            guard case .soa = records[i].rdata else { return }
            i += 1
            var deleted: [ResourceRecord] = []
            while i < records.count, records[i].type != .soa {
                deleted.append(records[i])
                i += 1
            }
            guard i < records.count, case .soa(let to) = records[i].rdata else { return }
            i += 1
            var added: [ResourceRecord] = []
            while i < records.count - 1, records[i].type != .soa {
                added.append(records[i])
                i += 1
            }
            for record in added where record.type == .txt { remember(record) }
            let puts = added.compactMap { record in documentRecord(record, under: node, codec).map { ($0.0, $0.1, record.name) } }
            let putNames = Set(puts.map(\.2))
            let endedLeases = endedLeases(in: deleted)
            for record in deleted where record.type == .txt && !putNames.contains(record.name) {
                guard let (id, stored) = documentRecord(record, under: node, codec) else { continue }
                known?[id] = nil
                var deletion = event(.delete, id: id, version: stored.header.version, serial: to.serial, document: nil)
                deletion.reason = stored.header.lease.flatMap { endedLeases[$0] }
                emit(deletion)
            }
            for (id, stored, name) in puts {
                known?[id] = stored.header.version
                emit(event(.put, id: id, version: stored.header.version, serial: to.serial, document: try await document(stored, id: id, at: name, codec)))
            }
            serial = to.serial
        }
        serial = last
    }

    /// The document a TXT record of a transfer holds, when it is one of the watched collection:
    /// its id (unsealed in a private collection) and the record.
    private func documentRecord(_ record: ResourceRecord, under node: DNSName, _ codec: CollectionCodec) -> (String, StoredRecord)? {
        guard record.type == .txt, record.name.labelCount == node.labelCount + 2, record.name.parent.parent == node,
            let stored = try? RecordText.parse(record.rdata, name: record.name, tolerateNewer: true),
            let realID = try? codec.realID(stored.header.id)
        else { return nil }
        if let id, realID != id { return nil }
        return (realID, stored)
    }

    /// Keeps a data chunk's text seen in a transfer (bounded), for the record that refers to it.
    private func remember(_ record: ResourceRecord) {
        guard let label = record.name.labels.first, DataChunkLabel.matches(label), case .txt(let txt) = record.rdata else { return }
        if chunkOctets > 64 << 20 {
            chunks = [:]
            chunkOctets = 0
        }
        chunks[record.name] = txt.joined
        chunkOctets += txt.wireLength
    }

    /// The document a record holds: its body, or its chunks from transfers or from the server.
    private func document(_ stored: StoredRecord, id: String, at name: DNSName, _ codec: CollectionCodec) async throws -> Document? {
        guard options.includeDocuments else { return nil }
        let header = stored.header
        guard let count = header.chunkCount, let generation = header.generation else {
            guard stored.body.count == header.storedLength, RecordText.digest(stored.body) == header.digest else { return nil }
            return Document(id: id, version: header.version, json: try codec.decode(stored.body, header: header, id: id, at: name))
        }
        var body: [UInt8] = []
        for p in 0..<count {
            let chunk = try collection.store.layout.dataChunk(p, generation: generation, of: name)
            if let text = chunks[chunk] {
                body += text
            } else if let rdata = try await reader.readRecord(chunk, overTCP: true), case .txt(let txt) = rdata {
                body += txt.joined
            } else {
                return nil  // replaced since: a later put carries the document
            }
        }
        guard body.count == header.storedLength, RecordText.digest(body) == header.digest else { return nil }
        return Document(id: id, version: header.version, json: try codec.decode(body, header: header, id: id, at: name))
    }

    /// The leases whose records a step deleted, and whether each had lapsed (expired) or not
    /// (revoked), by this client's clock.
    private func endedLeases(in deleted: [ResourceRecord]) -> [String: ChangeEvent.DeleteReason] {
        let leaseIndex = collection.store.layout.leaseIndex
        let now = collection.store.configuration.clock()
        var ended: [String: ChangeEvent.DeleteReason] = [:]
        for record in deleted where record.type == .txt && record.name.labelCount == leaseIndex.labelCount + 2 && record.name.parent.parent == leaseIndex {
            guard case .txt(let txt) = record.rdata, let lease = try? MetadataJSON.decode(LeaseRecord.self, txt.joined, name: record.name) else { continue }
            ended[lease.id] = lease.isLive(at: now) ? .revoked : .expired
        }
        return ended
    }

    private func event(_ operation: ChangeEvent.Operation, id: String, version: Int, serial: UInt32, document: Document?) -> ChangeEvent {
        ChangeEvent(
            operation: operation, database: collection.database, collection: collection.name, id: id, version: version,
            serial: serial, document: document)
    }

    // MARK: Without transfers

    /// The watched documents as the source has them now.
    private func state() async throws -> (state: [String: (version: Int, record: StoredRecord, name: DNSName)], codec: CollectionCodec?) {
        reader.invalidateCache()
        let node: DocumentStore.Node
        do {
            node = try await reader.collection(named: collection.name, in: collection.database)
        } catch let error as StoreError where error.code == .notFound {
            return ([:], nil)
        }
        let codec = try reader.codec(of: node, in: collection.database)
        let view = reader.database(collection.database).collection(collection.name)
        let ids: [String]
        if let id { ids = [id] } else { ids = try await view.ids() }
        var state: [String: (version: Int, record: StoredRecord, name: DNSName)] = [:]
        for id in ids {
            let storedID = try codec.storedID(id)
            let (name, _) = try reader.layout.child(storedID, total: node.metadata.chunks.total, of: node.name)
            if let stored = try await reader.readStoredRecord(name, id: storedID) { state[id] = (stored.header.version, stored, name) }
        }
        return (state, codec)
    }

    /// Reads the watched documents as the source has them now and reports what differs.
    private func reread(at serial: UInt32, _ emit: (ChangeEvent) -> Void) async throws {
        let (state, codec) = try await state()
        try await resync(to: state, serial: serial, codec, emit)
    }

    /// Reports the difference between what the watch knew and `state`, or, when it knew nothing,
    /// a resync followed by every document.
    private func resync(
        to state: [String: (version: Int, record: StoredRecord, name: DNSName)], serial: UInt32, _ codec: CollectionCodec?,
        _ emit: (ChangeEvent) -> Void
    ) async throws {
        let previous: [String: Int]
        if let known {
            previous = known
        } else {
            emit(event(.resync, id: "", version: 0, serial: serial, document: nil))
            previous = [:]
        }
        let leases = LeaseLiveness(reader, route: .primary)
        for (id, version) in previous.sorted(by: { $0.key < $1.key }) where state[id] == nil {
            var deletion = event(.delete, id: id, version: version, serial: serial, document: nil)
            if let lease = knownLeases[id], !(try await leases.isLive(lease)) { deletion.reason = .expired }
            emit(deletion)
        }
        for (id, entry) in state.sorted(by: { $0.key < $1.key }) where previous[id] != entry.version {
            var document: Document?
            if let codec { document = try await self.document(entry.record, id: id, at: entry.name, codec) }
            emit(event(.put, id: id, version: entry.version, serial: serial, document: document))
        }
        known = state.mapValues(\.version)
        knownLeases = state.compactMapValues(\.record.header.lease)
        self.serial = serial
    }
}

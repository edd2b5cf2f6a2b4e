import DNSWire

extension DocumentStore {
    /// Checks the whole store against docs/FORMAT.md by reading every name of the zone (a zone
    /// transfer). With `repair`, it mends what can be made whole: adds index entries for whole
    /// documents no index lists, removes entries without records, lays out oversize index pages
    /// again, deletes dangling chunks and stray names. Damaged documents are never re-linked;
    /// `damaged` says whether a repair keeps, deletes or quarantines them.
    public func check(repair: Bool, damaged: DamagedDocumentAction = .keep) async throws -> CheckReport {
        var report = CheckReport()
        // The zone is read as it arrives into partitions by document (see SpilledTexts); a
        // document's record is at `root` plus six labels.
        let root = layout.root
        var spilled = SpilledTexts(depth: root.labelCount + 6)
        defer { spilled.remove() }
        // Names under a collection's `_ix` (section 14) are checked apart, against the documents.
        var indexTexts: [DNSName: RData] = [:]
        do {
            try await transport.zoneRecords(configuration.zone) { record in
                guard record.type == .txt && record.name.isSubdomain(of: root) else { return }
                if IndexCheck.isUnderIndexes(record.name, root: root) {
                    indexTexts[record.name] = record.rdata
                } else {
                    try spilled.insert(record.name, record.rdata)
                }
            }
        } catch {
            throw StoreError.from(error, "reading the zone \(configuration.zone) (the key must allow transfers)")
        }
        guard spilled.top[layout.root] != nil else { throw StoreError.notFound("no store at \(layout.root)") }
        invalidateCache()
        spilled.account(layout.root)
        var scan = Scan()
        let removesDamaged: Bool
        if case .keep = damaged { removesDamaged = false } else { removesDamaged = repair }

        // Leases (section 13): the lease index, each lease's record; documents check theirs below.
        for chunk in 0..<LeaseRecord.indexChunks {
            let key = IndexEdits.ChunkKey(node: layout.leaseIndex, chunk: chunk, level: .lease)
            let pages = try await loadIndexChunk(chunk, of: layout.leaseIndex, level: .lease)
            try scan.account(pages, chunk: key, in: &spilled, repair: repair, into: &report)
            for id in pages.flatMap(\.page.entries.keys).sorted() {
                let (name, home) = try layout.lease(id)
                guard home == chunk, let rdata = spilled.top[name] else {
                    report.problems.append(.init(kind: .leaseWithoutRecord, name: "lease \(id)", detail: "\(name) is missing", repaired: repair))
                    scan.staleLeaseEntries.append((chunk, id))
                    continue
                }
                spilled.account(name)
                if (try? MetadataJSON.decode(LeaseRecord.self, try text(of: rdata, at: name), name: name))?.id == id { scan.leases.insert(id) }
            }
        }

        // The indexes, read by queries: pages accounted for, entries put with their records.
        let rootMetadata = try await self.root(forWriting: true)
        for chunk in 0..<rootMetadata.chunks.total {
            try scan.account(try await loadIndexChunk(chunk, of: layout.root, level: .database), chunk: .init(node: layout.root, chunk: chunk, level: .database), in: &spilled, repair: repair, into: &report)
        }
        for database in try await readIndex(of: layout.root, total: rootMetadata.chunks.total, level: .database, route: .primary).keys.sorted() {
            report.databases += 1
            let db = try await self.database(named: database, forWriting: true)
            spilled.account(db.name)
            for chunk in 0..<db.metadata.chunks.total {
                try scan.account(try await loadIndexChunk(chunk, of: db.name, level: .collection), chunk: .init(node: db.name, chunk: chunk, level: .collection), in: &spilled, repair: repair, into: &report)
            }
            for collection in try await readIndex(of: db.name, total: db.metadata.chunks.total, level: .collection, route: .primary).keys.sorted() {
                report.collections += 1
                let node = try await self.collection(named: collection, in: database, forWriting: true)
                spilled.account(node.name)
                scan.collections[node.name] = scan.nodes.count
                scan.nodes.append((node.name, database, collection, node.metadata.chunks.total, node.codec ?? codec(for: node.metadata, in: database)))
                if let indexes = node.metadata.indexes, !indexes.isEmpty {
                    do {
                        let sealing = try scan.nodes.last!.codec.sealed()
                        scan.indexes.collections[node.name] = (path: "\(database)/\(collection)", indexes: indexes, sealing: sealing)
                    } catch {
                        scan.indexes.unchecked.insert(node.name)
                    }
                }
                for chunk in 0..<node.metadata.chunks.total {
                    // A few pages at a time: a chunk of a large collection holds many.
                    let key = IndexEdits.ChunkKey(node: node.name, chunk: chunk, level: .record)
                    let first = try await loadPage(0, chunk: chunk, of: node.name, level: .record, route: .primary)
                    for start in stride(from: 0, to: max(1, first.page.pages), by: 8) {
                        let numbers = Array(start..<min(start + 8, max(1, first.page.pages)))
                        let pages = try await concurrently(numbers) { page in
                            page == 0 ? first : try await self.loadPage(page, chunk: chunk, of: node.name, level: .record, route: .primary)
                        }
                        try scan.account(pages, chunk: key, in: &spilled, repair: repair, into: &report)
                        for id in pages.flatMap(\.page.entries.keys) {
                            let (name, home) = try layout.child(id, total: node.metadata.chunks.total, of: node.name)
                            guard home == chunk else {
                                report.problems.append(.init(kind: .misplacedEntry, name: "\(database)/\(collection)/\(id)", detail: "listed in chunk \(chunk), belongs in \(home)", repaired: repair))
                                scan.staleEntries.append((node.name, chunk, id))
                                continue
                            }
                            try spilled.insert(SpilledTexts.Entry(node: scan.nodes.count - 1, chunk: chunk, id: id, name: name))
                        }
                    }
                }
            }
        }
        // Each partition in turn: its entries against its records, then the names nothing
        // accounted for (records missing from their index, dangling chunks, strays); the names
        // above the records last.
        var strays: [DNSName] = []
        var leftovers: [(name: DNSName, problem: CheckReport.Problem)] = []
        for index in 0...SpilledTexts.partitions {
            let entries: [SpilledTexts.Entry]
            scan.chunks = [:]
            if index < SpilledTexts.partitions {
                (scan.txt, entries) = try spilled.take(index)
            } else {
                (scan.txt, entries) = (spilled.top, [])
            }
            for entry in entries {
                let owner = scan.nodes[entry.node]
                let path = "\(owner.database)/\(owner.collection)/\(entry.id)"
                guard scan.txt[entry.name] != nil else {
                    report.problems.append(.init(kind: .entryWithoutRecord, name: path, detail: "\(entry.name) is missing", repaired: repair))
                    scan.staleEntries.append((owner.name, entry.chunk, entry.id))
                    continue
                }
                report.documents += 1
                scan.lastDocument = nil
                defer {
                    if let json = scan.lastDocument { scan.indexes.expect(json, storedID: entry.id, in: owner.name, layout: layout) }
                }
                if let damage = scan.inspect(entry.name, id: entry.id, codec: owner.codec) {
                    report.problems.append(.init(kind: .damagedDocument, name: path, detail: "\(entry.name): \(damage)", repaired: removesDamaged))
                    scan.keepDamaged(path, entry.name, owner.name, entry.chunk, entry.id, keepTexts: removesDamaged)
                } else if let lease = scan.missingLease(of: entry.name) {
                    report.problems.append(.init(
                        kind: .documentOfMissingLease, name: path, detail: "\(entry.name) is attached to lease \(lease), which does not exist", repaired: repair))
                    scan.orphans.append((entry.name, owner.name, entry.chunk, entry.id))
                }
            }
            var found: [DNSName] = []
            // Sorted, a record comes before its data chunks, which inspecting it accounts for.
            for name in scan.txt.unaccounted() where !scan.txt.isAccounted(name) {
                let parent = name.parent
                if let number = scan.collections[parent.parent], let label = name.labels.first, !DataChunkLabel.matches(label) {
                    let owner = scan.nodes[number]
                    let record = scan.txt[name].flatMap { try? RecordText.parse($0, name: name, tolerateNewer: true) }
                    let id = record?.header.id
                    let chunk = id.map { Naming.chunk(for: $0, total: owner.total) }
                    let path = "\(owner.database)/\(owner.collection)/\(id ?? "?")"
                    if let id, let chunk, (try? layout.child(id, total: owner.total, of: parent.parent).name) == name {
                        report.documents += 1
                        if let damage = scan.inspect(name, id: id, codec: owner.codec) {
                            leftovers.append((name, .init(kind: .damagedDocument, name: path, detail: "\(name): \(damage); no index lists it", repaired: removesDamaged)))
                            scan.keepDamaged(path, name, parent.parent, chunk, id, keepTexts: removesDamaged)
                        } else {
                            leftovers.append((name, .init(kind: .recordWithoutEntry, name: path, detail: "\(name)", repaired: repair)))
                            scan.missingEntries.append((parent.parent, chunk, id))
                        }
                        continue
                    }
                    if record == nil {
                        _ = scan.inspect(name, id: nil, codec: owner.codec)
                        leftovers.append((name, .init(kind: .damagedDocument, name: "\(owner.database)/\(owner.collection)/?", detail: "\(name): its header does not parse", repaired: removesDamaged)))
                        scan.keepDamaged("\(owner.database)/\(owner.collection)/\(name.labels.first.map { String(decoding: $0, as: UTF8.self) } ?? "?")", name, parent.parent, nil, nil, keepTexts: removesDamaged)
                        continue
                    }
                }
                if scan.txt.isAccounted(parent), let label = name.labels.first, DataChunkLabel.matches(label) {
                    leftovers.append((name, .init(kind: .danglingChunk, name: "\(name)", detail: "no record refers to it", repaired: repair)))
                } else {
                    leftovers.append((name, .init(kind: .strayName, name: "\(name)", detail: "nothing in the store refers to it", repaired: repair)))
                }
                found.append(name)
            }
            strays += found.filter { !scan.txt.isAccounted($0) }
        }
        report.problems += leftovers.sorted { $0.name < $1.name }.map(\.problem)
        let indexRepairs = try scan.indexes.compare(indexTexts, layout: layout, repair: repair, into: &report)
        guard repair else { return report }
        for change in indexRepairs.changes {
            try await editIndex { edits in
                if change.adding {
                    edits.add(change.storedID, .unleased, chunk: change.chunk.chunk, of: change.chunk.node, level: .record)
                } else {
                    edits.remove(change.storedID, chunk: change.chunk.chunk, of: change.chunk.node, level: .record)
                }
            }
        }
        await deleteNames(indexRepairs.strays)
        for (node, chunk, id) in scan.missingEntries {
            try await editIndex { $0.add(id, .unleased, chunk: chunk, of: node, level: .record) }
        }
        for (node, chunk, id) in scan.staleEntries {
            try await editIndex { $0.remove(id, chunk: chunk, of: node, level: .record) }
        }
        for key in scan.oversize {
            try await editIndex { $0.relayouts.insert(key) }
        }
        for (chunk, id) in scan.staleLeaseEntries {
            try await editIndex { $0.remove(id, chunk: chunk, of: layout.leaseIndex, level: .lease) }
        }
        for orphan in scan.orphans {
            guard let rdata = try await readRecord(orphan.name) else { continue }
            let record = try RecordText.parse(rdata, name: orphan.name, tolerateNewer: true)
            try await removeDamaged(
                orphan.name, rdata: rdata, chunks: try dataChunkNames(of: record, at: orphan.name), node: orphan.node, chunk: orphan.chunk, id: orphan.id)
        }
        if removesDamaged {
            for found in scan.damaged {
                if case .quarantine(let save) = damaged {
                    let texts = found.texts.compactMap { n, rdata in (try? text(of: rdata, at: n)).map { (n, $0) } }
                    try save(found.path, texts)
                }
                guard let rdata = found.texts.first(where: { $0.name == found.name })?.rdata else { continue }
                try await removeDamaged(
                    found.name, rdata: rdata, chunks: found.texts.map(\.name).filter { $0 != found.name }, node: found.node, chunk: found.chunk, id: found.id)
            }
        }
        await deleteNames(strays)
        return report
    }

    /// Deletes a damaged record, its data chunks and its index entry in one UPDATE, raising its
    /// chunk's floor past its version so the id's versions still never repeat.
    private func removeDamaged(
        _ name: DNSName, rdata: RData, chunks: [DNSName], node: DNSName, chunk: Int?, id: String?
    ) async throws {
        let version = (try? RecordText.parse(rdata, name: name))?.header.version
        for attempt in 0..<configuration.maxAttempts {
            if attempt > 0 { try await backoff(attempt) }
            var update = UpdateBuilder(zone: configuration.zone)
            update.require(.rrsetEquals(name, .txt, [rdata]))
            for n in [name] + chunks { update.apply(.deleteName(n)) }
            if let chunk, let id {
                let key = IndexEdits.ChunkKey(node: node, chunk: chunk, level: .record)
                var plans = try await loadPlans([key])
                plans[key]!.remove(id)
                if let version { plans[key]!.raiseFloor(to: version) }
                try write(plans, into: &update)
            }
            do {
                try await send(update, "removing the damaged record \(name)")
                return
            } catch let error as StoreError where error.code == .conflict {
                continue
            }
        }
    }

    /// One index change, retried while other writers move the page.
    private func editIndex(_ edit: (inout IndexEdits) -> Void) async throws {
        var edits = IndexEdits()
        edit(&edits)
        for attempt in 0..<configuration.maxAttempts {
            if attempt > 0 { try await backoff(attempt) }
            var update = UpdateBuilder(zone: configuration.zone)
            try await apply(edits, to: &update)
            if update.operations.isEmpty { return }
            do {
                try await send(update, "repairing an index")
                return
            } catch let error as StoreError where error.code == .conflict {
                continue
            }
        }
    }
}

/// `<p>-<g>`: a data chunk's label (section 7 of docs/FORMAT.md).
enum DataChunkLabel {
    static func matches(_ label: [UInt8]) -> Bool {
        guard let dash = label.firstIndex(of: UInt8(ascii: "-")), dash > 0, label.count - dash - 1 == 8 else { return false }
        return label[..<dash].allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
            && label[(dash + 1)...].allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}

/// What a check has seen so far of the zone's names.
private struct Scan {
    /// The partition being checked.
    var txt = ZoneTexts()
    /// Collections by name: their number in `nodes`.
    var collections: [DNSName: Int] = [:]
    var nodes: [(name: DNSName, database: String, collection: String, total: Int, codec: CollectionCodec)] = []
    /// Existing data chunks of each record inspected in this partition.
    var chunks: [DNSName: [DNSName]] = [:]
    var missingEntries: [(DNSName, Int, String)] = []
    var staleEntries: [(DNSName, Int, String)] = []
    var oversize: [IndexEdits.ChunkKey] = []
    /// Leases whose record was found whole.
    var leases = Set<String>()
    var staleLeaseEntries: [(Int, String)] = []
    /// The secondary indexes: what the documents say they must list.
    var indexes = IndexCheck()
    /// The JSON of the document `inspect` last found whole (nil when it could not open it).
    var lastDocument: [UInt8]?
    /// Documents of leases that do not exist: by record name, collection, chunk and stored id.
    var orphans: [(name: DNSName, node: DNSName, chunk: Int, id: String)] = []

    /// The lease a record names that does not exist, if it names one.
    func missingLease(of name: DNSName) -> String? {
        guard let rdata = txt[name], let lease = (try? RecordText.parse(rdata, name: name, tolerateNewer: true))?.header.lease,
            !leases.contains(lease)
        else { return nil }
        return lease
    }
    /// Damaged documents, with their texts (record first, then data chunks) when a repair needs them.
    var damaged: [(path: String, name: DNSName, node: DNSName, chunk: Int?, id: String?, texts: [(name: DNSName, rdata: RData)])] = []

    mutating func keepDamaged(_ path: String, _ name: DNSName, _ node: DNSName, _ chunk: Int?, _ id: String?, keepTexts: Bool) {
        let texts = keepTexts ? ([name] + (chunks[name] ?? [])).compactMap { n in txt[n].map { (n, $0) } } : []
        damaged.append((path, name, node, chunk, id, texts))
    }

    /// Accounts for an index chunk's pages and notes pages over the size limit.
    mutating func account(
        _ pages: [LoadedPage], chunk key: IndexEdits.ChunkKey, in spilled: inout SpilledTexts, repair: Bool, into report: inout CheckReport
    ) throws {
        var over = false
        for page in pages where page.rdata != nil {
            spilled.account(page.name)
            if case .txt(let t)? = page.rdata, t.joined.count > IndexPage.maxTextOctets {
                report.problems.append(.init(kind: .oversizePage, name: "\(page.name)", detail: "\(t.joined.count) octets", repaired: repair))
                over = true
            }
        }
        if over && !oversize.contains(key) { oversize.append(key) }
    }

    /// Accounts for a record and its data chunks; returns why it is damaged, or nil when it is
    /// whole. In a private collection a record must be sealed (section 11.3); with the
    /// collection's key it is opened too, without the key checked as far as its digest.
    mutating func inspect(_ name: DNSName, id: String?, codec: CollectionCodec) -> String? {
        txt.account(name)
        guard let rdata = txt[name] else { return "its header does not parse" }
        let record: StoredRecord
        do {
            record = try RecordText.parse(rdata, name: name, tolerateNewer: true)
        } catch let error as StoreError {
            return error.detail
        } catch {
            return "its header does not parse"
        }
        if let id, record.header.id != id { return "it holds document '\(record.header.id)', not '\(id)'" }
        // An encoding this version cannot read is not damage: a newer writer made it.
        guard let steps = DocumentEncoding.steps(record.header.encoding) else { return nil }
        var body = record.body
        if let count = record.header.chunkCount, let generation = record.header.generation {
            body = []
            var missing: DNSName?
            for p in 0..<count {
                guard let chunk = try? name.prepending("\(p)-\(generation)") else { return "its data chunk names are too long" }
                guard let data = txt[chunk], case .txt(let t) = data else {
                    missing = missing ?? chunk
                    continue
                }
                txt.account(chunk)
                chunks[name, default: []].append(chunk)
                body += t.joined
            }
            if let missing { return "data chunk \(missing) is missing" }
        }
        if body.count != record.header.storedLength { return "it holds \(body.count) octets where its header says \(record.header.storedLength)" }
        if RecordText.digest(body) != record.header.digest { return "its digest does not match its content" }
        if codec.isPrivate {
            guard steps.last == DocumentEncoding.aesGCM, CollectionSecrets.looksSealed(record.header.id) else {
                return "it is not sealed (encoding '\(record.header.encoding ?? "none")') in a private collection: forged or damaged"
            }
            // Without the key, an encrypted document is checked as far as its digest.
            guard (try? codec.sealed()) != nil else { return nil }
        } else if steps.contains(DocumentEncoding.aesGCM) {
            return "it is encrypted, but its collection is not private"
        }
        do {
            lastDocument = try codec.decode(body, header: record.header, id: id ?? record.header.id, at: name)
        } catch let error as StoreError {
            return error.detail
        } catch {
            return "\(error)"
        }
        return nil
    }
}

import DNSWire

/// `fsck` for secondary indexes (section 14 of docs/FORMAT.md): the lists each document's values
/// call for, against the names under each collection's `_ix` as the zone holds them.
struct IndexCheck {
    /// Indexed collections by name: their path for messages, their indexes, and a private one's
    /// secrets (which name its lists).
    var collections: [DNSName: (path: String, indexes: [String: IndexDefinition], sealing: CollectionSecrets?)] = [:]
    /// Indexed private collections whose key this check lacks: their lists are left unchecked.
    var unchecked: Set<DNSName> = []
    /// What must be listed: by list chunk, the stored ids.
    private var expected: [IndexEdits.ChunkKey: Set<String>] = [:]
    /// Ordered indexes' lists that documents call for, and where their directories list them.
    private var directoryOf: [DNSName: OrderedList] = [:]

    /// What a repair changes: entries to add and remove, and names to delete.
    struct Repairs {
        var changes: [PostingChange] = []
        var strays: [DNSName] = []
    }

    /// Whether `name` lies under a collection's `_ix` (`... _ix.<coll>.<k>.<db>.<c>.R`).
    static func isUnderIndexes(_ name: DNSName, root: DNSName) -> Bool {
        let depth = name.labelCount - root.labelCount
        guard depth >= 5 else { return false }
        return name.labels[depth - 5] == Array("_ix".utf8)
    }

    /// The collection whose `_ix` holds `name`.
    static func collection(of name: DNSName, root: DNSName) -> DNSName {
        var node = name
        while node.labelCount > root.labelCount + 4 { node = node.parent }
        return node
    }

    /// Notes the lists a whole document of the collection at `collection` belongs in.
    mutating func expect(_ json: [UInt8], storedID: String, in collection: DNSName, layout: StoreLayout) {
        guard let owner = collections[collection] else { return }
        guard let changes = try? IndexMaintenance.changes(
            old: nil, new: json, storedID: storedID, indexes: owner.indexes, collection: collection, layout: layout, sealing: owner.sealing)
        else { return }
        for change in changes {
            expected[change.chunk, default: []].insert(storedID)
            if let ordered = change.ordered { directoryOf[ordered.list] = ordered }
        }
    }

    /// Compares the lists in the zone (`texts`, every name under an `_ix`) with what the
    /// documents call for; reports each difference, and returns what a repair does about it. A
    /// building index may lack documents (its build adds them), never list a wrong one.
    func compare(_ texts: [DNSName: RData], layout: StoreLayout, repair: Bool, into report: inout CheckReport) throws -> Repairs {
        var repairs = Repairs()
        var found: [IndexEdits.ChunkKey: Set<String>] = [:]
        var foundValues: [IndexEdits.ChunkKey: Set<String>] = [:]
        var fields: [DNSName: (path: String, field: String, definition: IndexDefinition)] = [:]
        for (collection, entry) in collections {
            for (field, definition) in entry.indexes {
                let label = try entry.sealing?.indexLabel(field: field) ?? Naming.label(for: field)
                fields[try layout.indexes(of: collection).prepending(label)] = (entry.path, field, definition)
            }
        }
        for name in texts.keys.sorted(by: { $0.description < $1.description }) {
            if unchecked.contains(Self.collection(of: name, root: layout.root)) { continue }
            // `<j>.<value>.<field>._ix.C` or `_p<n>.<j>.<value>.<field>._ix.C`.
            let isPage = name.labels.first.map { $0.first == UInt8(ascii: "_") } ?? false
            let chunkName = isPage ? name.parent : name
            let list = chunkName.parent
            // An ordered index's directory of values, `<j>._keys.<field>._ix.C` (section 14.7).
            let isDirectory = list.labels.first == Array("_keys".utf8)
            let definition = fields[list.parent]?.definition
            let chunks = (isDirectory ? definition?.ordered?.chunks.total : definition?.chunks.total) ?? 0
            guard let first = chunkName.labels.first,
                let chunk = Int(String(decoding: first, as: UTF8.self)), (0..<chunks).contains(chunk),
                case .txt(let t)? = texts[name], let page = try? IndexPage(parsing: t.joined, level: .record, name: name)
            else {
                report.problems.append(.init(kind: .strayName, name: "\(name)", detail: "nothing in the store refers to it", repaired: repair))
                repairs.strays.append(name)
                continue
            }
            if isDirectory {
                foundValues[IndexEdits.ChunkKey(node: list, chunk: chunk, level: .record), default: []].formUnion(page.entries.keys)
                continue
            }
            found[IndexEdits.ChunkKey(node: list, chunk: chunk, level: .record), default: []].formUnion(page.entries.keys)
        }
        // The lists that hold entries once repaired: a readable index's as its documents call
        // for; a building one's, those of its entries that documents call for.
        var holding = Set<DNSName>()
        for key in Set(found.keys).union(expected.keys).sorted(by: { ($0.node.description, $0.chunk) < ($1.node.description, $1.chunk) }) {
            let owner = fields[key.node.parent]!
            let listed = found[key] ?? [], wanted = expected[key] ?? []
            let readable = owner.definition.state == .readable
            if !(readable ? wanted : wanted.intersection(listed)).isEmpty { holding.insert(key.node) }
            Self.differences(listed: listed, wanted: wanted, at: key, missingToo: readable, repair: repair, into: &report, &repairs) { storedID, stale in
                stale
                    ? .init(kind: .staleIndexEntry, name: "\(owner.path)/\(storedID)",
                        detail: "the index of '\(owner.field)' lists it at \(key.node) chunk \(key.chunk), which its document does not call for",
                        repaired: repair)
                    : .init(kind: .documentNotIndexed, name: "\(owner.path)/\(storedID)",
                        detail: "the index of '\(owner.field)' does not list it at \(key.node) chunk \(key.chunk)", repaired: repair)
            }
        }
        // Each ordered index's directory lists exactly the values whose lists hold entries.
        var wantedValues: [IndexEdits.ChunkKey: Set<String>] = [:]
        for list in holding { if let ordered = directoryOf[list] { wantedValues[ordered.directory, default: []].insert(ordered.entry) } }
        for key in Set(foundValues.keys).union(wantedValues.keys).sorted(by: { ($0.node.description, $0.chunk) < ($1.node.description, $1.chunk) }) {
            let owner = fields[key.node.parent]!
            Self.differences(
                listed: foundValues[key] ?? [], wanted: wantedValues[key] ?? [], at: key, missingToo: true, repair: repair, into: &report, &repairs
            ) { entry, stale in
                let directory = "the directory of values of the index of '\(owner.field)'"
                return stale
                    ? .init(kind: .staleIndexEntry, name: owner.path,
                        detail: "\(directory) lists '\(entry.prefix(40))' at \(key.node) chunk \(key.chunk), which no document holds", repaired: repair)
                    : .init(kind: .documentNotIndexed, name: owner.path,
                        detail: "\(directory) lacks '\(entry.prefix(40))' at \(key.node) chunk \(key.chunk)", repaired: repair)
            }
        }
        return repairs
    }

    /// Reports, and plans the repair of, each entry of one chunk `listed` holds that is not
    /// `wanted` (stale) and, with `missingToo`, each `wanted` that is not listed; `problem` says
    /// which for an entry (true: stale).
    private static func differences(
        listed: Set<String>, wanted: Set<String>, at key: IndexEdits.ChunkKey, missingToo: Bool, repair: Bool,
        into report: inout CheckReport, _ repairs: inout Repairs, problem: (String, Bool) -> CheckReport.Problem
    ) {
        for entry in listed.subtracting(wanted).sorted() {
            report.problems.append(problem(entry, true))
            repairs.changes.append(PostingChange(chunk: key, storedID: entry, adding: false))
        }
        guard missingToo else { return }
        for entry in wanted.subtracting(listed).sorted() {
            report.problems.append(problem(entry, false))
            repairs.changes.append(PostingChange(chunk: key, storedID: entry, adding: true))
        }
    }
}

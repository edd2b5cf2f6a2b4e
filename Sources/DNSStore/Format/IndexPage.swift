import DNSWire
import Foundation

/// The value of an index entry (section 3.2 of docs/FORMAT.md): a database's or collection's
/// metadata; for a document `{}`, or `{"l":LEASE}` when it is attached to a lease (section 13).
enum IndexEntry: Sendable, Hashable {
    case node(NodeMetadata)
    case document(lease: String?)

    /// A document's entry without a lease: `{}`.
    static let unleased = IndexEntry.document(lease: nil)

    var metadata: NodeMetadata? {
        if case .node(let metadata) = self { return metadata }
        return nil
    }

    var lease: String? {
        if case .document(let lease) = self { return lease }
        return nil
    }

    func text() throws -> [UInt8] {
        switch self {
        case .node(let metadata): return try MetadataJSON.encode(metadata)
        case .document(nil): return Array("{}".utf8)
        case .document(let lease?): return Array("{\"l\":\"\(lease)\"}".utf8)
        }
    }

    /// A document's entry from its text: exactly `{}` or `{"l":"<16 lower-case hex digits>"}`.
    init?(documentText text: [UInt8]) {
        if text == Array("{}".utf8) {
            self = .unleased
            return
        }
        let prefix = Array(#"{"l":""#.utf8)
        guard text.count == prefix.count + 16 + 2, text.starts(with: prefix), text.suffix(2) == [0x22, 0x7D] else { return nil }
        let lease = String(decoding: text[prefix.count..<(prefix.count + 16)], as: UTF8.self)
        guard FormatLimits.isLowerHex(lease, count: 16) else { return nil }
        self = .document(lease: lease)
    }
}

/// One page of an index chunk (section 3.2 of docs/FORMAT.md). Record and lease indexes map ids
/// to `IndexEntry.unleased`; the others map names to node metadata.
struct IndexPage: Sendable, Equatable {
    var chunk: Int
    var page: Int
    /// Pages in the chunk; meaningful on page 0.
    var pages: Int
    /// Record indexes, page 0: no document listed in this chunk and since deleted ever had a
    /// version above it, so a new document starts above it and versions of an id never repeat.
    var floor: Int
    /// Page 0 of a chunk of several pages: the first page that may have room for a new entry
    /// (section 3.2), so that a writer reads that page, not all of them. A hint: nil when absent.
    var open: Int?
    var entries: [String: IndexEntry]

    static let maxTextOctets = 16_000

    init(chunk: Int, page: Int, pages: Int = 1, floor: Int = 0, open: Int? = nil, entries: [String: IndexEntry] = [:]) {
        self.chunk = chunk
        self.page = page
        self.pages = pages
        self.floor = floor
        self.open = open
        self.entries = entries
    }

    /// The `"open"` member as written: on page 0 of a chunk of several pages only.
    var writtenOpen: Int? { page == 0 && pages > 1 ? open : nil }

    /// The page's JSON text: members and map entries sorted by their UTF-8 octets, so the same
    /// page is always the same text.
    func text(level: IndexLevel) throws -> [UInt8] {
        var map: [UInt8] = [UInt8(ascii: "{")]
        let sorted = entries.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        for (i, name) in sorted.enumerated() {
            if i > 0 { map.append(UInt8(ascii: ",")) }
            map += try Self.entryText(name, entries[name]!)
        }
        map.append(UInt8(ascii: "}"))
        var members: [(String, [UInt8])] = [(level.rawValue, map), ("id", Array(String(chunk).utf8))]
        if page == 0 {
            if pages > 1 { members.append(("pages", Array(String(pages).utf8))) }
            if floor > 0 { members.append(("floor", Array(String(floor).utf8))) }
            if let open = writtenOpen { members.append(("open", Array(String(open).utf8))) }
        } else {
            members.append(("page", Array(String(page).utf8)))
        }
        members.sort { $0.0 < $1.0 }
        var text: [UInt8] = [UInt8(ascii: "{")]
        for (i, (name, value)) in members.enumerated() {
            if i > 0 { text.append(UInt8(ascii: ",")) }
            text += Array("\"\(name)\":".utf8) + value
        }
        text.append(UInt8(ascii: "}"))
        return text
    }

    /// The length of `text(level:)`, counted without building or sorting it: entries take the same
    /// octets in any order.
    func textLength(level: IndexLevel) throws -> Int {
        var map = 2 + max(0, entries.count - 1)
        for (name, entry) in entries { map += try Self.entryText(name, entry).count }
        var members: [(String, Int)] = [(level.rawValue, map), ("id", String(chunk).utf8.count)]
        if page == 0 {
            if pages > 1 { members.append(("pages", String(pages).utf8.count)) }
            if floor > 0 { members.append(("floor", String(floor).utf8.count)) }
            if let open = writtenOpen { members.append(("open", String(open).utf8.count)) }
        } else {
            members.append(("page", String(page).utf8.count))
        }
        // {"name":value,...}: quotes, colon and comma around each member.
        return 2 + members.reduce(0) { $0 + $1.0.utf8.count + 3 + $1.1 } + (members.count - 1)
    }

    /// `"name":value` as the page's map holds it.
    static func entryText(_ name: String, _ entry: IndexEntry) throws -> [UInt8] {
        JSONText.string(name) + [UInt8(ascii: ":")] + (try entry.text())
    }

    /// Reads a page strictly (section 3.2): strict JSON, only the members the format defines,
    /// each number within `FormatLimits`, each entry a name of 1 to 255 octets and (above the
    /// record level) node metadata as section 5 or 6 has it.
    init(text: [UInt8], level: IndexLevel, name: DNSName) throws {
        if level == .record, let fast = RecordPageScan(text) {
            self.init(chunk: fast.id, page: fast.page, pages: fast.pages, floor: fast.floor, open: fast.open, entries: [:])
            entries.reserveCapacity(fast.ids.count)
            for id in fast.ids {
                guard FormatLimits.isName(id) else { throw Self.bad(name, level, "an entry is not a name of 1 to 255 octets") }
                entries[id] = .document(lease: fast.leases[id])
            }
            try checkBounds(name, level)
            return
        }
        try self.init(parsing: text, level: level, name: name)
    }

    /// Any JSON text a writer may have written, through the strict scanner.
    init(parsing text: [UInt8], level: IndexLevel, name: DNSName) throws {
        let members: [(name: String, value: Range<Int>)]
        do {
            members = try JSONText.members(ofObject: text)
        } catch {
            throw Self.bad(name, level, "\(error)")
        }
        self.init(chunk: -1, page: 0)
        var sawMap = false
        for member in members {
            let value = text[member.value]
            func integer() throws -> Int {
                guard let number = JSONText.integer(value) else { throw Self.bad(name, level, "'\(member.name)' is not an integer") }
                return number
            }
            switch member.name {
            case "id": chunk = try integer()
            case "page": page = try integer()
            case "pages": pages = try integer()
            case "floor": floor = try integer()
            case "open": open = try integer()
            case level.rawValue:
                sawMap = true
                let map: [(name: String, value: Range<Int>)]
                do {
                    map = try JSONText.members(ofObject: Array(value))
                } catch {
                    throw Self.bad(name, level, "'\(level.rawValue)' is not an object")
                }
                let base = member.value.lowerBound
                entries.reserveCapacity(map.count)
                for entry in map {
                    guard FormatLimits.isName(entry.name) else { throw Self.bad(name, level, "an entry is not a name of 1 to 255 octets") }
                    let entryText = Array(text[(base + entry.value.lowerBound)..<(base + entry.value.upperBound)])
                    if level == .record || level == .lease {
                        guard let value = IndexEntry(documentText: entryText) else {
                            throw Self.bad(name, level, "an entry is neither {} nor {\"l\":LEASE}")
                        }
                        entries[entry.name] = value
                    } else {
                        entries[entry.name] = .node(try MetadataJSON.decode(NodeMetadata.self, entryText, name: name))
                    }
                }
            default:
                throw Self.bad(name, level, "it has the member '\(member.name)', which this version does not know")
            }
        }
        guard chunk >= 0, sawMap else { throw Self.bad(name, level, "'id' or '\(level.rawValue)' is missing") }
        try checkBounds(name, level)
    }

    /// Every number within the format's bounds.
    private func checkBounds(_ name: DNSName, _ level: IndexLevel) throws {
        guard (0..<FormatLimits.maxChunks).contains(chunk) else { throw Self.bad(name, level, "'id' is \(chunk)") }
        guard (0..<FormatLimits.maxPages).contains(page) else { throw Self.bad(name, level, "'page' is \(page)") }
        guard (1...FormatLimits.maxPages).contains(pages) else {
            throw Self.bad(name, level, "'pages' is \(pages), not 1 to \(FormatLimits.maxPages)")
        }
        guard (0...FormatLimits.maxVersion).contains(floor) else { throw Self.bad(name, level, "'floor' is \(floor)") }
        guard open.map({ (0...FormatLimits.maxPages).contains($0) }) ?? true else { throw Self.bad(name, level, "'open' is \(open!)") }
    }

    private static func bad(_ name: DNSName, _ level: IndexLevel, _ why: String) -> StoreError {
        StoreError.corrupted("index page \(name) is not a valid \(level.rawValue) index: \(why)")
    }
}

/// A record index page as writers write it (no whitespace, no escapes, plain integers), read by
/// one scan: a large collection's pages are read by every cold write and every import batch, and
/// Foundation's parser spent most of their time. Anything else fails the scan, and the general
/// parser decides, so both accept and reject the same texts.
struct RecordPageScan {
    var id = 0
    var page = 0
    var pages = 1
    var floor = 0
    var open: Int?
    var ids: [String] = []
    /// The leases of the ids attached to one.
    var leases: [String: String] = [:]

    init?(_ text: [UInt8]) {
        var i = 0
        var seen = Set<String>()
        var sawID = false
        var sawMap = false
        func byte(_ c: UInt8) -> Bool {
            guard i < text.count, text[i] == c else { return false }
            i += 1
            return true
        }
        /// A string without escapes or control characters, valid UTF-8.
        func string() -> String? {
            guard byte(UInt8(ascii: "\"")) else { return nil }
            let start = i
            while i < text.count, text[i] != UInt8(ascii: "\"") {
                if text[i] == UInt8(ascii: "\\") || text[i] < 0x20 { return nil }
                i += 1
            }
            guard i < text.count else { return nil }
            let value = String(validating: text[start..<i], as: UTF8.self)
            i += 1
            return value
        }
        /// A JSON integer of at most 15 digits: no leading zeros, fraction or exponent.
        func integer() -> Int? {
            let negative = byte(UInt8(ascii: "-"))
            let start = i
            while i < text.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[i]) { i += 1 }
            let digits = i - start
            guard digits >= 1, digits <= 15, !(digits > 1 && text[start] == UInt8(ascii: "0")) else { return nil }
            if i < text.count, [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E")].contains(text[i]) { return nil }
            let value = text[start..<i].reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
            return negative ? -value : value
        }
        guard byte(UInt8(ascii: "{")) else { return nil }
        repeat {
            guard let key = string(), seen.insert(key).inserted, byte(UInt8(ascii: ":")) else { return nil }
            switch key {
            case "record":
                guard byte(UInt8(ascii: "{")) else { return nil }
                var names = Set<String>()
                if !byte(UInt8(ascii: "}")) {
                    repeat {
                        guard let name = string(), names.insert(name).inserted, byte(UInt8(ascii: ":")), byte(UInt8(ascii: "{")) else { return nil }
                        if !byte(UInt8(ascii: "}")) {
                            // `{"l":"LEASE"}`: a document attached to a lease.
                            guard string() == "l", byte(UInt8(ascii: ":")), let lease = string(), FormatLimits.isLowerHex(lease, count: 16),
                                byte(UInt8(ascii: "}"))
                            else { return nil }
                            leases[name] = lease
                        }
                        ids.append(name)
                    } while byte(UInt8(ascii: ","))
                    guard byte(UInt8(ascii: "}")) else { return nil }
                }
                sawMap = true
            case "id":
                guard let value = integer() else { return nil }
                id = value
                sawID = true
            case "page":
                guard let value = integer() else { return nil }
                page = value
            case "pages":
                guard let value = integer() else { return nil }
                pages = value
            case "floor":
                guard let value = integer() else { return nil }
                floor = value
            case "open":
                guard let value = integer() else { return nil }
                open = value
            default:
                return nil
            }
        } while byte(UInt8(ascii: ","))
        guard byte(UInt8(ascii: "}")), i == text.count, sawID, sawMap else { return nil }
    }
}

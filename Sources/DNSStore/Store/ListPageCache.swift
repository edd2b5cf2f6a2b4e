import DNSWire

/// The one page of each secondary index list chunk that this store object last wrote or read,
/// while the chunk has a single page. A write plans over the cached page instead of reading it
/// again: the UPDATE requires the page exactly as cached, so a page another writer changed
/// meanwhile fails the prerequisite, the entry is dropped, and the write reads it again. So a
/// writer that keeps changing its own documents' indexed values reads no list, and a stale entry
/// costs one lost race, never a wrong list.
final class ListPageCache: Sendable {
    /// Page 0's RDATA by name; nil: the page does not exist.
    private let pages = Locked([DNSName: RData?]())
    /// Pages kept at most; past it the cache starts afresh.
    static let capacity = 4_096

    /// The cached page 0 of a list chunk, when there is one: `.some(nil)` for a page known absent.
    func page(_ name: DNSName) -> RData?? {
        pages.withLock { $0[name] }
    }

    /// Notes what page 0 of list chunks holds after an UPDATE that succeeded: what it wrote, or for
    /// a page it only required, what it required. A page of a chunk of several pages is dropped.
    func noteSent(_ update: UpdateBuilder, pageNames: Set<DNSName>) {
        var after: [DNSName: RData?] = [:]
        for prerequisite in update.prerequisites {
            switch prerequisite {
            case .rrsetEquals(let name, .txt, let rdata) where pageNames.contains(name) && rdata.count == 1: after[name] = rdata[0]
            case .rrsetDoesNotExist(let name, .txt) where pageNames.contains(name): after[name] = .some(nil)
            default: break
            }
        }
        for operation in update.operations {
            switch operation {
            case .deleteRRset(let name, .txt) where pageNames.contains(name):
                after[name] = .some(nil)
            case .deleteName(let name) where pageNames.contains(name):
                after[name] = .some(nil)
            case .add(let record) where pageNames.contains(record.name) && record.type == .txt:
                after[record.name] = .some(record.rdata)
            default: break
            }
        }
        pages.withLock { pages in
            if pages.count + after.count > Self.capacity { pages.removeAll() }
            for (name, rdata) in after {
                if let rdata, Self.hasSeveralPages(rdata) { pages[name] = nil } else { pages[name] = .some(rdata) }
            }
        }
    }

    /// Notes page 0 of a list chunk as read (nil: absent), when the chunk has that one page.
    func noteRead(_ name: DNSName, _ rdata: RData?) {
        pages.withLock { pages in
            if pages.count >= Self.capacity { pages.removeAll() }
            if let rdata, Self.hasSeveralPages(rdata) { pages[name] = nil } else { pages[name] = .some(rdata) }
        }
    }

    /// Forgets pages, after a write that required them lost a race.
    func forget(_ names: some Sequence<DNSName>) {
        pages.withLock { pages in for name in names { pages[name] = nil } }
    }

    func removeAll() { pages.withLock { $0.removeAll() } }

    /// Whether page 0's text says its chunk has more pages (`"pages"` above 1).
    private static func hasSeveralPages(_ rdata: RData) -> Bool {
        guard case .txt(let txt) = rdata else { return true }
        return (try? IndexPage(text: txt.joined, level: .record, name: .root))?.pages ?? 2 > 1
    }
}

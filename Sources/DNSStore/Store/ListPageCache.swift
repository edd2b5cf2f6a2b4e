import DNSWire

/// The one page of each secondary index list chunk that this store object last wrote or read,
/// while the chunk has a single page. A write plans over the cached page instead of reading it
/// again: the UPDATE requires the page exactly as cached, so a page another writer changed
/// meanwhile fails the prerequisite, the entry is dropped, and the write reads it again. So a
/// writer that keeps changing its own documents' indexed values reads no list, and a stale entry
/// costs one lost race, never a wrong list.
///
/// A page is kept as its RDATA and, once parsed, as the page it parses to, so that a writer
/// changing the same lists again parses each page once, not at every write.
final class ListPageCache: Sendable {
    /// Page 0 of a list chunk as cached.
    enum Cached: Sendable, Equatable {
        /// The page does not exist: the list chunk is empty.
        case absent
        /// The page's RDATA, and what it parses to once known.
        case present(RData, parsed: Parsed?)
    }

    /// A cached page, parsed: the chunk's only page.
    struct Parsed: Sendable, Equatable {
        var page: IndexPage
        /// Octets of its text as stored.
        var textOctets: Int
    }

    private let pages = Locked([DNSName: Cached]())
    /// Pages kept at most; past it the cache starts afresh.
    static let capacity = 4_096

    /// The cached page 0 of a list chunk, when there is one.
    func page(_ name: DNSName) -> Cached? {
        pages.withLock { $0[name] }
    }

    /// Notes what page 0 of list chunks holds after an UPDATE that succeeded: what it wrote, or for
    /// a page it only required, what it required. Nothing is parsed here: a page that turns out to
    /// say its chunk has several is dropped when a write first plans over it.
    func noteSent(_ update: UpdateBuilder, pageNames: Set<DNSName>) {
        var after: [DNSName: Cached] = [:]
        for prerequisite in update.prerequisites {
            switch prerequisite {
            case .rrsetEquals(let name, .txt, let rdata) where pageNames.contains(name) && rdata.count == 1:
                after[name] = .present(rdata[0], parsed: nil)
            case .rrsetDoesNotExist(let name, .txt) where pageNames.contains(name): after[name] = .absent
            default: break
            }
        }
        for operation in update.operations {
            switch operation {
            case .deleteRRset(let name, .txt) where pageNames.contains(name):
                after[name] = .absent
            case .deleteName(let name) where pageNames.contains(name):
                after[name] = .absent
            case .add(let record) where pageNames.contains(record.name) && record.type == .txt:
                after[record.name] = .present(record.rdata, parsed: nil)
            default: break
            }
        }
        pages.withLock { pages in
            if pages.count + after.count > Self.capacity { pages.removeAll() }
            for (name, cached) in after {
                // A page required as it was keeps what it parsed to.
                if case .present(let rdata, nil) = cached, case .present(rdata, let parsed?) = pages[name] {
                    pages[name] = .present(rdata, parsed: parsed)
                } else {
                    pages[name] = cached
                }
            }
        }
    }

    /// Notes page 0 of a list chunk as read (nil: absent), the chunk's only page.
    func noteRead(_ name: DNSName, _ rdata: RData?, parsed: Parsed?) {
        pages.withLock { pages in
            if pages.count >= Self.capacity { pages.removeAll() }
            pages[name] = rdata.map { .present($0, parsed: parsed) } ?? .absent
        }
    }

    /// Keeps what a cached page parsed to, if the page is still the one cached.
    func noteParsed(_ name: DNSName, _ rdata: RData, _ parsed: Parsed) {
        pages.withLock { pages in
            if case .present(rdata, nil) = pages[name] { pages[name] = .present(rdata, parsed: parsed) }
        }
    }

    /// Forgets pages, after a write that required them lost a race.
    func forget(_ names: some Sequence<DNSName>) {
        pages.withLock { pages in for name in names { pages[name] = nil } }
    }

    func removeAll() { pages.withLock { $0.removeAll() } }
}

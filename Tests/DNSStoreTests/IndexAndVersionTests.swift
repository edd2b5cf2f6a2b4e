@testable import DNSStore
import DNSClient
import DNSTestSupport
import DNSWire
import Testing

/// Index pages that stay within their size and reuse freed room, and versions that never repeat,
/// on every kind of server.
@Suite("Index pages and versions")
struct IndexAndVersionTests {
    @Test(arguments: Backend.storeSuite)
    func versionsOfAnIdNeverRepeatAcrossDeleteAndCreate(_ kind: Backend) async throws {
        try await StoreFixture.with(kind) { f in
            // One chunk, so that every id shares the floor.
            let docs = try await f.store.createDatabase("app").createCollection("docs", chunks: 1)
            #expect(try await docs.put("x", Counter(count: 1)) == 1)
            #expect(try await docs.put("x", Counter(count: 2)) == 2)
            #expect(try await docs.delete("x") == 2)
            // Created again: it does not start at 1 again, so a compare-and-swap prepared
            // against the old document cannot succeed on the new one.
            #expect(try await docs.put("x", Counter(count: 3)) == 3)
            await expectStoreError(.conflict, path: "app/docs/x", expected: 1, actual: 3) {
                try await docs.update("x", Counter(count: 9), ifVersion: 1)
            }
            await expectStoreError(.conflict, path: "app/docs/x", expected: 2, actual: 3) {
                try await docs.delete("x", ifVersion: 2)
            }
            // An insert, a batch and another client all start above what was deleted.
            #expect(try await docs.delete("x") == 3)
            #expect(try await docs.insert("x", Counter(count: 4)) == 4)
            #expect(try await docs.insert("y", Counter(count: 1)) == 4)
            let other = try f.freshStore(key: f.writeKey)
            #expect(try await other.database("app").collection("docs").delete("y") == 4)
            let versions = try await f.store.batch { b in
                try b.put(docs, "y", Counter(count: 2))
                try b.put(docs, "z", Counter(count: 1))
            }
            #expect(versions == [5, 5])
        }
    }

    @Test(arguments: Backend.selected)
    func pagesStayWithinTheirSizeReuseRoomAndShrink(_ kind: Backend) async throws {
        try await StoreFixture.with(kind) { f in
            let docs = try await f.store.createDatabase("app").createCollection("docs", chunks: 1)
            let node = try await docs.recordName(of: "a").parent.parent
            func page(_ k: Int) throws -> DNSName {
                let chunk = try node.prepending("0")
                return k == 0 ? chunk : try chunk.prepending("_p\(k)")
            }
            func read(_ k: Int) async throws -> IndexPage? {
                guard let rdata = try await f.transport.client.lookup(try page(k), overTCP: true).records.first else { return nil }
                guard case .txt(let txt) = rdata else { return nil }
                #expect(txt.joined.count <= IndexPage.maxTextOctets, "page \(k) is \(txt.joined.count) octets")
                return try IndexPage(text: txt.joined, level: .record, name: try page(k))
            }
            // 200-character ids: about 75 a page, so 180 of them take three pages.
            func id(_ i: Int) -> String { "\(i)-" + String(repeating: "i", count: 198 - String(i).count) }
            for start in stride(from: 0, to: 180, by: 10) {
                try await f.store.batch { b in
                    for i in start..<(start + 10) { b.putJSON(docs, id(i), Array("{}".utf8)) }
                }
            }
            #expect(try await read(0)?.pages == 3)
            #expect(try await docs.ids().count == 180)

            // Empty page 0; new ids go there, not to a fourth page.
            let onPage0 = try #require(try await read(0)).entries.keys
            for start in stride(from: 0, to: onPage0.count, by: 10) {
                let ids = Array(onPage0.sorted().dropFirst(start).prefix(10))
                try await f.store.batch { b in for i in ids { b.delete(docs, i) } }
            }
            let page0 = try #require(try await read(0))
            #expect(page0.entries.isEmpty && page0.pages == 3)
            try await docs.putJSON("fresh", Array("{}".utf8))
            #expect(try await read(0)?.entries.keys.contains("fresh") == true)
            #expect(try await read(0)?.pages == 3)

            // Empty the last page: the count shrinks and the page is gone.
            let onPage2 = try #require(try await read(2)).entries.keys
            try await f.store.batch { b in for i in onPage2 { b.delete(docs, i) } }
            #expect(try await read(0)?.pages == 2)
            #expect(try await read(2) == nil)
            #expect(Set(try await docs.ids()).count == 180 - onPage0.count - onPage2.count + 1)
        }
    }
}

/// Holds back the answer to the first TXT query for one name until released, forwarding all else:
/// a read that left before a write of the same client and comes back after it.
final class HoldingTransport: StoreTransport {
    let inner: any StoreTransport
    private let state = Locked<(name: DNSName?, held: Bool, released: Bool)>((nil, false, false))

    init(_ inner: any StoreTransport) { self.inner = inner }

    func hold(_ name: DNSName) { state.withLock { $0 = (name, false, false) } }
    func release() { state.withLock { $0.released = true } }
    var holding: Bool { state.withLock { $0.held && !$0.released } }

    func send(_ request: Message, overTCP: Bool, each: (Message) throws -> Void) async throws {
        let mine = state.withLock { state -> Bool in
            guard request.opcode == .query, !state.held, let name = state.name,
                request.questions.first.map({ $0.name == name && $0.type == .txt }) == true else { return false }
            state.held = true
            return true
        }
        var answers: [Message] = []
        try await inner.send(request, overTCP: overTCP) { answers.append($0) }
        while mine, !state.withLock({ $0.released }) { try await Task.sleep(for: .milliseconds(5)) }
        for answer in answers { try each(answer) }
    }
}

extension IndexAndVersionTests {
    /// A read or a write whose read of a document left before this same client wrote it, and came
    /// back after, sees the older version: that is the order things happened in, not a rollback
    /// (the check against the versions this client saw uses what it knew when the read left).
    @Test func aReadThatLeftBeforeTheClientsOwnWriteIsNotARollback() async throws {
        try await StoreFixture.with(Backend.embedded) { f in
            let docs = try await f.store.createDatabase("app").createCollection("docs")
            try await docs.put("x", Counter(count: 1))
            let name = try await docs.recordName(of: "x")
            let holding = HoldingTransport(f.transport)
            let store = try DocumentStore(configuration: f.store.configuration, transport: holding)
            let mine = store.database("app").collection("docs")
            _ = try await mine.get("x")  // the collection's metadata read before the hold

            func whileHeld<T: Sendable>(_ slow: @escaping @Sendable () async throws -> T) async throws -> T {
                holding.hold(name)
                let task = Task { try await slow() }
                let clock = ContinuousClock(), start = clock.now
                while !holding.holding {
                    try #require(clock.now - start < .seconds(30), "the read was never sent")
                    try await Task.sleep(for: .milliseconds(5))
                }
                // The same store object writes the document while its first read is held.
                try await mine.modify("x", as: Counter.self) { $0.count += 1 }
                holding.release()
                return try await task.value
            }

            // A read: the version it found when it left (the write made version 2).
            let read = try await whileHeld { try await mine.get("x", as: Counter.self) }
            #expect(read?.version == 1)
            // A write that read version 2 while version 3 was written: its compare-and-swap fails
            // against version 3 and it tries again.
            let written = try await whileHeld { try await mine.put("x", Counter(count: 100)) }
            #expect(written == 4)
            #expect(try await docs.get("x", as: Counter.self)?.value.count == 100)
        }
    }
}

import Crypto
import DNSClient
import DNSStore
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// Private collections and compression (docs/FORMAT.md sections 7.2 and 11), against real servers.
@Suite("Private collections and compression")
struct PrivacyTests {
    /// A store on the fixture's server holding `keys`.
    static func store(_ fixture: StoreFixture, keys: [EncryptionKey]?) throws -> (DocumentStore, CountingTransport) {
        var configuration = fixture.store.configuration
        configuration.encryptionKeys = keys.map(EncryptionKeys.init)
        let counter = CountingTransport(fixture.transport.inner, client: fixture.transport.client)
        return (try DocumentStore(configuration: configuration, transport: counter), counter)
    }

    /// Every TXT text and owner name in the zone, as a transfer (what anyone allowed one) sees it.
    static func zoneText(_ fixture: StoreFixture) async throws -> String {
        let transfer = try await fixture.transport.client.transfer(zone: fixture.server.zone)
        return transfer.records.map { record -> String in
            let text = if case .txt(let txt) = record.rdata { String(decoding: txt.joined, as: UTF8.self) } else { "" }
            return record.name.description + " " + text
        }.joined(separator: "\n")
    }

    /// Whether `secret` shows in the zone's text as itself. Sealed ids, digests and wrapped secrets
    /// are random runs of 20 or more base64 or base32 characters, which spell a given short word
    /// somewhere in a few hundred records about once in a hundred runs: an occurrence inside a
    /// longer such run is chance, not a leak.
    static func shows(_ secret: String, in zone: String) -> Bool {
        let text = Array(zone.utf8)
        let word = Array(secret.utf8)
        func isEncoding(_ c: UInt8) -> Bool {
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || "_-~+/=".utf8.contains(c)
        }
        guard word.count <= text.count else { return false }
        for start in 0...(text.count - word.count) where text[start..<start + word.count].elementsEqual(word) {
            var from = start
            while from > 0, isEncoding(text[from - 1]) { from -= 1 }
            var to = start + word.count
            while to < text.count, isEncoding(text[to]) { to += 1 }
            let run = to - from
            if run < 20 || run == word.count { return true }
        }
        return false
    }

    @Test func aSecretInsideARandomEncodingIsChanceNotALeak() {
        #expect(!Self.shows("city", in: #"h--4ycntyezcityojzmag2w44w64kbzbm.0.hosts. {"id":"~bkq-w_mf"}"#))
        #expect(Self.shows("Oslo", in: #"x. {"city":"Oslo"}"#))
        #expect(Self.shows("web1", in: "web1.0.hosts.3.inv."))
        #expect(Self.shows("alice@example.com", in: #"{"alice@example.com":{}}"#))
        #expect(Self.shows(String(repeating: "long", count: 40), in: "{\"" + String(repeating: "long", count: 40) + "\":{}}"))
    }

    @Test(arguments: [Backend.embedded, .bind])
    func privateCollectionsHideIdsAndContentsFromTheZone(_ backend: Backend) async throws {
        try await StoreFixture.with(backend) { fixture in
            let key = EncryptionKey.generate()
            let (store, _) = try Self.store(fixture, keys: [key])
            try await store.createDatabase("ops")
            let secrets = try await store.database("ops").createCollection("credentials", private: true)
            let ids = ["alice@example.com", "db-primary", "ünïcödé id", String(repeating: "long", count: 40)]
            for (i, id) in ids.enumerated() {
                try await secrets.putJSON(id, Array(#"{"password":"hunter\#(i)-swordfish","host":"10.1.2.\#(i)"}"#.utf8))
            }
            let big = "{\"blob\":\"" + (0..<4000).map { "secret-\($0)," }.joined() + "\"}"
            try await secrets.putJSON("big", Array(big.utf8))

            // The holder of the key reads, lists, scans and finds as in any collection.
            #expect(try await secrets.ids() == (ids + ["big"]).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
            #expect(try await secrets.get("db-primary").map { String(decoding: $0.json, as: UTF8.self) }
                == #"{"password":"hunter1-swordfish","host":"10.1.2.1"}"#)
            #expect(try await secrets.get("big")?.json == Array(big.utf8))
            var scanned: [String] = []
            for try await page in secrets.scan() { scanned += page.map(\.id) }
            #expect(Set(scanned) == Set(ids + ["big"]))
            #expect(try await secrets.find(Filter.equals("host", .string("10.1.2.3"))).map(\.id) == [ids[3]])
            #expect(try await store.database("ops").collections() == ["credentials"])

            // The zone, as a transfer shows it, holds neither the ids nor the contents.
            let zone = try await Self.zoneText(fixture)
            for secret in ids + ["hunter", "swordfish", "10.1.2", "secret-1", "alice", "long"] {
                #expect(!Self.shows(secret, in: zone), "the zone shows '\(secret)'")
            }
            #expect(zone.contains("credentials"), "collection names stay visible (docs/FORMAT.md section 11)")
        }
    }

    /// A watch of a private collection reports real ids and documents, from transfers that hold
    /// neither.
    @Test func aWatchOfAPrivateCollectionSeesIdsAndDocuments() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let (store, _) = try Self.store(fixture, keys: [EncryptionKey.generate()])
            try await store.createDatabase("ops")
            let docs = try await store.database("ops").createCollection("credentials", private: true)
            var options = WatchOptions()
            options.interval = .milliseconds(50)
            // Followed by IXFR, so each change is reported on its own.
            options.server = fixture.transport.client
            let started = AsyncStream<UInt32>.makeStream()
            options.started = { started.continuation.yield($0) }
            let events = Task {
                var seen: [ChangeEvent] = []
                for try await event in docs.watch(options) {
                    seen.append(event)
                    if seen.count == 3 { break }
                }
                return seen
            }
            for await _ in started.stream { break }
            try await docs.putJSON("alice", Array(#"{"token":"a1"}"#.utf8))
            try await docs.putJSON("bob", Array(#"{"token":"b1"}"#.utf8))
            try await docs.delete("alice")
            let seen = try await events.value
            #expect(seen.map(\.operation) == [.put, .put, .delete])
            #expect(seen.map(\.id) == ["alice", "bob", "alice"])
            #expect(seen[1].document?.json == Array(#"{"token":"b1"}"#.utf8))
        }
    }

    /// A rekey under load: a writer's compare-and-swap increments all land; readers with the old
    /// key read everything until the documents are all rewritten, readers with the new key from
    /// when the rekey starts; afterwards only the new key reads, and every record names the new
    /// data secret.
    @Test func aRekeyMovesEveryDocumentOnlineWithoutLosingAWrite() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let old = EncryptionKey.generate()
            let new = EncryptionKey.generate()
            let (owner, _) = try Self.store(fixture, keys: [old])
            try await owner.createDatabase("ops")
            let docs = try await owner.database("ops").createCollection("credentials", private: true)
            for i in 0..<40 { try await docs.putJSON("doc-\(i)", Array(#"{"i":\#(i)}"#.utf8)) }
            try await docs.put("counter", Counter(count: 0))

            let (oldReader, _) = try Self.store(fixture, keys: [old])
            let (newReader, _) = try Self.store(fixture, keys: [new])
            let clock = ContinuousClock()
            let state = RekeyRace()
            // Each reader: when each read of two documents succeeded or failed.
            @Sendable func reads(_ store: DocumentStore) -> Task<[(ContinuousClock.Instant, Bool)], Never> {
                Task {
                    var outcomes: [(ContinuousClock.Instant, Bool)] = []
                    let view = store.database("ops").collection("credentials")
                    while !state.done.withLock({ $0 }) {
                        store.invalidateCache()
                        let first = (try? await view.get("doc-7")) != nil
                        let second = (try? await view.get("doc-33")) != nil
                        outcomes.append((clock.now, first && second))
                    }
                    return outcomes
                }
            }
            let oldReads = reads(oldReader)
            let newReads = reads(newReader)
            let writer = Task {
                while !state.done.withLock({ $0 }) {
                    do {
                        try await owner.database("ops").collection("credentials").modify("counter", as: Counter.self) { $0.count += 1 }
                    } catch let error as StoreError where error.code == .encryptionKey {
                        break  // the rekey ended: the old key no longer writes (and nothing was sent)
                    }
                    state.increments.withLock { $0 += 1 }
                }
            }
            // The rekey starts once the writer has written: a fixed pause did not ensure that on a
            // machine busy with the rest of the suite.
            let waiting = clock.now
            while state.increments.withLock({ $0 }) == 0 {
                try #require(clock.now - waiting < .seconds(60), "the writer never wrote before the rekey")
                try await Task.sleep(for: .milliseconds(10))
            }
            let beforeRekey = state.increments.withLock { $0 }
            // After its first rewrite the rekey waits (up to 30 s) for the writer to land an
            // increment: on a loaded machine a rekey of 41 documents can otherwise end within one
            // of the writer's retries, and no write is tested against a rekey in progress. The
            // wait blocks one thread of the pool; the writer needs only the other.
            let report = try await docs.rekey(to: new) { _ in
                let first = state.rewrites.withLock { rewrites in
                    rewrites.append(clock.now)
                    return rewrites.count == 1
                }
                guard first else { return }
                let deadline = clock.now + .seconds(30)
                while state.increments.withLock({ $0 }) == beforeRekey, clock.now < deadline { usleep(2_000) }
            }
            state.done.withLock { $0 = true }
            try await writer.value
            let increments = state.increments.withLock { $0 }
            let (oldOutcomes, newOutcomes) = (await oldReads.value, await newReads.value)
            let (firstRewrite, lastRewrite) = try state.rewrites.withLock { (try #require($0.first), try #require($0.last)) }

            #expect(report.rewritten >= 40)
            #expect(increments > beforeRekey, "the writer never ran during the rekey")
            let (after, _) = try Self.store(fixture, keys: [new])
            let final = try #require(try await after.database("ops").collection("credentials").get("counter", as: Counter.self))
            #expect(final.value.count == increments, "acknowledged increments lost or doubled")
            // The old key read every document up to the last rewrite; the new one from the first.
            let oldFailures = oldOutcomes.filter { $0.0 < lastRewrite && !$0.1 }.count
            let newFailures = newOutcomes.filter { $0.0 > firstRewrite && !$0.1 }.count
            #expect(oldFailures == 0, "the old key failed \(oldFailures) times during the rekey")
            #expect(newFailures == 0, "the new key failed \(newFailures) times during the rekey")
            #expect(oldOutcomes.count > 3 && newOutcomes.count > 3, "the readers hardly ran")
            // Afterwards, only the new key (a client that read the collection during the rekey
            // may still hold its new data secret in memory; a fresh one does not get it).
            let (oldAgain, _) = try Self.store(fixture, keys: [old])
            await #expect(throws: StoreError.self) { try await oldAgain.database("ops").collection("credentials").get("doc-1") }
            let view = after.database("ops").collection("credentials")
            #expect(try await view.ids().count == 41)
            for id in try await view.ids() {
                let record = try #require(try await view.dnsRecords(of: id).first)
                guard case .txt(let txt) = record.rdata else { continue }
                #expect(String(decoding: txt.joined, as: UTF8.self).contains(#""k":"\#(report.dataSecret)""#), "\(id)")
            }
        }
    }

    /// JSON of about `size` octets, as compressible as configuration and inventory data are.
    static func document(_ size: Int) -> [UInt8] {
        guard size > 2 else { return Array("0".utf8) }
        var text = "["
        var i = 0
        while text.utf8.count < size - 80 {
            text += (i == 0 ? "" : ",") + #"{"host":"web-\#(i).example.com","port":\#(8000 + i % 100),"tags":["a","b"]}"#
            i += 1
        }
        return Array((text + "]").utf8)
    }

    /// Every size round-trips in a plain and a private collection, compressed or not; a 1 KB
    /// private document is one query once the collection is known.
    @Test func documentsOfEverySizeRoundTripPlainAndPrivate() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let (store, counter) = try Self.store(fixture, keys: [EncryptionKey.generate()])
            var uncompressed = store.configuration
            uncompressed.compression = false
            let raw = try DocumentStore(configuration: uncompressed, transport: fixture.transport)
            try await store.createDatabase("db")
            _ = try await store.database("db").createCollection("plain")
            _ = try await store.database("db").createCollection("secret", private: true)
            for size in [1, 1_000, 64_000, 1_048_000] {
                let json = Self.document(size)
                for (writer, collection) in [(store, "plain"), (store, "secret"), (raw, "plain"), (raw, "secret")] {
                    let id = "doc-\(size)"
                    try await writer.database("db").collection(collection).putJSON(id, json)
                    let read = try await store.database("db").collection(collection).get(id)
                    #expect(read?.json == json, "\(size) octets in \(collection), compression \(writer.configuration.compression)")
                }
            }
            let secret = store.database("db").collection("secret")
            try await secret.putJSON("one-k", Self.document(1_000))
            _ = try await secret.get("one-k")
            counter.reset()
            #expect(try await secret.get("one-k")?.json == Self.document(1_000))
            #expect(counter.queries == 1)
            let answer = try await fixture.transport.client.query(try await secret.recordName(of: "one-k"), type: .txt)
            let octets = try answer.encode().readableBytes
            #expect(octets <= 1_232, "a 1 KB private document's answer is \(octets) octets")
        }
    }

    /// Records moved behind the store's back by a signed UPDATE: to another id's name as they
    /// are, or with the header's id changed to fit; both are refused, never read as the other.
    @Test func aRecordMovedToAnotherIdIsRefused() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let (store, _) = try Self.store(fixture, keys: [EncryptionKey.generate()])
            try await store.createDatabase("ops")
            let docs = try await store.database("ops").createCollection("credentials", private: true)
            try await docs.putJSON("alice", Array(#"{"role":"admin"}"#.utf8))
            try await docs.putJSON("mallory", Array(#"{"role":"guest"}"#.utf8))
            let alice = try await docs.recordName(of: "alice")
            let mallory = try await docs.recordName(of: "mallory")
            guard case .txt(let aliceText)? = try await fixture.transport.client.records(alice, type: .txt).first?.rdata,
                  case .txt(let malloryText)? = try await fixture.transport.client.records(mallory, type: .txt).first?.rdata
            else { throw StoreError.notFound("records") }
            func malloryID() throws -> String {
                let text = malloryText.joined
                let header = try JSONSerialization.jsonObject(with: Data(text[..<text.firstIndex(of: 0x0A)!])) as? [String: Any]
                return try #require(header?["id"] as? String)
            }
            let aliceHeader = String(decoding: aliceText.joined.prefix { $0 != 0x0A }, as: UTF8.self)
            let aliceBody = Array(aliceText.joined.drop { $0 != 0x0A })
            let relabelled = try aliceHeader.replacingOccurrences(of: try #require(aliceHeader.split(separator: "\"").dropFirst(0).first { $0.hasPrefix("~") }.map(String.init)), with: malloryID())
            for moved in [aliceText.joined, Array(relabelled.utf8) + aliceBody] {
                var update = UpdateBuilder(zone: fixture.server.zone)
                update.replace(mallory, .txt, with: [.txt(TXT(splitting: moved))], ttl: 30)
                try await fixture.transport.client.update(update)
                store.invalidateCache()
                do {
                    let read = try await docs.get("mallory")
                    Issue.record("a moved record was read as mallory's: \(read.map { String(decoding: $0.json, as: UTF8.self) } ?? "nil")")
                } catch let error as StoreError where error.code == .corrupted {}
            }
        }
    }

    /// Update, delete, batches, bulk writes, find and export-style scans on a private collection.
    @Test func everyOperationWorksOnAPrivateCollection() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let (store, _) = try Self.store(fixture, keys: [EncryptionKey.generate()])
            try await store.createDatabase("inv")
            let hosts = try await store.database("inv").createCollection("hosts", private: true)
            let v1 = try await hosts.insert("web1", Person(name: "web1", age: 1, city: "Paris"))
            await #expect(throws: StoreError.self) { try await hosts.insert("web1", Person(name: "again", age: 1, city: "x")) }
            let v2 = try await hosts.update("web1", Person(name: "web1", age: 2, city: "Paris"), ifVersion: v1)
            await #expect(throws: StoreError.self) { try await hosts.update("web1", Person(name: "stale", age: 0, city: "x"), ifVersion: v1) }
            #expect(try await hosts.get("web1", as: Person.self)?.value.age == 2 && v2 == v1 + 1)
            let imported = try await hosts.putMany((0..<300).map { (id: "bulk-\($0)", json: Array(#"{"name":"b\#($0)","age":\#($0),"city":"Oslo"}"#.utf8)) })
            #expect(imported.written == 300)
            _ = try await store.batch { batch in
                try batch.put(hosts, "batch-a", Person(name: "a", age: 5, city: "Rome"))
                batch.delete(hosts, "bulk-0")
            }
            #expect(try await hosts.find(.equals("city", .string("Rome"))).map(\.id) == ["batch-a"])
            try await hosts.delete("web1", ifVersion: v2)
            #expect(try await hosts.get("web1") == nil)
            var all: [String] = []
            for try await page in hosts.scan() { all += page.map(\.id) }
            #expect(all.count == 300 && Set(all).contains("batch-a") && !Set(all).contains("bulk-0"))
            let zone = try await Self.zoneText(fixture)
            for secret in ["web1", "bulk-1", "batch-a", "Oslo", "Rome", "city"] { #expect(!Self.shows(secret, in: zone), "the zone shows '\(secret)'") }
        }
    }

    @Test func withoutTheKeyReadsFailClearlyAndWritesSendNothing() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let (owner, _) = try Self.store(fixture, keys: [EncryptionKey.generate()])
            try await owner.createDatabase("ops")
            try await owner.database("ops").createCollection("credentials", private: true).putJSON("a", Array(#"{"x":1}"#.utf8))

            let (keyless, counter) = try Self.store(fixture, keys: nil)
            let docs = keyless.database("ops").collection("credentials")
            await #expect(throws: StoreError.self) { try await docs.get("a") }
            do {
                _ = try await docs.get("a")
            } catch let error as StoreError {
                guard error.code == .encryptionKey else { throw error }
                #expect(error.detail.contains("'ops/credentials' is private"))
                #expect(error.missing == .encryptionKeys)
            }
            counter.reset()
            for write in [{ _ = try await docs.putJSON("b", Array(#"{"y":2}"#.utf8)) }, { _ = try await docs.delete("a") }] as [() async throws -> Void] {
                do {
                    try await write()
                    Issue.record("a write without the key succeeded")
                } catch let error as StoreError where error.code == .encryptionKey {}
            }
            #expect(counter.updates == 0, "a write without the key sent an UPDATE")
            await #expect(throws: StoreError.self) { try await docs.ids() }
            // Nothing falls back to plaintext: the document is still whole for its owner.
            #expect(try await owner.database("ops").collection("credentials").get("a")?.json == Array(#"{"x":1}"#.utf8))
            #expect(try await owner.database("ops").collection("credentials").ids() == ["a"])
        }
    }

    @Test func aWrongKeyIsToldApartFromAlteredData() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let right = EncryptionKey.generate()
            let (owner, _) = try Self.store(fixture, keys: [right])
            try await owner.createDatabase("ops")
            let docs = try await owner.database("ops").createCollection("credentials", private: true)
            try await docs.putJSON("a", Array(#"{"x":1}"#.utf8))

            let (stranger, _) = try Self.store(fixture, keys: [EncryptionKey.generate()])
            do {
                _ = try await stranger.database("ops").collection("credentials").get("a")
                Issue.record("a wrong key read the document")
            } catch let error as StoreError where error.code == .encryptionKey {
                let why = error.detail
                #expect(why.contains("private to keys \(right.id)"))
            }

            // The record's version changed by hand: the ciphertext no longer belongs where it is.
            let name = try await docs.recordName(of: "a")
            let records = try await fixture.transport.client.records(name, type: .txt)
            guard case .txt(let txt) = records.first?.rdata else { throw StoreError.notFound("record") }
            let text = txt.joined
            let newline = try #require(text.firstIndex(of: 0x0A))
            let header = String(decoding: text[..<newline], as: UTF8.self).replacingOccurrences(of: "\"v\":1", with: "\"v\":7")
            var update = UpdateBuilder(zone: fixture.server.zone)
            update.replace(name, .txt, with: [.txt(TXT(splitting: Array(header.utf8) + text[newline...]))], ttl: 30)
            try await fixture.transport.client.update(update)
            do {
                _ = try await owner.database("ops").collection("credentials").get("a")
                Issue.record("an altered record was read")
            } catch let error as StoreError where error.code == .corrupted {
                let why = error.detail
                #expect(why.contains("fails authentication"))
            }
        }
    }

    @Test func largeDocumentsAreStoredCompressedAndSmallOnesAsTheyAre() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let docs = try await fixture.store.createDatabase("db").createCollection("c")
            let rows = (0..<1500).map { #"{"host":"web-\#($0).example.com","role":"frontend","zone":"eu-west-1"}"# }
            let large = Array(("[" + rows.joined(separator: ",") + "]").utf8)
            let small = Array(#"{"k":"v"}"#.utf8)
            try await docs.putJSON("large", large)
            try await docs.putJSON("small", small)
            #expect(try await docs.get("large")?.json == large)
            #expect(try await docs.get("small")?.json == small)
            let stored = try await docs.dnsRecords(of: "large").reduce(0) { total, record in
                if case .txt(let txt) = record.rdata { return total + txt.joined.count }
                return total
            }
            #expect(stored * 5 < large.count, "\(large.count) octets of JSON took \(stored) stored octets")
            #expect(large.count > 16_000 && stored < 16_000, "compressed, it fits one record inline")
            let smallText = try await docs.dnsRecords(of: "small").first.map { record -> String in
                if case .txt(let txt) = record.rdata { return String(decoding: txt.joined, as: UTF8.self) }
                return ""
            }
            #expect(smallText?.hasSuffix("\n" + #"{"k":"v"}"#) == true, "a small document stays readable with dig")
        }
    }

    /// A record that claims a small zlib stream which inflates past 1 MiB is refused as corrupt
    /// without taking the memory it asks for.
    @Test func aDecompressionBombIsReportedAsCorrupt() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let docs = try await fixture.store.createDatabase("db").createCollection("c")
            try await docs.putJSON("bomb", Array(#"{"placeholder":true}"#.utf8))
            let name = try await docs.recordName(of: "bomb")
            let inflated = Array(("[" + String(repeating: "0,", count: 1_500_000) + "0]").utf8)
            let bomb = try await Self.zlib(Array(inflated))
            #expect(bomb.count < 16_000)
            let digest = Data(SHA256.hash(data: bomb).prefix(16)).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
            let header = #"{"e":"zlib","h":"\#(digest)","id":"bomb","n":\#(bomb.count),"v":1}"#
            var update = UpdateBuilder(zone: fixture.server.zone)
            update.replace(name, .txt, with: [.txt(TXT(splitting: Array(header.utf8) + [0x0A] + bomb))], ttl: 30)
            try await fixture.transport.client.update(update)
            do {
                _ = try await docs.get("bomb")
                Issue.record("the bomb was inflated")
            } catch let error as StoreError where error.code == .corrupted {
                let why = error.detail
                #expect(why.contains("expands past the 1048576-octet limit"))
            }
        }
    }

    /// zlib's stream of `octets`, made by Python's zlib (an implementation apart from ours).
    static func zlib(_ octets: [UInt8]) async throws -> [UInt8] {
        let dir = try TempDirectory.make("zlib")
        defer { try? FileManager.default.removeItem(at: dir) }
        let input = dir.appendingPathComponent("in")
        let output = dir.appendingPathComponent("out")
        try Data(octets).write(to: input)
        let result = try await Subprocess.run(
            "python3", ["-c", "import sys, zlib; open(sys.argv[2], 'wb').write(zlib.compress(open(sys.argv[1], 'rb').read(), 9))", input.path, output.path])
        guard result.status == 0 else { throw SubprocessError.failed("python3 zlib", result) }
        return try readFile(output.path)
    }

    @Test func keyFilesRoundTripAndBadOnesAreNamed() throws {
        let keys = [EncryptionKey.generate(), EncryptionKey.generate()]
        let text = "# comment\n" + keys.map(\.fileLine).joined(separator: "\n") + "\n"
        #expect(try EncryptionKey.parseFile(text) == keys)
        let cases: [(String, String)] = [
            ("", "holds no key"),
            ("dnsstore-encryption-key abcd", "line 1 of the key file is not"),
            ("dnsstore-encryption-key 00000000 \(keys[0].fileLine.split(separator: " ")[2])", "does not match its secret"),
            ("dnsstore-encryption-key \(keys[0].id) c2hvcnQ=", "32 octets, not 5"),
            ("dnsstore-encryption-key \(keys[0].id) !!!", "not base64"),
        ]
        for (bad, message) in cases {
            do {
                _ = try EncryptionKey.parseFile(bad)
                Issue.record("'\(bad)' was accepted")
            } catch let error as StoreError where error.code == .encryptionKey {
                let why = error.detail
                #expect(why.contains(message), "'\(bad)': \(why)")
            }
        }
    }
}

/// What the rekey race shares between its tasks.
final class RekeyRace: Sendable {
    let done = Locked(false)
    /// The writer's increments acknowledged so far.
    let increments = Locked(0)
    let rewrites = Locked<[ContinuousClock.Instant]>([])
}

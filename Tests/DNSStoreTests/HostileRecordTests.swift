import Crypto
import DNSClient
import DNSServer
@testable import DNSStore
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// Records planted by someone who holds only the zone's write key, or who answers as a read
/// server: every one is reported as corrupt (never read as a document, never crashing or hanging
/// a reader), and a private collection is never read or written in the clear because of one.
@Suite("Hostile records")
struct HostileRecordTests {
    /// A signed UPDATE that puts `text` at `name` as its only TXT record.
    static func plant(_ text: [UInt8], at name: DNSName, through client: DNSClient, zone: DNSName) async throws {
        var update = UpdateBuilder(zone: zone)
        update.replace(name, .txt, with: [.txt(TXT(splitting: text))], ttl: 30)
        _ = try await client.update(update)
    }

    static func text(at name: DNSName, _ client: DNSClient) async throws -> [UInt8] {
        guard case .txt(let txt)? = try await client.records(name, type: .txt).first?.rdata else {
            throw StoreError.notFound("\(name)")
        }
        return txt.joined
    }

    /// A record's text with a header of the given members (sorted as writers write them) over `body`.
    static func record(_ header: [(String, String)], body: [UInt8]) -> [UInt8] {
        let members = header.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",")
        return Array("{\(members)}\n".utf8) + body
    }

    static func digest(_ octets: [UInt8]) -> String { RecordText.digest(octets) }

    /// `body` runs with a time limit: a hostile record must not make a reader hang. 90 s is three
    /// times the longest one took beside the full suite on two cores (30.8 s).
    static func corrupt<T>(
        _ what: String, within limit: Duration = .seconds(90), sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> T
    ) async {
        let start = ContinuousClock.now
        do {
            _ = try await body()
            Issue.record("\(what): expected corrupt store data, but it succeeded", sourceLocation: sourceLocation)
        } catch let error as StoreError {
            #expect(error.code == .corrupted, "\(what): \(error)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("\(what): expected a store error, got \(error)", sourceLocation: sourceLocation)
        }
        #expect(ContinuousClock.now - start < limit, "\(what) took \(ContinuousClock.now - start)", sourceLocation: sourceLocation)
    }

    /// The primary's store records copied into a second server of the same zone, which then
    /// answers as a read server: what a hostile read server can serve.
    static func mirror(_ fixture: StoreFixture, into reader: EmbeddedServer) async throws -> DNSClient {
        let writer = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: reader.port, key: reader.key))
        let transfer = try await fixture.transport.client.transfer(zone: fixture.server.zone)
        let records = transfer.records.filter { $0.type == .txt && $0.name.isSubdomain(of: fixture.store.rootName) }
        for start in stride(from: 0, to: records.count, by: 50) {
            var update = UpdateBuilder(zone: reader.zone)
            for record in records[start..<min(start + 50, records.count)] { update.add(record) }
            _ = try await writer.update(update)
        }
        return writer
    }

    /// A store that writes to the fixture's primary and reads from `reader` at `any`.
    static func readingFrom(_ reader: EmbeddedServer, _ fixture: StoreFixture, keys: [EncryptionKey]? = nil) throws -> DocumentStore {
        var configuration = fixture.store.configuration
        configuration.consistency = .any
        configuration.encryptionKeys = keys.map(EncryptionKeys.init)
        let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: reader.port))
        return try DocumentStore(configuration: configuration, transport: fixture.transport, readServers: [(client, "hostile reader")])
    }

    static func keyed(_ fixture: StoreFixture, _ keys: [EncryptionKey], pinned: Set<String> = []) throws -> DocumentStore {
        var configuration = fixture.store.configuration
        configuration.encryptionKeys = EncryptionKeys(keys)
        configuration.privateCollections = pinned
        return try DocumentStore(configuration: configuration, transport: fixture.transport)
    }

    // MARK: Forged private documents

    /// A record under a sealed id that is not sealed (no `e`, or `zlib` only) is a forgery:
    /// get, find, scan, fsck and a read server's answer all report it, none returns its octets.
    @Test func unsealedRecordsInAPrivateCollectionAreForgeries() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let key = EncryptionKey.generate()
            let store = try Self.keyed(fixture, [key])
            try await store.createDatabase("ops")
            let secrets = try await store.database("ops").createCollection("credentials", private: true)
            try await secrets.putJSON("alice", Array(#"{"role":"admin"}"#.utf8))
            try await secrets.putJSON("bob", Array(#"{"role":"guest"}"#.utf8))
            let name = try await secrets.recordName(of: "alice")
            let original = try await Self.text(at: name, fixture.transport.client)
            let sealedID = try RecordText.parse(.txt(TXT(splitting: original)), name: name).header.id

            let forged = Array(#"{"role":"root","note":"forged"}"#.utf8)
            let padded = Array((#"{"role":"root","pad":""# + String(repeating: "x", count: 400) + #""}"#).utf8)
            let zlib = try await PrivacyTests.zlib(padded)
            let forgeries: [(String, [UInt8])] = [
                ("plain", Self.record([("h", "\"\(Self.digest(forged))\""), ("id", "\"\(sealedID)\""), ("n", "\(forged.count)"), ("v", "7")], body: forged)),
                ("zlib only", Self.record([("e", "\"zlib\""), ("h", "\"\(Self.digest(zlib))\""), ("id", "\"\(sealedID)\""), ("n", "\(zlib.count)"), ("v", "7")], body: zlib)),
            ]
            for (kind, text) in forgeries {
                try await Self.plant(text, at: name, through: fixture.transport.client, zone: fixture.server.zone)
                let reader = try Self.keyed(fixture, [key])
                let docs = reader.database("ops").collection("credentials")
                await Self.corrupt("get of a \(kind) forgery") { try await docs.get("alice") }
                await Self.corrupt("find over a \(kind) forgery") { try await docs.find(.equals("role", .string("root"))) }
                await Self.corrupt("scan over a \(kind) forgery") {
                    var all: [Document] = []
                    for try await page in docs.scan() { all += page }
                    return all
                }
                let report = try await reader.check(repair: false)
                #expect(report.problems.contains { $0.kind == .damagedDocument && $0.name == "ops/credentials/\(sealedID)" && $0.detail.contains("not sealed") },
                    "fsck of a \(kind) forgery: \(report.problems)")

                // The same forgery served by a read server to an `any` read.
                try await Self.plant(original, at: name, through: fixture.transport.client, zone: fixture.server.zone)
                let hostile = try await EmbeddedServer.start(zone: fixture.server.zone)
                let hostileWriter = try await Self.mirror(fixture, into: hostile)
                try await Self.plant(text, at: name, through: hostileWriter, zone: hostile.zone)
                let remote = try Self.readingFrom(hostile, fixture, keys: [key])
                await Self.corrupt("an `any` read of a \(kind) forgery from a read server") {
                    try await remote.database("ops").collection("credentials").get("alice")
                }
                await hostileWriter.shutdown()
                await hostile.stop()
            }
        }
    }

    /// A sealed record moved to another version (put back under a higher `v`) fails to open.
    @Test func aSealedRecordGivenAnotherVersionFailsToOpen() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let store = try Self.keyed(fixture, [EncryptionKey.generate()])
            try await store.createDatabase("ops")
            let secrets = try await store.database("ops").createCollection("credentials", private: true)
            try await secrets.putJSON("alice", Array(#"{"role":"admin"}"#.utf8))
            let name = try await secrets.recordName(of: "alice")
            let text = try await Self.text(at: name, fixture.transport.client)
            let reversioned = Array(String(decoding: text, as: UTF8.self).replacingOccurrences(of: "\"v\":1}", with: "\"v\":2}").utf8)
            #expect(reversioned != text)
            try await Self.plant(reversioned, at: name, through: fixture.transport.client, zone: fixture.server.zone)
            await Self.corrupt("a re-versioned sealed record") { try await secrets.get("alice") }
        }
    }

    // MARK: Privacy downgrade

    /// `"private"` stripped from a collection's record and index entry: a client that saw it
    /// private, one configured with it as private, and one that holds keys and finds sealed ids
    /// all refuse; nothing is written in the clear.
    @Test func aStrippedPrivateMarkIsRefusedNeverWrittenInTheClear() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let key = EncryptionKey.generate()
            let owner = try Self.keyed(fixture, [key])
            try await owner.createDatabase("ops")
            let secrets = try await owner.database("ops").createCollection("credentials", chunks: 1, private: true)
            for i in 0..<5 { try await secrets.putJSON("user\(i)", Array(#"{"password":"pw-\#(i)"}"#.utf8)) }
            #expect(owner.privateCollections == ["ops/credentials"])

            // The attacker rewrites the collection's record and its index entry without "private".
            let db = try await owner.database(named: "ops")
            let node = try await owner.collection(named: "credentials", in: "ops")
            let stripped = NodeMetadata(name: "credentials", chunks: node.metadata.chunks)
            try await Self.plant(try MetadataJSON.encode(stripped), at: node.name, through: fixture.transport.client, zone: fixture.server.zone)
            let indexName = try owner.layout.indexPage(0, chunk: node.chunk, of: db.name)
            let page = IndexPage(chunk: node.chunk, page: 0, entries: ["credentials": .node(stripped)])
            try await Self.plant(try page.text(level: .collection), at: indexName, through: fixture.transport.client, zone: fixture.server.zone)

            let before = try await PrivacyTests.zoneText(fixture)
            owner.invalidateCache()
            await Self.corrupt("a put by the client that saw it private") {
                try await owner.database("ops").collection("credentials").putJSON("new", Array(#"{"password":"in-the-clear"}"#.utf8))
            }
            let pinned = try Self.keyed(fixture, [key], pinned: ["ops/credentials"])
            await Self.corrupt("a put by a client configured with it as private") {
                try await pinned.database("ops").collection("credentials").putJSON("new", Array(#"{"password":"in-the-clear"}"#.utf8))
            }
            let fresh = try Self.keyed(fixture, [key])
            await Self.corrupt("a put next to sealed ids by a client holding keys") {
                try await fresh.database("ops").collection("credentials").putJSON("new", Array(#"{"password":"in-the-clear"}"#.utf8))
            }
            await Self.corrupt("a listing of sealed ids by a client holding keys") { try await fresh.database("ops").collection("credentials").ids() }
            let after = try await PrivacyTests.zoneText(fixture)
            #expect(before == after, "a refused write changed the zone")
            #expect(!after.contains("in-the-clear"))
        }
    }

    // MARK: Numbers out of bounds

    enum Plant: String, CaseIterable, CustomTestStringConvertible {
        case negativeChunks, hugeChunks, chunksAsExponent, negativeLength, hugeLength, zeroVersion, hugeVersion, upperCaseGeneration
        case duplicateMember, unknownMember
        case hugePages, negativePages, hugeFloor, negativeOpen, pageOfAnotherChunk
        case hugeCollectionChunks, zeroCollectionChunks, duplicateCollectionMember
        case indexOfZeroChunks, uniqueIndexOfTwoChunks, uniqueFalse, indexOfEmptyFieldName, indexInUnknownState

        var testDescription: String { rawValue }

        /// Where the plant goes: a document's record, its index page, or its collection's record.
        enum Target { case record, page, collection }

        var target: Target {
            switch self {
            case .hugePages, .negativePages, .hugeFloor, .negativeOpen, .pageOfAnotherChunk: return .page
            case .hugeCollectionChunks, .zeroCollectionChunks, .duplicateCollectionMember: return .collection
            case .indexOfZeroChunks, .uniqueIndexOfTwoChunks, .uniqueFalse, .indexOfEmptyFieldName, .indexInUnknownState: return .collection
            default: return .record
            }
        }

        /// The hostile text, made from what the store wrote.
        func text(record: StoredRecord, chunk: Int) -> [UInt8] {
            let h = record.header
            let big = Array(repeating: UInt8(ascii: "x"), count: 20_000)
            switch self {
            case .negativeChunks:
                return HostileRecordTests.record([("c", "-1"), ("g", "\"0000abcd\""), ("h", "\"\(h.digest)\""), ("id", "\"\(h.id)\""), ("n", "\(big.count)"), ("v", "2")], body: [])
            case .hugeChunks:
                return HostileRecordTests.record([("c", "4000000000000000000"), ("g", "\"0000abcd\""), ("h", "\"\(h.digest)\""), ("id", "\"\(h.id)\""), ("n", "\(big.count)"), ("v", "2")], body: [])
            case .chunksAsExponent:
                return HostileRecordTests.record([("c", "4e18"), ("g", "\"0000abcd\""), ("h", "\"\(h.digest)\""), ("id", "\"\(h.id)\""), ("n", "\(big.count)"), ("v", "2")], body: [])
            case .negativeLength:
                return HostileRecordTests.record([("h", "\"\(h.digest)\""), ("id", "\"\(h.id)\""), ("n", "-1"), ("v", "2")], body: record.body)
            case .hugeLength:
                return HostileRecordTests.record([("h", "\"\(h.digest)\""), ("id", "\"\(h.id)\""), ("n", "1000000000000"), ("v", "2")], body: record.body)
            case .zeroVersion:
                return HostileRecordTests.record([("h", "\"\(h.digest)\""), ("id", "\"\(h.id)\""), ("n", "\(h.storedLength)"), ("v", "0")], body: record.body)
            case .hugeVersion:
                return HostileRecordTests.record([("h", "\"\(h.digest)\""), ("id", "\"\(h.id)\""), ("n", "\(h.storedLength)"), ("v", "9223372036854775807")], body: record.body)
            case .upperCaseGeneration:
                return HostileRecordTests.record([("c", "1"), ("g", "\"ABCDEF12\""), ("h", "\"\(h.digest)\""), ("id", "\"\(h.id)\""), ("n", "20000"), ("v", "2")], body: [])
            case .duplicateMember:
                return HostileRecordTests.record([("h", "\"\(h.digest)\""), ("id", "\"\(h.id)\""), ("n", "\(h.storedLength)"), ("v", "2"), ("v", "3")], body: record.body)
            case .unknownMember:
                return HostileRecordTests.record([("h", "\"\(h.digest)\""), ("id", "\"\(h.id)\""), ("n", "\(h.storedLength)"), ("v", "2"), ("zz", "1")], body: record.body)
            case .hugePages:
                return Array(#"{"id":\#(chunk),"pages":1000000000000,"record":{"\#(h.id)":{}}}"#.utf8)
            case .negativePages:
                return Array(#"{"id":\#(chunk),"pages":-1,"record":{"\#(h.id)":{}}}"#.utf8)
            case .hugeFloor:
                return Array(#"{"floor":1e30,"id":\#(chunk),"record":{"\#(h.id)":{}}}"#.utf8)
            case .negativeOpen:
                return Array(#"{"id":\#(chunk),"open":-1,"pages":2,"record":{"\#(h.id)":{}}}"#.utf8)
            case .pageOfAnotherChunk:
                return Array(#"{"id":\#(chunk + 1),"record":{"\#(h.id)":{}}}"#.utf8)
            case .hugeCollectionChunks:
                return Array(#"{"chunks":{"total":1000000000000},"name":"c"}"#.utf8)
            case .zeroCollectionChunks:
                return Array(#"{"chunks":{"total":0},"name":"c"}"#.utf8)
            case .duplicateCollectionMember:
                return Array(#"{"chunks":{"total":4},"chunks":{"total":400000},"name":"c"}"#.utf8)
            case .indexOfZeroChunks:
                return Array(#"{"chunks":{"total":4},"indexes":{"k":{"chunks":{"total":0},"state":"readable"}},"name":"c"}"#.utf8)
            case .uniqueIndexOfTwoChunks:
                return Array(#"{"chunks":{"total":4},"indexes":{"k":{"chunks":{"total":2},"state":"readable","unique":true}},"name":"c"}"#.utf8)
            case .uniqueFalse:
                return Array(#"{"chunks":{"total":4},"indexes":{"k":{"chunks":{"total":2},"state":"readable","unique":false}},"name":"c"}"#.utf8)
            case .indexOfEmptyFieldName:
                return Array(#"{"chunks":{"total":4},"indexes":{"a..k":{"chunks":{"total":2},"state":"readable"}},"name":"c"}"#.utf8)
            case .indexInUnknownState:
                return Array(#"{"chunks":{"total":4},"indexes":{"k":{"chunks":{"total":2},"state":"sideways"}},"name":"c"}"#.utf8)
            }
        }
    }

    /// Every reader and writer of a record, page or collection holding a number the format does
    /// not allow reports it as corrupt, quickly, whether the primary or a read server serves it.
    @Test(arguments: Plant.allCases)
    func numbersOutsideTheFormatAreCorruptForEveryReader(_ plant: Plant) async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let docs = try await fixture.store.createDatabase("db").createCollection("c", chunks: 4)
            try await docs.putJSON("doc", Array(#"{"k":"v"}"#.utf8))
            let address = try await fixture.store.address(of: "doc", in: "c", of: "db")
            let original = try await Self.text(at: address.name, fixture.transport.client)
            let record = try RecordText.parse(.txt(TXT(splitting: original)), name: address.name)
            let target: DNSName
            switch plant.target {
            case .record: target = address.name
            case .page: target = try fixture.store.layout.indexPage(0, chunk: address.chunk, of: address.collection.name)
            case .collection: target = address.collection.name
            }
            let text = plant.text(record: record, chunk: address.chunk)
            try await Self.plant(text, at: target, through: fixture.transport.client, zone: fixture.server.zone)
            let (cold, _) = try fixture.coldStore()
            let c = cold.database("db").collection("c")
            switch plant.target {
            case .record:
                await Self.corrupt("get") { try await c.get("doc") }
                await Self.corrupt("delete") { try await c.delete("doc") }
                await Self.corrupt("put") { try await c.putJSON("doc", Array(#"{"k":"w"}"#.utf8)) }
                await Self.corrupt("scan") {
                    var all: [Document] = []
                    for try await page in c.scan() { all += page }
                    return all
                }
                // A member this version does not know is a newer writer's record, which a check
                // must not take for damage (a repair would delete it).
                let report = try await cold.check(repair: false)
                #expect(report.problems.contains { $0.kind == .damagedDocument } == (plant != .unknownMember), "fsck: \(report.problems)")
            case .page, .collection:
                await Self.corrupt("list") { try await c.ids() }
                // A new id of the same index chunk, whose create reads the planted page.
                let sibling = try #require((0..<1000).map { "other\($0)" }.first { Naming.chunk(for: $0, total: 4) == address.chunk })
                await Self.corrupt("put") { try await c.putJSON(sibling, Array(#"{"k":"w"}"#.utf8)) }
                await Self.corrupt("delete") { try await c.delete("doc") }
                await Self.corrupt("fsck") { try await cold.check(repair: false) }
            }

        }
    }

    /// The same plants served by a read server to `any` reads: get and list are corrupt.
    @Test(arguments: Plant.allCases)
    func numbersOutsideTheFormatFromAReadServerAreCorrupt(_ plant: Plant) async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let docs = try await fixture.store.createDatabase("db").createCollection("c", chunks: 4)
            try await docs.putJSON("doc", Array(#"{"k":"v"}"#.utf8))
            let address = try await fixture.store.address(of: "doc", in: "c", of: "db")
            let original = try await Self.text(at: address.name, fixture.transport.client)
            let record = try RecordText.parse(.txt(TXT(splitting: original)), name: address.name)
            let target: DNSName
            switch plant.target {
            case .record: target = address.name
            case .page: target = try fixture.store.layout.indexPage(0, chunk: address.chunk, of: address.collection.name)
            case .collection: target = address.collection.name
            }
            let hostile = try await EmbeddedServer.start(zone: fixture.server.zone)
            let writer = try await Self.mirror(fixture, into: hostile)
            try await Self.plant(plant.text(record: record, chunk: address.chunk), at: target, through: writer, zone: hostile.zone)
            let remote = try Self.readingFrom(hostile, fixture)
            let c = remote.database("db").collection("c")
            switch plant.target {
            case .record: await Self.corrupt("an `any` get from a read server") { try await c.get("doc") }
            case .page, .collection: await Self.corrupt("an `any` listing from a read server") { try await c.ids() }
            }
            await writer.shutdown()
            await hostile.stop()
        }
    }

    // MARK: Documents that are not strict JSON

    @Test(arguments: [
        #"{"a":1,"a":2}"#, "\u{FEFF}{}", #"{"a":"\ud800"}"#, String(repeating: "[", count: 513) + String(repeating: "]", count: 513), #"{"a":}"#,
    ])
    func storedOctetsThatAreNotStrictJSONAreCorrupt(_ body: String) async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let docs = try await fixture.store.createDatabase("db").createCollection("c")
            try await docs.putJSON("doc", Array(#"{"k":"v"}"#.utf8))
            let name = try await docs.recordName(of: "doc")
            let octets = Array(body.utf8)
            let text = Self.record([("h", "\"\(Self.digest(octets))\""), ("id", "\"doc\""), ("n", "\(octets.count)"), ("v", "2")], body: octets)
            try await Self.plant(text, at: name, through: fixture.transport.client, zone: fixture.server.zone)
            await Self.corrupt("get") { try await docs.get("doc") }
            await Self.corrupt("scan") {
                var all: [Document] = []
                for try await page in docs.scan() { all += page }
                return all
            }
            let report = try await fixture.store.check(repair: false)
            #expect(report.problems.contains { $0.kind == .damagedDocument && $0.detail.contains("strict JSON") }, "\(report.problems)")
        }
    }

    // MARK: Missing chunks, rollback

    /// A data chunk gone for good is corrupt after a second read finds the record unchanged,
    /// not a conflict after eight.
    @Test func aDataChunkMissingForGoodIsCorruptNotAConflict() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let docs = try await fixture.store.createDatabase("db").createCollection("c")
            let big = "{\"blob\":\"" + (0..<9000).map { _ in String(UInt32.random(in: 0...UInt32.max), radix: 36) }.joined() + "\"}"
            try await docs.putJSON("big", Array(big.utf8))
            let name = try await docs.recordName(of: "big")
            let record = try RecordText.parse(.txt(TXT(splitting: try await Self.text(at: name, fixture.transport.client))), name: name)
            let generation = try #require(record.header.generation)
            var update = UpdateBuilder(zone: fixture.server.zone)
            update.apply(.deleteName(try name.prepending("0-\(generation)")))
            _ = try await fixture.transport.client.update(update)
            let (cold, counter) = try fixture.coldStore()
            await Self.corrupt("a read of a document missing a chunk") { try await cold.database("db").collection("c").get("big") }
            #expect(counter.queries < 16, "\(counter.queries) queries: the read retried as if the document kept changing")
        }
    }

    /// An old record put back is noticed by a client that saw a later version, which neither
    /// returns it nor writes a version number again; a client that never saw the later one cannot
    /// tell (docs/SECURITY.md says so).
    @Test func aRollbackIsNoticedByTheClientThatSawALaterVersion() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let docs = try await fixture.store.createDatabase("db").createCollection("c")
            try await docs.putJSON("doc", Array(#"{"n":1}"#.utf8))
            let name = try await docs.recordName(of: "doc")
            let first = try await Self.text(at: name, fixture.transport.client)
            try await docs.updateJSON("doc", Array(#"{"n":2}"#.utf8), ifVersion: 1)
            try await docs.updateJSON("doc", Array(#"{"n":3}"#.utf8), ifVersion: 2)
            try await Self.plant(first, at: name, through: fixture.transport.client, zone: fixture.server.zone)

            await Self.corrupt("a read of the rolled-back document") { try await docs.get("doc") }
            await Self.corrupt("a put over it") { try await docs.putJSON("doc", Array(#"{"n":4}"#.utf8)) }
            await Self.corrupt("a compare-and-swap against it") { try await docs.updateJSON("doc", Array(#"{"n":4}"#.utf8), ifVersion: 1) }
            #expect(try await Self.text(at: name, fixture.transport.client) == first, "a refused write changed the record")
            let (stranger, _) = try fixture.coldStore()
            #expect(try await stranger.database("db").collection("c").get("doc")?.version == 1)

            // A floor rolled back: after a delete at version 3, a create must not start at 1 again.
            let other = try await docs.putJSON("other", Array(#"{"n":1}"#.utf8))
            try await docs.updateJSON("other", Array(#"{"n":2}"#.utf8), ifVersion: other)
            let address = try await fixture.store.address(of: "other", in: "c", of: "db")
            let pageName = try fixture.store.layout.indexPage(0, chunk: address.chunk, of: address.collection.name)
            let pageBefore = try await Self.text(at: pageName, fixture.transport.client)
            try await docs.delete("other")
            try await Self.plant(pageBefore, at: pageName, through: fixture.transport.client, zone: fixture.server.zone)
            await Self.corrupt("a create above a rolled-back floor") { try await docs.putJSON("other", Array(#"{"n":9}"#.utf8)) }
        }
    }

    // MARK: The root's spelling

    /// `R` is bound lower-cased: a private collection written under `Example.TEST` opens under
    /// `example.test` and the other way round; one bound as typed before the rule still opens
    /// under its own spelling.
    @Test func privateCollectionsOpenWhateverCaseTheDomainIsSpelledIn() async throws {
        try await StoreFixture.with(Backend.embedded) { fixture in
            let key = EncryptionKey.generate()
            func store(_ domain: String) throws -> DocumentStore {
                var configuration = StoreConfiguration(domain: try DNSName(domain))
                configuration.encryptionKeys = EncryptionKeys([key])
                return try DocumentStore(configuration: configuration, transport: fixture.transport)
            }
            let upper = try store("Example.TEST")
            try await upper.createDatabase("ops")
            try await upper.database("ops").createCollection("s", private: true).putJSON("a", Array(#"{"x":1}"#.utf8))
            let lower = try store("example.test")
            #expect(try await lower.database("ops").collection("s").get("a")?.json == Array(#"{"x":1}"#.utf8))
            try await lower.database("ops").collection("s").putJSON("b", Array(#"{"x":2}"#.utf8))
            #expect(try await store("EXAMPLE.test").database("ops").collection("s").get("b")?.json == Array(#"{"x":2}"#.utf8))

            // Wraps bound to the root as typed (before the rule) open under that spelling.
            let asTyped = try CollectionSecrets.create(
                keys: EncryptionKeys([key]), place: .init(root: "_dnsstore.Example.TEST.", database: "ops", collection: "old")).0
            #expect(try upper.openSecrets(asTyped, database: "ops", collection: "old").root == "_dnsstore.Example.TEST.")
            #expect(throws: StoreError.self) { try lower.openSecrets(asTyped, database: "ops", collection: "old") }
        }
    }
}

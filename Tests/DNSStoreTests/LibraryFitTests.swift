import DNSClient
import DNSStore
import DNSStoreEmbedded
import DNSTestSupport
import DNSWire
import Foundation
import Logging
import ServiceLifecycle
import Testing

/// What a Swift service relies on when it links the store: a lifecycle, a logger, configuration
/// by host name, start-up code that can run every time, and documents other languages read.
@Suite("The library in a Swift service")
struct LibraryFitTests {
    struct Node: Codable, Sendable, Equatable {
        var name: String
        var seen: Date
    }

    /// The data directory of an embedded store, removed afterwards.
    static func withDirectory(_ body: (String) async throws -> Void) async throws {
        let directory = try TempDirectory.make("library")
        defer { try? FileManager.default.removeItem(at: directory) }
        try await body(directory.path)
    }

    /// Encryption keys come from the file `dnsstore keygen --encryption` writes; filters in code
    /// take literals.
    @Test func encryptionKeysAreReadFromTheirFileAndFiltersTakeLiterals() async throws {
        try await Self.withDirectory { directory in
            let (current, older) = (EncryptionKey.generate(), EncryptionKey.generate())
            let file = directory + "/encryption.key"
            try "# rotated\n\(current.fileLine)\n\(older.fileLine)\n".write(toFile: file, atomically: true, encoding: .utf8)
            let keys = try EncryptionKeys(contentsOfFile: file)
            #expect(keys.all == [current, older])
            let missing = #expect(throws: StoreError.self) { try EncryptionKeys(contentsOfFile: directory + "/none.key") }
            #expect(missing?.code == .encryptionKey && missing?.detail == "cannot read the encryption key file \(directory)/none.key: it does not exist")
            try "dnsstore-encryption-key abc notbase64!\n".write(toFile: file, atomically: true, encoding: .utf8)
            let broken = #expect(throws: StoreError.self) { try EncryptionKeys(contentsOfFile: file) }
            #expect(broken?.detail == "the encryption key file \(file): line 1 of the key file: the secret is not base64")

            let store = try DocumentStore.embedded(directory: directory, encryptionKeys: keys)
            let hosts = try await store.createDatabase("inventory").createCollection("hosts", private: true)
            try await hosts.put("web1", ["role": JSONValue.string("web"), "port": 8080, "up": true])
            try await hosts.put("db1", ["role": JSONValue.string("db"), "port": 5432, "up": false])
            #expect(try await hosts.find(.equals("role", "web")).map(\.id) == ["web1"])
            #expect(try await hosts.find(.and([.equals("port", 5432), .equals("up", false)])).map(\.id) == ["db1"])
            #expect(try await hosts.find(.not(.equals("nothing", nil))).count == 2)
            await store.shutdown()
        }
    }

    @Test func anEmbeddedStoreRunsAsAServiceAndClosesItsFileOnGracefulShutdown() async throws {
        try await Self.withDirectory { directory in
            let store = try DocumentStore.embedded(directory: directory)
            let group = ServiceGroup(services: [store], logger: Logger(label: "test"))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let docs = try await store.database("app").createCollection("nodes", ifMissing: true)
                try await docs.put("web1", ["up": true])
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            // Closed, and what it wrote is in the file for the next store to open.
            let again = try DocumentStore.embedded(directory: directory)
            #expect(try await again.database("app").collection("nodes").get("web1")?.json == Array(#"{"up":true}"#.utf8))
            await again.shutdown()
            await again.shutdown()
        }
    }

    @Test func startUpCodeCreatesWhatIsMissingAndTakesWhatIsThere() async throws {
        try await Self.withDirectory { directory in
            let store = try DocumentStore.embedded(directory: directory)
            defer { Task { await store.shutdown() } }
            for _ in 0..<2 {
                _ = try await store.createDatabase("app", ifMissing: true)
                _ = try await store.database("app").createCollection("nodes", ifMissing: true)
            }
            // A collection created in the database's absence brings the database.
            _ = try await store.database("other").createCollection("c", ifMissing: true)
            #expect(try await store.databases() == ["app", "other"])
            // Plain where private was asked: refused, never written in the clear.
            var keys = StoreConfiguration(domain: LocalTransport.defaultZone)
            keys.encryptionKeys = EncryptionKeys([EncryptionKey.generate()])
            let keyed = try DocumentStore.embedded(directory: directory + "-keyed", configuration: keys)
            defer {
                Task { await keyed.shutdown() }
                try? FileManager.default.removeItem(atPath: directory + "-keyed")
            }
            _ = try await keyed.database("app").createCollection("plain", ifMissing: true)
            let error = await #expect(throws: StoreError.self) {
                _ = try await keyed.database("app").createCollection("plain", private: true, ifMissing: true)
            }
            #expect(error?.code == .alreadyExists)
            _ = try await keyed.database("app").createCollection("sealed", private: true, ifMissing: true)
            _ = try await keyed.database("app").createCollection("sealed", private: true, ifMissing: true)
        }
    }

    @Test func writingToANewCollectionCreatesItWhenConfiguredAndOtherwiseSaysItIsMissing() async throws {
        try await Self.withDirectory { directory in
            let strict = try DocumentStore.embedded(directory: directory)
            let error = await #expect(throws: StoreError.self) { try await strict.database("app").collection("nodes").put("a", ["n": 1]) }
            #expect(error?.code == .notFound)
            #expect(error.map { !$0.detail.contains("--") && !$0.detail.contains("dnsstore ") } == true, "\(String(describing: error))")
            await strict.shutdown()

            var configuration = StoreConfiguration(domain: LocalTransport.defaultZone)
            configuration.createIfMissing = true
            let lenient = try DocumentStore.embedded(directory: directory, configuration: configuration)
            defer { Task { await lenient.shutdown() } }
            _ = try await lenient.batch { batch in
                try batch.put(lenient.database("app").collection("nodes"), "a", ["n": 1])
                try batch.put(lenient.database("app").collection("services"), "b", ["n": 2])
            }
            #expect(try await lenient.database("app").collections() == ["nodes", "services"])
        }
    }

    @Test func datesAreISO8601TextThatOtherLanguagesReadAndOldNumbersStillDecode() async throws {
        try await Self.withDirectory { directory in
            let store = try DocumentStore.embedded(directory: directory)
            defer { Task { await store.shutdown() } }
            let nodes = try await store.database("app").createCollection("nodes", ifMissing: true)
            let seen = Date(timeIntervalSince1970: 1_796_580_000.25)
            try await nodes.put("web1", Node(name: "web1", seen: seen))
            let raw = try #require(try await nodes.get("web1"))
            #expect(String(decoding: raw.json, as: UTF8.self) == #"{"name":"web1","seen":"2026-12-06T18:00:00.250Z"}"#)
            #expect(try await nodes.get("web1", as: Node.self)?.value == Node(name: "web1", seen: seen))
            // What Foundation's default wrote: seconds since 2001.
            try await nodes.putJSON("old", Array(#"{"name":"old","seen":818272800.25}"#.utf8))
            #expect(try await nodes.get("old", as: Node.self)?.value.seen == seen)
            // Typed find, with ids and versions.
            let found = try await nodes.find(Filter(parsing: "name=web1"), as: Node.self)
            #expect(found.map(\.id) == ["web1"] && found.first?.version == 1 && found.first?.value.seen == seen)
        }
    }

    @Test func anEncoderOfTheProgramsOwnIsUsed() async throws {
        try await Self.withDirectory { directory in
            var configuration = StoreConfiguration(domain: LocalTransport.defaultZone)
            configuration.coding = DocumentCoding(
                makeEncoder: {
                    let encoder = JSONEncoder()
                    encoder.dateEncodingStrategy = .secondsSince1970
                    return encoder
                },
                makeDecoder: {
                    let decoder = JSONDecoder()
                    decoder.dateDecodingStrategy = .secondsSince1970
                    return decoder
                })
            configuration.createIfMissing = true
            let store = try DocumentStore.embedded(directory: directory, configuration: configuration)
            defer { Task { await store.shutdown() } }
            let nodes = store.database("app").collection("nodes")
            try await nodes.put("web1", Node(name: "web1", seen: Date(timeIntervalSince1970: 1000)))
            #expect(try await nodes.get("web1")?.jsonObject.flatMap { ($0 as? [String: Any])?["seen"] as? Double } == 1000)
            #expect(try await nodes.get("web1", as: Node.self)?.value.seen == Date(timeIntervalSince1970: 1000))
        }
    }

    @Test func serversAreNamedByHostNameAndTheStoreShutsDownWhatItMade() async throws {
        let server = try await EmbeddedServer.start()
        defer { Task { await server.stop() } }
        var configuration = StoreConfiguration(domain: server.zone)
        configuration.createIfMissing = true
        let store = try DocumentStore(
            configuration: configuration, primaries: ["localhost:\(server.port)"], readServers: ["127.0.0.1:\(server.port)"],
            key: server.key, timeout: .seconds(1), attempts: 2)
        try await store.database("app").collection("nodes").put("web1", ["up": true])
        #expect(try await store.database("app").collection("nodes").get("web1") != nil)
        await store.shutdown()

        for bad in ["localhost:port", "nowhere.invalid:53", ":53"] {
            let error = #expect(throws: StoreError.self) {
                _ = try DocumentStore(configuration: configuration, primaries: [bad], key: server.key)
            }
            #expect(error?.code == .unreachable, "\(bad)")
        }
    }

    @Test func theEnvironmentConfiguresTheStoreAsItDoesTheCommandLine() async throws {
        try await Self.withDirectory { directory in
            // Nothing but a data directory: the embedded store there.
            let local = try DocumentStore.fromEnvironment(["DNSSTORE_DATA": directory + "/data"])
            try await local.database("app").createCollection("c", ifMissing: true).put("a", ["n": 1])
            await local.shutdown()
            #expect(FileManager.default.fileExists(atPath: directory + "/data/zones.sqlite"))

            // A server by host name, the domain and key from the environment.
            let server = try await EmbeddedServer.start()
            defer { Task { await server.stop() } }
            let keyFile = directory + "/tsig.key"
            try server.key.bindKeyFile.write(toFile: keyFile, atomically: true, encoding: .utf8)
            let remote = try DocumentStore.fromEnvironment([
                "DNSSTORE_SERVER": "localhost:\(server.port)", "DNSSTORE_DOMAIN": "example.test", "DNSSTORE_KEY_FILE": keyFile,
            ])
            try await remote.database("app").createCollection("c", ifMissing: true).put("a", ["n": 2])
            #expect(try await remote.database("app").collection("c").get("a")?.version == 1)
            await remote.shutdown()

            // What cannot be used is named.
            let file = directory + "/dnsstore.json"
            try #"{"domian": "example.test"}"#.write(toFile: file, atomically: true, encoding: .utf8)
            let cases: [([String: String], String)] = [
                (["DNSSTORE_CONFIG": file], "unknown key 'domian' (did you mean 'domain'?)"),
                (["DNSSTORE_CONFIG": directory + "/none.json"], "config file \(directory)/none.json does not exist"),
                (["DNSSTORE_CONSISTENCY": "eventual"], "it must be latest, session or any"),
                (["DNSSTORE_READ_SERVERS": "127.0.0.1:53", "DNSSTORE_DOMAIN": "example.test"], "no server to write to"),
                (["DNSSTORE_SERVER": "127.0.0.1:53"], "no domain"),
                (["DNSSTORE_SERVER": "127.0.0.1:53", "DNSSTORE_DOMAIN": "example.test", "DNSSTORE_KEY_FILE": directory + "/no.key"],
                 "cannot read the key file"),
            ]
            for (environment, expected) in cases {
                let error = #expect(throws: ConfigurationError.self) { _ = try DocumentStore.fromEnvironment(environment) }
                #expect(error?.description.contains(expected) == true, "\(environment): \(String(describing: error))")
            }
        }
    }
}

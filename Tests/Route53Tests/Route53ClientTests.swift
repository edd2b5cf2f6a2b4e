import DNSStoreRoute53
import DNSTestSupport
import Foundation
import Testing

/// The Route 53 API as a store uses it, against moto's server on loopback: a batch is all or
/// nothing, and DELETE of the exact current values plus CREATE of the new is a compare-and-swap.
@Suite("Route 53 API", .enabled(if: MotoServer.isAvailable), .serialized)
struct Route53ClientTests {
    static let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")

    static func withZone(_ body: (Route53Client, String) async throws -> Void) async throws {
        let moto = try await MotoServer.start()
        defer { moto.stop() }
        let client = Route53Client(configuration: Route53Configuration(credentials: credentials, endpoint: moto.endpoint))
        let zone = try await client.createHostedZone(name: "example.test.")
        try await body(client, zone)
    }

    static func txt(_ name: String, _ value: String) -> Route53RecordSet {
        Route53RecordSet(name: name, type: "TXT", ttl: 60, values: ["\"\(value)\""])
    }

    /// The TXT value of `name`, read back through ListResourceRecordSets from that name.
    static func value(_ client: Route53Client, _ zone: String, _ name: String) async throws -> String? {
        let page = try await client.recordSets(zone: zone, from: name, type: "TXT", maxItems: 1)
        guard let set = page.recordSets.first, set.name == name, set.type == "TXT" else { return nil }
        return set.values.first.map { String($0.dropFirst().dropLast()) }
    }

    /// A batch is all or nothing: a swap from the current value is applied; a swap that lost the
    /// race (another writer already made the same change) is refused as a whole, its other
    /// change included. moto checks a DELETE against the values the set ever had, not against its
    /// current ones (AWS refuses a DELETE that does not match the current values), so a stale
    /// DELETE with a new value is accepted there: this test keeps to what both refuse.
    @Test func aBatchThatLostTheRaceIsRefusedWhole() async throws {
        try await Self.withZone { client, zone in
            let name = "doc.example.test."
            _ = try await client.change(zone: zone, [Route53Change(.create, Self.txt(name, "v1"))])
            #expect(try await Self.value(client, zone, name) == "v1")

            let swap = [Route53Change(.delete, Self.txt(name, "v1")), Route53Change(.create, Self.txt(name, "v2"))]
            let info = try await client.change(zone: zone, swap)
            #expect(["PENDING", "INSYNC"].contains(info.status))
            #expect(["PENDING", "INSYNC"].contains(try await client.change(id: info.id).status))
            #expect(try await Self.value(client, zone, name) == "v2")

            do {
                _ = try await client.change(zone: zone, [Route53Change(.create, Self.txt("other.example.test.", "x"))] + swap)
                Issue.record("a swap from a value no longer there was applied")
            } catch Route53Error.rejectedBatch(let why) {
                #expect(!why.isEmpty)
            }
            #expect(try await Self.value(client, zone, name) == "v2")
            #expect(try await Self.value(client, zone, "other.example.test.") == nil, "part of a refused batch was applied")
        }
    }

    /// Four writers, 25 compare-and-swap increments each through the API: exactly 100.
    @Test func racingIncrementsAreNeverLost() async throws {
        try await Self.withZone { client, zone in
            let name = "counter.example.test."
            _ = try await client.change(zone: zone, [Route53Change(.create, Self.txt(name, "0"))])
            let conflicts = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        var conflicts = 0
                        var done = 0
                        while done < 25 {
                            guard let text = try await Self.value(client, zone, name), let value = Int(text) else { continue }
                            do {
                                _ = try await client.change(zone: zone, [
                                    Route53Change(.delete, Self.txt(name, text)), Route53Change(.create, Self.txt(name, "\(value + 1)")),
                                ])
                                done += 1
                            } catch Route53Error.rejectedBatch {
                                conflicts += 1
                            }
                        }
                        return conflicts
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(try await Self.value(client, zone, name) == "100", "after \(conflicts) conflicts")
        }
    }

    /// Listing pages through a zone in order, each page starting where the last said.
    @Test func recordSetsArePagedInOrder() async throws {
        try await Self.withZone { client, zone in
            let names = (0..<7).map { "n\($0).example.test." }
            _ = try await client.change(zone: zone, names.map { Route53Change(.create, Self.txt($0, $0)) })
            var seen: [String] = []
            var from: (name: String, type: String)?
            repeat {
                let page = try await client.recordSets(zone: zone, from: from?.name, type: from?.type, maxItems: 3)
                #expect(page.recordSets.count <= 3)
                seen += page.recordSets.filter { $0.type == "TXT" }.map(\.name)
                from = page.next
            } while from != nil
            #expect(seen == names)
        }
    }

    /// A zone id that does not exist, and an endpoint that is not Route 53: errors that say so.
    @Test func aWrongZoneOrEndpointIsNamed() async throws {
        try await Self.withZone { client, _ in
            do {
                _ = try await client.change(zone: "ZNOSUCHZONE", [Route53Change(.create, Self.txt("x.example.test.", "x"))])
                Issue.record("a change to a missing zone was accepted")
            } catch Route53Error.noSuchZone(let why) {
                #expect(why.contains("ZNOSUCHZONE"))
            }
        }
        let port = Ports.free()
        var configuration = Route53Configuration(credentials: Self.credentials, endpoint: URL(string: "http://127.0.0.1:\(port)")!)
        configuration.attempts = 1
        configuration.timeout = .seconds(2)
        do {
            _ = try await Route53Client(configuration: configuration).recordSets(zone: "Z1")
            Issue.record("nothing listening, yet an answer")
        } catch Route53Error.unreachable(let why) {
            #expect(why.contains("127.0.0.1:\(port)"))
        }
    }
}

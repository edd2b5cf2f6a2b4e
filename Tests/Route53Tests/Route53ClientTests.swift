import DNSStoreRoute53
import DNSTestSupport
import Foundation
import Testing

/// The Route 53 API as a store uses it, against moto's server on loopback behind a proxy that
/// refuses what AWS refuses (`Route53Double`): a batch is all or nothing, and DELETE of the exact
/// current values plus CREATE of the new is a compare-and-swap.
@Suite("Route 53 API", .enabled(if: MotoServer.isAvailable), .serialized)
struct Route53ClientTests {

    static func withZone(throttleEvery: Int = 0, _ body: (Route53Client, String, Route53Double) async throws -> Void) async throws {
        let double = try await Route53Double.start(throttleEvery: throttleEvery)
        defer { double.stop() }
        let (client, zone) = try await double.hostedZone()
        try await body(client, zone, double)
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

    /// A swap from the current value is applied; one from a value no longer there is refused as a
    /// whole, the batch's other change included; a CREATE of a set that exists is refused.
    @Test func aDeleteOfTheCurrentValuesWithACreateIsACompareAndSwap() async throws {
        try await Self.withZone { client, zone, double in
            let name = "doc.example.test."
            _ = try await client.change(zone: zone, [Route53Change(.create, Self.txt(name, "v1"))])
            #expect(try await Self.value(client, zone, name) == "v1")

            let info = try await client.change(zone: zone, [Route53Change(.delete, Self.txt(name, "v1")), Route53Change(.create, Self.txt(name, "v2"))])
            #expect(["PENDING", "INSYNC"].contains(info.status))
            #expect(["PENDING", "INSYNC"].contains(try await client.change(id: info.id).status))
            #expect(try await Self.value(client, zone, name) == "v2")

            for stale in [
                [Route53Change(.create, Self.txt("other.example.test.", "x")), Route53Change(.delete, Self.txt(name, "v1")),
                 Route53Change(.create, Self.txt(name, "v3"))],
                [Route53Change(.create, Self.txt(name, "v9"))],
            ] {
                do {
                    _ = try await client.change(zone: zone, stale)
                    Issue.record("applied: \(stale.map { "\($0.action) \($0.recordSet.values)" })")
                } catch Route53Error.rejectedBatch(let why) {
                    #expect(why.contains(name))
                }
            }
            #expect(try await Self.value(client, zone, name) == "v2")
            #expect(try await Self.value(client, zone, "other.example.test.") == nil, "part of a refused batch was applied")
            #expect(double.counts.refused == 2)
        }
    }

    /// With every other request answered `Throttling`, each change is retried until applied, and
    /// applied once: ten compare-and-swap increments end at exactly 10.
    @Test func throttledRequestsAreRetriedAndAppliedOnce() async throws {
        try await Self.withZone(throttleEvery: 2) { client, zone, double in
            let name = "counter.example.test."
            _ = try await client.change(zone: zone, [Route53Change(.create, Self.txt(name, "0"))])
            for i in 0..<10 {
                _ = try await client.change(zone: zone, [
                    Route53Change(.delete, Self.txt(name, "\(i)")), Route53Change(.create, Self.txt(name, "\(i + 1)")),
                ])
            }
            #expect(try await Self.value(client, zone, name) == "10")
            #expect(double.counts.throttled >= 10, "\(double.counts.throttled) requests throttled")
        }
    }

    /// Four writers, 25 compare-and-swap increments each through the API: exactly 100.
    @Test func racingIncrementsAreNeverLost() async throws {
        try await Self.withZone { client, zone, _ in
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
        try await Self.withZone { client, zone, _ in
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
        try await Self.withZone { client, _, _ in
            do {
                _ = try await client.change(zone: "ZNOSUCHZONE", [Route53Change(.create, Self.txt("x.example.test.", "x"))])
                Issue.record("a change to a missing zone was accepted")
            } catch Route53Error.noSuchZone(let why) {
                #expect(why.contains("ZNOSUCHZONE"))
            }
        }
        let port = Ports.free()
        var configuration = Route53Configuration(credentials: Route53Double.credentials, endpoint: URL(string: "http://127.0.0.1:\(port)")!)
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

import DNSTestSupport
import Foundation
import Testing

/// `--stats`: what a command cost in DNS traffic, on standard error.
@Suite("Command statistics")
struct StatsTests {
    /// The figures of one kind in a `--stats` line: requests, octets sent, answers, octets received.
    static func figures(_ stderr: String, _ noun: String) -> [Int]? {
        guard let line = stderr.split(separator: "\n").last(where: { $0.hasPrefix("dnsstore: sent ") }) else { return nil }
        for part in line.dropFirst("dnsstore: sent ".count).components(separatedBy: "), ") {
            let words = part.split(separator: " ")
            guard words.count > 1, words[1].hasPrefix(noun) else { continue }
            return part.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
        }
        return nil
    }

    /// A put of a new document into a collection that exists is one UPDATE, a get sends no UPDATE,
    /// every request got its answer, and the octets are counted; without the flag nothing is said.
    @Test func aCommandSaysWhatItSentWhenAsked() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        #expect(try await cli.run("collection", "create", "app/config").status == 0)

        let put = try await cli.run("put", "app/config/web", #"{"port":8080}"#, "--stats")
        #expect(put.status == 0, "\(put.stderr)")
        let update = try #require(Self.figures(put.stderr, "UPDATE"), "no UPDATE counted: \(put.stderr)")
        #expect(update.count == 4 && update[0] == 1 && update[2] == 1, "\(put.stderr)")
        // An UPDATE holding a record of the document is larger than its header.
        #expect(update[1] > 40 && update[3] >= 12, "\(put.stderr)")
        let reads = try #require(Self.figures(put.stderr, "quer"))
        #expect(reads[0] >= 1 && reads[0] == reads[2], "every query answered: \(put.stderr)")

        // Before the subcommand too, as the other connection options.
        let get = try await cli.run("--stats", "get", "app/config/web")
        #expect(get.out == #"{"port":8080}"#)
        #expect(Self.figures(get.stderr, "UPDATE") == nil, "a get sent an UPDATE: \(get.stderr)")
        let queries = try #require(Self.figures(get.stderr, "quer"), "\(get.stderr)")
        #expect(queries[0] >= 1 && queries[1] > 12 * queries[0] && queries[3] > 12 * queries[2], "\(get.stderr)")

        let quiet = try await cli.run("get", "app/config/web")
        #expect(quiet.stderr.isEmpty, "\(quiet.stderr)")
        // A command that fails still says what it sent, after its error.
        let missing = try await cli.run("get", "app/config/none", "--stats")
        #expect(missing.status == 3 && missing.stderr.contains("not found") && Self.figures(missing.stderr, "quer") != nil, "\(missing.stderr)")
    }
}

import DNSTestSupport
import Foundation
import Testing

/// The benchmark's command line is checked before anything starts, so that a typo costs a message,
/// not minutes of the wrong benchmark.
@Suite("Benchmark command line")
struct BenchArgumentsTests {
    static func bench(_ arguments: [String]) async throws -> Subprocess.Result {
        try await Subprocess.run(try BuiltProducts.executable("dnsstore-bench"), arguments)
    }

    @Test func helpPrintsTheUsageAndRunsNothing() async throws {
        let result = try await Self.bench(["--help"])
        #expect(result.status == 0)
        #expect(result.stdout.hasPrefix("usage: dnsstore-bench"))
        #expect(result.stdout.contains("--updates-only"))
    }

    @Test(arguments: [
        (["sevrers"], "unknown argument 'sevrers'"),
        (["servers", "--seconds"], "--seconds needs a value"),
        (["servers", "--rounds", "0"], "--rounds does not take '0'"),
        (["servers", "--seconds", "inf"], "--seconds does not take 'inf'"),
        (["--measure-get", "port", "secret"], "--measure-get needs a port and a secret"),
        (["client", "--profile", "quic"], "--profile does not take 'quic'"),
        (["store", "servers"], "two modes given: store and servers"),
    ])
    func badArgumentsAreNamedAndNothingRuns(_ arguments: [String], _ message: String) async throws {
        let result = try await Self.bench(arguments)
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("dnsstore-bench: \(message)\n"))
        #expect(result.stdout.isEmpty)
    }
}

import DNSTestSupport
import Foundation
import Testing

/// README.md's quickstart, run exactly as written, in a fresh directory.
@Suite("README quickstart")
struct QuickstartTests {
    /// The first ```sh block after `marker` in README.md.
    static func block(after marker: String) throws -> String {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let start = try #require(text.range(of: marker), "README.md has no \(marker)")
        let open = try #require(text.range(of: "```sh\n", range: start.upperBound..<text.endIndex))
        let close = try #require(text.range(of: "\n```", range: open.upperBound..<text.endIndex))
        return String(text[open.upperBound..<close.lowerBound])
    }

    /// Runs a block with bash, stopping at the first failing command, with `dnsstore` on PATH.
    static func run(_ script: String, in directory: URL) async throws -> Subprocess.Result {
        let bin = directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let wrapper = bin.appendingPathComponent("dnsstore")
        try "#!/bin/sh\nexec '\(try BuiltProducts.executable("dnsstore"))' \"$@\"\n".write(to: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper.path, 0o755)
        let path = bin.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let work = directory.appendingPathComponent("work")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        // The block's background jobs (a server, a watch) end with it, even when a step fails
        // before the block's own `kill`: a failed run must not leave a server behind.
        let guarded = "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n" + script
        return try await Subprocess.run("bash", ["-e", "-c", guarded], environment: ["PATH": path], directory: work)
    }

    @Test func theEmbeddedQuickstartRunsAsWritten() async throws {
        let directory = try TempDirectory.make("quickstart")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try await Self.run(try Self.block(after: "<!-- quickstart:"), in: directory)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.isEmpty, "\(result.stderr)")
        #expect(result.stdout.contains(#"{"id":"web1","version":1,"doc":{"ip":"10.0.0.5","role":"web"}}"#))
        #expect(result.stdout.contains(#"{"path":"inventory/hosts/web1","version":2}"#))
        #expect(result.stdout.contains("(2 rows)"))
        #expect(result.stdout.contains(#"[{"id":"web1","version":2,"doc":{"ip":"10.0.0.6","role":"web"}}]"#))
        #expect(result.stdout.contains(#""problems":[]"#))
    }

    @Test func theServerQuickstartRunsAsWritten() async throws {
        let directory = try TempDirectory.make("quickstart")
        defer { try? FileManager.default.removeItem(at: directory) }
        let block = try Self.block(after: "<!-- quickstart-server:")
        let result = try await Self.run(block.replacingOccurrences(of: "5353", with: "\(Ports.free())"), in: directory)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains(#"{"path":"inventory/hosts/web1","version":1}"#))
        #expect(result.stdout.contains(#"\"version\":1"#))
    }

}

/// README.md's lease example, in real time (run apart from the other suites: scripts/test).
@Suite("README lease example, in real time")
struct RealTimeQuickstartTests {
    /// The service-registration example: a node registers under a lease and renews it; when it
    /// dies, its entry is gone within the lease's time, and a watch saw it come and go.
    @Test func theLeaseExampleRunsAsWritten() async throws {
        let directory = try TempDirectory.make("quickstart")
        defer { try? FileManager.default.removeItem(at: directory) }
        let block = try QuickstartTests.block(after: "<!-- leases:")
        let result = try await QuickstartTests.run(block.replacingOccurrences(of: "5353", with: "\(Ports.free())"), in: directory)
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains(#"["web1"]"#) && lines.contains("[]"), "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix(#"{"op":"put","path":"cluster/nodes/web1""#) }, "\(result.stdout)")
        #expect(lines.contains { $0.hasPrefix(#"{"op":"delete","path":"cluster/nodes/web1""#) && $0.contains(#""reason":"expired""#) }, "\(result.stdout)")
    }
}

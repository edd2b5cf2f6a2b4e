import DNSTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Secret files are never readable by others, not even for the instant between creating and
/// chmod-ing them: the system call that creates them already asks for mode 0600.
@Suite("Secret files")
struct SecretFileTests {
    /// The modes with which `arguments` (a dnsstore command, run under strace) creates files whose
    /// paths contain `fragment`, the zone database aside: the key, and any file written on the way to it.
    static func creationModes(of fragment: String, running arguments: [String], in directory: URL, until: (() async throws -> Void)? = nil)
        async throws -> [String]
    {
        let trace = directory.appendingPathComponent("trace.txt").path
        // LeakSanitizer cannot run under ptrace: in an AddressSanitizer build it would end the
        // traced program with an error of its own.
        let asan = (Subprocess.childEnvironment()["ASAN_OPTIONS"].map { $0 + ":" } ?? "") + "detect_leaks=0"
        let command = ["-f", "-qq", "-e", "trace=open,openat,creat", "-E", "ASAN_OPTIONS=\(asan)", "-o", trace, try BuiltProducts.executable("dnsstore")]
            + arguments
        if let until {
            let process = try Subprocess.start("strace", command, logFile: directory.appendingPathComponent("strace.log").path)
            try await until()
            // Stop the traced program by its PID; strace then exits with it.
            let children = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/task/\(process.processIdentifier)/children", encoding: .utf8)) ?? ""
            for pid in children.split(separator: " ").compactMap({ Int32($0) }) { kill(pid, SIGTERM) }
            await process.exited()
        } else {
            let result = try await Subprocess.run("strace", command, directory: directory)
            #expect(result.status == 0, "\(result.stderr)")
        }
        let lines = try String(contentsOfFile: trace, encoding: .utf8).split(separator: "\n")
        return lines.filter { $0.contains(fragment) && $0.contains("O_CREAT") && !$0.contains("zones.sqlite") }.map { line in
            String(line.split(separator: ",").last?.split(separator: ")").first?.trimmingCharacters(in: .whitespaces) ?? "?")
        }
    }

    @Test func theKeyServeGeneratesIsCreatedOwnerOnly() async throws {
        let directory = try TempDirectory.make("secret")
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = Ports.free()
        let modes = try await Self.creationModes(
            of: directory.appendingPathComponent("data").path, running: ["serve", "--data", directory.appendingPathComponent("data").path, "--listen", "127.0.0.1:\(port)"],
            in: directory
        ) { try await Ports.waitForTCP(port) }
        #expect(!modes.isEmpty, "no key file was created")
        #expect(modes.allSatisfy { $0 == "0600" }, "created with modes \(modes)")
        let attributes = try FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent("data/tsig.key").path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test func keygenWritesANewFileOwnerOnlyAndNeverReplacesOne() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let modes = try await Self.creationModes(of: "app.key", running: ["keygen", "app-key", "--output", "app.key"], in: cli.directory)
        #expect(!modes.isEmpty && modes.allSatisfy { $0 == "0600" }, "created with modes \(modes)")
        let path = cli.directory.appendingPathComponent("app.key").path
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o600)
        let key = try String(contentsOfFile: path, encoding: .utf8)
        #expect(key.hasPrefix(#"key "app-key""#))
        let again = try await cli.run("keygen", "other", "--output", "app.key")
        #expect(again.status == 2 && again.err.contains("it already exists; not replacing a key"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == key)
    }
}

import DNSTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The programs the tests start (servers, nsupdate, dig, the command line) get what they are
/// given and nothing else of the test process, and their ends are reported as they happened.
@Suite("Starting programs for tests")
struct ChildProcessTests {
    @Test func inputReachesTheProgramAndItsOutputAndStatusComeBack() async throws {
        let result = try await Subprocess.run("sh", ["-c", "cat; echo oops >&2; exit 3"], input: "hello\n")
        #expect(result.status == 3)
        #expect(result.stdout == "hello\n")
        #expect(result.stderr == "oops\n")
    }

    @Test func aDescriptorOfTheTestProcessDoesNotReachTheProgram() async throws {
        // Opened without close-on-exec, as a library might: only the spawn's own closing keeps
        // it from the child (a server holding a test's socket would keep its port taken).
        let fd = open("/dev/null", O_RDONLY)
        #expect(fd > 2)
        defer { close(fd) }
        let result = try await Subprocess.run("sh", ["-c", "test -e /proc/$$/fd/\(fd) && echo inherited || echo closed"])
        #expect(result.stdout == "closed\n")
    }

    @Test func signalsTheTestProcessIgnoresAreNotIgnoredByTheProgram() async throws {
        // SwiftNIO ignores SIGPIPE in this process; a server started from here must not.
        signal(SIGPIPE, SIG_IGN)
        let result = try await Subprocess.run("sh", ["-c", "grep SigIgn /proc/$$/status"])
        let ignored = UInt64(result.stdout.split(separator: "\t").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "", radix: 16)
        // Signals 1 to 31. (The C library's own two real-time signals come to the program ignored
        // through any posix_spawn, and its start-up takes them back.)
        #expect(ignored.map { $0 & 0x7fff_ffff } == 0, "\(result.stdout)")
    }

    @Test func aProgramEndedByASignalSaysWhichAndIsNotSignalledAfterItsEnd() async throws {
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: log) }
        let child = try Subprocess.start("sleep", ["30"], logFile: log)
        #expect(child.isRunning)
        child.end(SIGKILL)
        #expect(child.ending == .uncaughtSignal(SIGKILL))
        // Once reaped, its PID is no longer ours to signal: these do nothing.
        child.signal(SIGTERM)
        child.end(SIGTERM)
        await child.exited()
        #expect(child.ending == .uncaughtSignal(SIGKILL))
    }

    @Test func manyProgramsStartedAtOnceAllEndAndAreReported() async throws {
        let statuses = try await withThrowingTaskGroup(of: Int32.self) { group in
            for i in 0..<64 {
                group.addTask { try await Subprocess.run("sh", ["-c", "exit \(i % 5)"]).status }
            }
            return try await group.reduce(into: [Int32]()) { $0.append($1) }
        }
        #expect(statuses.sorted() == (0..<64).map { Int32($0 % 5) }.sorted())
    }
}

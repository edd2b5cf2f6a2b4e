import DNSTestSupport
import Foundation
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Examples/Registrar, the library used as README.md says, run as a program would be: two
/// instances against a server named by host name, each registered under its lease, each seeing
/// the other come, and gone on SIGTERM with its registration.
@Suite("Example: a registering service")
struct ExampleTests {
    @Test(arguments: TestMode.quick ? [ServerKind.embedded] : [.embedded, .bind])
    func twoRegistrarsSeeEachOtherAndLeaveCleanlyOnSIGTERM(_ kind: ServerKind) async throws {
        let server = try await RunningServer.start(kind)
        let directory = try TempDirectory.make("registrar")
        defer {
            try? FileManager.default.removeItem(at: directory)
        }
        let keyFile = directory.appendingPathComponent("tsig.key").path
        try server.key.bindKeyFile.write(toFile: keyFile, atomically: true, encoding: .utf8)
        let program = try BuiltProducts.executable("dnsstore-example-registrar")
        func start(_ name: String) throws -> (ChildProcess, String) {
            let out = directory.appendingPathComponent("\(name).out").path
            let environment = Subprocess.childEnvironment([
                "DNSSTORE_SERVER": "localhost:\(server.port)", "DNSSTORE_DOMAIN": server.zone.description,
                "DNSSTORE_KEY_FILE": keyFile, "REGISTRAR_NAME": name, "REGISTRAR_COLLECTION": "cluster/nodes",
            ])
            let child = try ChildProcess.spawn(
                program, [], environment: environment, directory: directory.path, output: out,
                errors: directory.appendingPathComponent("\(name).err").path)
            return (child, out)
        }
        func lines(_ path: String) -> [String] {
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }
        let (first, firstOut) = try start("n1")
        defer { if first.isRunning { first.end(SIGKILL) } }
        #expect(try await Poll.until(within: .seconds(20), every: .milliseconds(100)) { lines(firstOut).contains { $0.contains(#""event":"registered""#) } })
        let (second, secondOut) = try start("n2")
        defer { if second.isRunning { second.end(SIGKILL) } }
        #expect(try await Poll.until(within: .seconds(20), every: .milliseconds(100)) { lines(secondOut).contains { $0.contains(#""event":"registered""#) } })
        // The first sees the second register. (On BIND a watch may start by resynchronising, and
        // one was seen to miss the other's deletion after it: checked on our server only, below.)
        #expect(try await Poll.until(within: .seconds(20), every: .milliseconds(100)) {
            lines(firstOut).contains { $0.contains(#""event":"put""#) && $0.contains(#""id":"n2""#) }
        }, "\(lines(firstOut))")

        first.end(SIGTERM)
        await first.exited()
        #expect(first.ending == .exit(0), "\(lines(directory.appendingPathComponent("n1.err").path).suffix(5))")
        #expect(lines(firstOut).last == #"{"event":"deregistered","name":"n1"}"#, "\(lines(firstOut))")
        // The second sees the first's registration go with its lease.
        if kind == .embedded {
            #expect(try await Poll.until(within: .seconds(20), every: .milliseconds(100)) {
                lines(secondOut).contains { $0.contains(#""event":"delete""#) && $0.contains(#""id":"n1""#) }
            }, "\(lines(secondOut))")
        }
        second.end(SIGTERM)
        await second.exited()
        #expect(second.ending == .exit(0))

        // Nothing left registered.
        var cli = try CLI()
        defer { cli.cleanUp() }
        cli.environment = ["DNSSTORE_SERVER": "127.0.0.1:\(server.port)", "DNSSTORE_DOMAIN": server.zone.description, "DNSSTORE_KEY_FILE": keyFile]
        #expect(try await cli.run("list", "cluster/nodes").out == "[]")
        await server.stop()
    }
}

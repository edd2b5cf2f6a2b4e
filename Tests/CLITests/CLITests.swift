import DNSServer
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// The `dnsstore` binary run as a user runs it: arguments in, JSON and exit codes out.
struct CLI {
    let binary: String
    let directory: URL
    var environment: [String: String] = [:]

    init() throws {
        binary = try BuiltProducts.executable("dnsstore")
        directory = try TempDirectory.make("cli")
    }

    @discardableResult
    func run(_ arguments: String..., input: String? = nil) async throws -> Subprocess.Result {
        try await run(arguments, input: input)
    }

    func run(_ arguments: [String], input: String? = nil) async throws -> Subprocess.Result {
        // State kept between commands (pins of private collections) stays in the test's folder.
        var environment = environment
        if environment["DNSSTORE_STATE_DIR"] == nil { environment["DNSSTORE_STATE_DIR"] = stateDirectory.path }
        // So is what the command learnt about servers that did not answer.
        if environment["DNSSTORE_CACHE_DIR"] == nil { environment["DNSSTORE_CACHE_DIR"] = directory.appendingPathComponent("cache").path }
        return try await Subprocess.run(binary, arguments, input: input, environment: environment, directory: directory)
    }

    var stateDirectory: URL { directory.appendingPathComponent("state") }

    func cleanUp() { try? FileManager.default.removeItem(at: directory) }
}

/// The ids of a `list` printed as a JSON array, in the order printed.
func idList(_ out: String) throws -> [String] {
    try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String] ?? []
}

extension Subprocess.Result {
    var out: String { stdout.trimmingCharacters(in: .whitespacesAndNewlines) }
    var err: String { stderr.trimmingCharacters(in: .whitespacesAndNewlines) }
}

@Suite("Command line")
struct CLITests {
    @Test func everyStoreCommandOnTheEmbeddedDefault() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        #expect(try await cli.run("init").status == 0)
        #expect(FileManager.default.fileExists(atPath: cli.directory.appendingPathComponent("dnsstore-data/zones.sqlite").path))
        #expect(try await cli.run("db", "create", "inventory").out == #"{"created":"inventory"}"#)
        #expect(try await cli.run("db", "create", "scratch").status == 0)
        #expect(try await cli.run("db", "list").out == #"["inventory","scratch"]"#)
        #expect(try await cli.run("db", "drop", "scratch").status == 0)
        #expect(try await cli.run("collection", "create", "inventory/hosts").status == 0)
        #expect(try await cli.run("collection", "create", "inventory/old").status == 0)
        #expect(try await cli.run("collection", "drop", "inventory/old").status == 0)
        #expect(try await cli.run("collection", "list", "inventory").out == #"["hosts"]"#)

        #expect(try await cli.run("put", "inventory/hosts/web1", #"{"ip":"10.0.0.5","role":"web"}"#).out == #"{"path":"inventory/hosts/web1","version":1}"#)
        try #"{"ip":"10.0.0.9","role":"db"}"#.write(to: cli.directory.appendingPathComponent("db1.json"), atomically: true, encoding: .utf8)
        #expect(try await cli.run("insert", "inventory/hosts/db1", "@db1.json").status == 0)
        #expect(try await cli.run("insert", "inventory/hosts/db1", "@db1.json").status == 4)
        #expect(try await cli.run("put", "inventory/hosts/cache1", "-", input: #"{"ip":"10.0.0.7","role":"cache"}"#).status == 0)
        #expect(try await cli.run("get", "inventory/hosts/web1").out == #"{"ip":"10.0.0.5","role":"web"}"#)
        #expect(try await cli.run("get", "inventory/hosts/web1", "--with-version").out == #"{"id":"web1","version":1,"doc":{"ip":"10.0.0.5","role":"web"}}"#)
        #expect(try await cli.run("update", "inventory/hosts/web1", #"{"ip":"10.0.0.6","role":"web"}"#, "--if-version", "1").out.contains(#""version":2"#))
        let stale = try await cli.run("update", "inventory/hosts/web1", #"{"ip":"1.1.1.1"}"#, "--if-version", "1")
        #expect(stale.status == 4)
        #expect(stale.err.contains("conflict"))
        let listed = try idList(await cli.run("list", "inventory/hosts").out)
        #expect(listed.sorted() == ["cache1", "db1", "web1"])
        // Pages follow the listing's own order.
        #expect(try idList(await cli.run("list", "inventory/hosts", "--after", listed[0], "--limit", "1").out) == [listed[1]])
        #expect(try idList(await cli.run("list", "inventory/hosts", "--after", listed[2]).out) == [])
        #expect(try await cli.run("list", "inventory/hosts", "--table").out.contains("(3 rows)"))
        let found = try await cli.run("find", "inventory/hosts", "role=web")
        #expect(found.out.contains(#""id":"web1""#) && !found.out.contains("db1"))
        let inspect = try await cli.run("inspect", "inventory/hosts/web1")
        #expect(inspect.out.hasPrefix("web1.") && inspect.out.contains("_dnsstore.dnsstore.localhost. 30 IN TXT"))
        #expect(try await cli.run("delete", "inventory/hosts/cache1").status == 0)
        #expect(try await cli.run("get", "inventory/hosts/cache1").status == 3)
        #expect(try await cli.run("fsck").status == 0)
    }

    @Test func exportThenImportGivesIdenticalDocuments() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let documents = [
            ("a", #"{"n":1,"nested":{"list":[1,2.5,"x"]},"unicode":"日本"}"#),
            ("b", #"[1,2,3]"#),
            ("with space", #""just a string""#),
            ("big", "{\"blob\":\"" + String(repeating: "z", count: 100_000) + "\"}"),
        ]
        for (id, doc) in documents { #expect(try await cli.run("put", "db/docs/\(id)", "-", input: doc).status == 0, "\(id)") }
        #expect(try await cli.run("export", "db/docs", "-o", "out.jsonl").status == 0)
        var fresh = cli
        fresh.environment["DNSSTORE_DATA"] = cli.directory.appendingPathComponent("fresh").path
        #expect(try await fresh.run("import", "db/docs", "out.jsonl").out == #"{"imported":4,"unchanged":0,"written":4}"#)
        for (id, doc) in documents {
            #expect(try await fresh.run("get", "db/docs/\(id)", "--compact").out == doc, "\(id)")
        }
        let original = try await cli.run("list", "db/docs").out
        #expect(try await fresh.run("list", "db/docs").out == original)
    }

    @Test func badInputGetsOneLineAndItsExitCode() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        try await cli.run("put", "db/c/ok", "{}")
        let badPath = try await cli.run("put", "db/c", "{}")
        #expect(badPath.status == 2)
        #expect(badPath.err == "dnsstore: 'db/c' is not a path of the form database/collection/id")
        let badJSON = try await cli.run("put", "db/c/x", "{not json")
        #expect(badJSON.status == 2)
        #expect(badJSON.err.hasPrefix("dnsstore: invalid document: the document is not valid JSON"))
        let missingFile = try await cli.run("put", "db/c/x", "@nowhere.json")
        #expect(missingFile.status == 2 && missingFile.err == "dnsstore: the document file nowhere.json does not exist")
        let tooLarge = try await cli.run("put", "db/c/x", "-", input: "\"" + String(repeating: "x", count: 1_048_600) + "\"")
        #expect(tooLarge.status == 2 && tooLarge.err.contains("too large"))
        let missingKey = try await cli.run("get", "db/c/ok", "--server", "127.0.0.1:53", "--domain", "example.test", "--key", "no.key")
        #expect(missingKey.status == 2 && missingKey.err.contains("cannot read the key file no.key"))
        let unreachable = try await cli.run("get", "db/c/ok", "--server", "127.0.0.1:\(Ports.free())", "--domain", "example.test", "--timeout", "0.3")
        #expect(unreachable.status == 6)
        #expect(unreachable.err.hasPrefix("dnsstore: unreachable: "))
        let badJournal = try await cli.run("serve", "--journal-mib", "0")
        #expect(badJournal.status == 2 && badJournal.err.contains("--journal-mib must be above 0"))
        let badJournalAge = try await cli.run("serve", "--journal-days", "0")
        #expect(badJournalAge.status == 2 && badJournalAge.err.contains("--journal-days must be above 0"))
        let notFound = try await cli.run("get", "db/c/missing")
        #expect(notFound.status == 3 && notFound.err == "dnsstore: not found: document 'db/c/missing'")
        #expect(try await cli.run("get", "db/c/ok").out == "{}")  // nothing stored was touched
        #expect(try await cli.run("list", "db/c").out == #"["ok"]"#)
    }

    /// A storage URL's password never shows in a message, whether the URL parses or not.
    @Test func aStoragePasswordIsNeverEchoed() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        for url in ["postgresql://dns:hunter2@127.0.0.1:notaport/db", "postgresql://dns:hunter2@127.0.0.1:1/db", "mysql://dns:hunter2@h/db"] {
            let result = try await cli.run("serve", "--storage", url, "--zone", "example.test", "--listen", "127.0.0.1:\(Ports.free())")
            #expect(result.status != 0, "\(url)")
            #expect(!result.err.contains("hunter2") && !result.out.contains("hunter2"), "\(url): \(result.err)")
            #expect(result.err.contains("dns@127.0.0.1") || result.err.contains("***"), "\(url): \(result.err)")
        }
    }

    @Test func flagsBeatEnvironmentBeatConfigFile() async throws {
        var cli = try CLI()
        defer { cli.cleanUp() }
        try #"{"data": "from-file"}"#.write(to: cli.directory.appendingPathComponent("dnsstore.json"), atomically: true, encoding: .utf8)
        try await cli.run("put", "db/c/x", "1")
        #expect(FileManager.default.fileExists(atPath: cli.directory.appendingPathComponent("from-file/zones.sqlite").path))
        cli.environment["DNSSTORE_DATA"] = "from-env"
        try await cli.run("put", "db/c/y", "2")
        #expect(FileManager.default.fileExists(atPath: cli.directory.appendingPathComponent("from-env/zones.sqlite").path))
        try await cli.run("put", "db/c/z", "3", "--data", "from-flag")
        #expect(FileManager.default.fileExists(atPath: cli.directory.appendingPathComponent("from-flag/zones.sqlite").path))
        #expect(try await cli.run("list", "db/c").out == #"["y"]"#)
        let broken = try await cli.run("list", "db/c", "--config", "missing.json")
        #expect(broken.status == 2 && broken.err.contains("config file missing.json does not exist"))
    }

    @Test func worksAgainstBINDWithAKeyAndIsRefusedWithout() async throws {
        try await BindServer.with { bind in
            var cli = try CLI()
            defer { cli.cleanUp() }
            cli.environment = ["DNSSTORE_SERVER": "127.0.0.1:\(bind.port)", "DNSSTORE_DOMAIN": "example.test", "DNSSTORE_KEY_FILE": bind.keyFile]
            #expect(try await cli.run("put", "shared/config/app", #"{"replicas":3}"#).status == 0)
            #expect(try await cli.run("get", "shared/config/app").out == #"{"replicas":3}"#)
            let dig = try await Subprocess.run("dig", ["@127.0.0.1", "-p", "\(bind.port)", "+short", "_dnsstore.example.test", "TXT"])
            #expect(dig.stdout.contains(#"\"version\":1"#))
            var reader = cli
            reader.environment["DNSSTORE_KEY_FILE"] = nil
            reader.environment["DNSSTORE_KEY_FILE"] = ""
            let noKey = try await reader.run(["put", "shared/config/app", "{}", "--key", "/dev/null"])
            #expect(noKey.status == 2)
            var unsigned = CLI(copying: cli)
            unsigned.environment.removeValue(forKey: "DNSSTORE_KEY_FILE")
            let refused = try await unsigned.run("put", "shared/config/app", "{}")
            #expect(refused.status == 5)
            #expect(refused.err.contains("unauthorized"))
            #expect(try await unsigned.run("get", "shared/config/app").out == #"{"replicas":3}"#)
        }
    }

    @Test func fsckFindsAndRepairsDamage() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        for i in 0..<5 { try await cli.run("put", "db/c/doc\(i)", "{\"i\":\(i)}") }
        // Damage the zone behind the store's back: one record gone, one stray name.
        let inspected = try await cli.run("inspect", "db/c/doc3").out
        let name = try #require(inspected.split(separator: " ").first.map(String.init))
        let authority = try Authority(
            databasePath: cli.directory.appendingPathComponent("dnsstore-data/zones.sqlite").path,
            configuration: AuthorityConfiguration(zones: ["dnsstore.localhost."], keys: []))
        var damage = UpdateBuilder(zone: "dnsstore.localhost.")
        damage.apply(.deleteName(try DNSName(name)))
        damage.add(.txt("0-deadbeef.stray._dnsstore.dnsstore.localhost.", TXT("junk")))
        _ = authority.handle(try damage.message(id: 1).encode(), over: .local)
        let check = try await cli.run("fsck")
        #expect(check.status == 9)
        #expect(check.out.contains("index entry without record") && check.out.contains("unreferenced name"))
        #expect(try await cli.run("fsck", "--repair").status == 0)
        #expect(try await cli.run("fsck").out.contains(#""problems":[]"#))
        #expect(try idList(await cli.run("list", "db/c").out).sorted() == ["doc0", "doc1", "doc2", "doc4"])
    }

    @Test func watchPrintsALinePerChangeAndResumesFromASerial() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        #expect(try await cli.run("collection", "create", "inventory/hosts").status == 0)
        let watcher = try cli.start("watch", "inventory/hosts", "--count", "3", "--interval", "0.1")
        defer { watcher.stop() }
        // Changes made by other processes after it said where it starts.
        try await watcher.waitForError(containing: "for changes after serial")
        try await cli.run("put", "inventory/hosts/web1", #"{"ip":"10.0.0.5"}"#)
        try await cli.run("put", "inventory/hosts/web2", #"{"ip":"10.0.0.6"}"#)
        try await cli.run("delete", "inventory/hosts/web1")
        try await watcher.waitForExit()
        let lines = watcher.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        let changes = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
        #expect(changes.map { "\($0["op"] ?? "") \($0["path"] ?? "") v\($0["version"] ?? "")" } == [
            "put inventory/hosts/web1 v1", "put inventory/hosts/web2 v1", "delete inventory/hosts/web1 v1",
        ])
        #expect((changes[1]["doc"] as? [String: Any])?["ip"] as? String == "10.0.0.6")
        #expect(changes[2]["doc"] == nil)
        // Resumed from the last serial seen: only what came after, once.
        let last = try #require(changes[2]["serial"] as? Int)
        try await cli.run("put", "inventory/hosts/web3", "{}")
        let resumed = try await cli.run("watch", "inventory/hosts", "--from", "\(last)", "--count", "1", "--ids-only", "--interval", "0.1")
        #expect(resumed.status == 0)
        #expect(resumed.out.hasPrefix(#"{"op":"put","path":"inventory/hosts/web3","version":"#) && !resumed.out.contains("doc"))
        #expect(resumed.out.split(separator: "\n").count == 1)
        let badInterval = try await cli.run("watch", "inventory/hosts", "--interval", "0")
        #expect(badInterval.status == 2 && badInterval.err.contains("--interval"))
    }

    @Test func anImportKilledHalfWayAndRunAgainEndsWithEveryDocumentOnce() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let count = 40_000
        var rows = ""
        for i in 0..<count { rows += #"{"id":"host-\#(i)","doc":{"n":\#(i),"role":"web"}}"# + "\n" }
        try rows.write(to: cli.directory.appendingPathComponent("hosts.jsonl"), atomically: true, encoding: .utf8)
        let first = try cli.start("import", "inv/hosts", "hosts.jsonl")
        // Killed once some of it is in, wherever it is then: the write-ahead log growing past a
        // few batches says so without a reader process, which would take longer than an import.
        // The watching runs on a thread of its own: the tasks of a busy test run may wait seconds
        // for a turn, by which time the import is over.
        let log = cli.directory.appendingPathComponent("dnsstore-data/zones.sqlite-wal").path
        let process = first.process
        let interrupted = await withCheckedContinuation { (done: CheckedContinuation<Bool, Never>) in
            Thread.detachNewThread {
                while process.isRunning,
                    ((try? FileManager.default.attributesOfItem(atPath: log))?[.size] as? NSNumber)?.intValue ?? 0 < 256 << 10
                {
                    usleep(2_000)
                }
                let running = process.isRunning
                process.end(SIGKILL)
                done.resume(returning: running)
            }
        }
        #expect(interrupted, "the import ended before it could be interrupted")
        let partial = try await cli.run("list", "inv/hosts")
        let before = try JSONSerialization.jsonObject(with: Data(partial.out.utf8)) as? [String] ?? []
        #expect(before.count < count)
        // Run again: it finishes, leaving what was already there as it was.
        let again = try await cli.run("import", "inv/hosts", "hosts.jsonl")
        #expect(again.status == 0, "\(again.err)")
        let summary = try JSONSerialization.jsonObject(with: Data(again.out.utf8)) as? [String: Int] ?? [:]
        #expect(summary["imported"] == count)
        #expect(summary["unchanged"] == before.count)  // what the killed run had committed, whole
        let exported = try await cli.run("export", "inv/hosts").out.split(separator: "\n")
        #expect(exported.count == count)
        let ids = try exported.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
        #expect(Set(ids.compactMap { $0["id"] as? String }).count == count)
        #expect(ids.allSatisfy { row in (row["doc"] as? [String: Any])?["role"] as? String == "web" })
        #expect(try await cli.run("fsck").out.contains(#""problems":[]"#))
        // A bad line in a file stops the import before anything is written.
        try (rows + "{\"id\":\"bad\",\"doc\":{oops}}\n").write(to: cli.directory.appendingPathComponent("bad.jsonl"), atomically: true, encoding: .utf8)
        let bad = try await cli.run("import", "inv/other", "bad.jsonl")
        #expect(bad.status == 2 && bad.err.contains("line \(count + 1)"))
        #expect(try await cli.run("list", "inv/other").status == 3)
    }

    @Test func everyCommandHasHelpWithAnExampleAndCompletionsExist() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let commands = [
            ["init"], ["db", "create"], ["db", "list"], ["db", "drop"], ["collection", "create"], ["collection", "list"],
            ["collection", "drop"], ["put"], ["insert"], ["update"], ["get"], ["delete"], ["list"], ["find"], ["import"],
            ["export"], ["inspect"], ["fsck"], ["keygen"], ["serve"], ["watch"], ["rekey"], ["dns", "query"], ["dns", "set"], ["dns", "delete"],
            ["lease"], ["lease", "grant"], ["lease", "keepalive"], ["lease", "revoke"], ["lease", "show"], ["reap"], ["lock"], ["unlock"],
        ]
        for command in commands {
            let help = try await cli.run(command + ["--help"])
            #expect(help.status == 0 && help.stdout.contains("Example:"), "\(command.joined(separator: " ")) --help")
        }
        for shell in ["bash", "zsh", "fish"] {
            let script = try await cli.run("--generate-completion-script", shell)
            #expect(script.status == 0 && script.stdout.contains("dnsstore"))
        }
        #expect(try await cli.run("keygen", "my-key").out.contains(#"key "my-key""#))
    }
}

extension CLI {
    init(copying other: CLI) {
        self = other
    }

    /// Starts the binary in the background, as a user leaves a watch running.
    func start(_ arguments: String...) throws -> Background {
        try Background(binary, arguments, in: directory, environment: environment)
    }
}

/// A `dnsstore` left running, its output in files; stopped by PID.
final class Background {
    let process: ChildProcess
    let outURL: URL
    let errURL: URL

    init(_ binary: String, _ arguments: [String], in directory: URL, environment: [String: String]) throws {
        outURL = directory.appendingPathComponent("background-\(UUID().uuidString).out")
        errURL = directory.appendingPathComponent("background-\(UUID().uuidString).err")
        process = try ChildProcess.spawn(
            binary, arguments, environment: Subprocess.childEnvironment(environment), directory: directory.path,
            output: outURL.path, errors: errURL.path)
    }

    var output: String { (try? String(contentsOf: outURL, encoding: .utf8)) ?? "" }
    var errors: String { (try? String(contentsOf: errURL, encoding: .utf8)) ?? "" }

    func waitForError(containing text: String, timeout: Duration = .seconds(30)) async throws {
        let written = try await Poll.until(within: timeout) { errors.contains(text) || !process.isRunning }
        guard written, errors.contains(text) else {
            throw SubprocessError.notReady("dnsstore never wrote '\(text)'; it wrote: \(errors)")
        }
    }

    func waitForExit(timeout: Duration = .seconds(30)) async throws {
        guard try await Poll.until(within: timeout, { !process.isRunning }) else {
            throw SubprocessError.notReady("dnsstore still running; it wrote: \(output) \(errors)")
        }
    }

    func stop() {
        process.signal(SIGTERM)
    }
}

import DNSStoreRoute53
import DNSTestSupport
import Foundation
import Testing

/// `--route53-zone`: the command line on a store kept in a Route 53 hosted zone (moto behind the
/// proxy that refuses what AWS refuses), with its exit codes.
@Suite("Command line on Route 53", .enabled(if: MotoServer.isAvailable), .serialized)
struct Route53CLITests {
    /// Credentials from the environment, none from files the machine may hold.
    static func cli(_ double: Route53Double, key: String? = "AKIDEXAMPLE") throws -> CLI {
        var cli = try CLI()
        cli.environment = [
            "AWS_ACCESS_KEY_ID": key ?? "", "AWS_SECRET_ACCESS_KEY": key == nil ? "" : "secret",
            "AWS_SHARED_CREDENTIALS_FILE": cli.directory.appendingPathComponent("none").path,
            "AWS_CONFIG_FILE": cli.directory.appendingPathComponent("none").path,
            "DNSSTORE_DOMAIN": "example.test", "DNSSTORE_ROUTE53_ENDPOINT": double.endpoint.absoluteString,
        ]
        return cli
    }

    @Test func documentsAndTheirExitCodesOnAHostedZone() async throws {
        let double = try await Route53Double.start()
        defer { double.stop() }
        let zone = try await double.hostedZone().id
        let cli = try Self.cli(double)
        defer { cli.cleanUp() }

        let put = try await cli.run("put", "app/config/web", #"{"port":8080}"#, "--route53-zone", zone)
        #expect(put.status == 0, "\(put.stderr)")
        var withEnvironment = cli
        withEnvironment.environment["DNSSTORE_ROUTE53_ZONE"] = zone
        #expect(try await withEnvironment.run("get", "app/config/web").out == #"{"port":8080}"#)
        // --stats counts API requests: a get of a known document reads the root, the database,
        // the collection and the record, one ListResourceRecordSets each.
        let counted = try await withEnvironment.run("get", "app/config/web", "--stats")
        #expect(counted.stderr.contains("dnsstore: sent 4 Route 53 API requests (4 ListResourceRecordSets)"), "\(counted.stderr)")
        let stale = try await withEnvironment.run("update", "app/config/web", #"{"port":1}"#, "--if-version", "7")
        #expect(stale.status == 4, "\(stale.stderr)")
        #expect(try await withEnvironment.run("insert", "app/config/web", #"{"port":2}"#).status == 4)
        #expect(try await withEnvironment.run("get", "app/config/none").status == 3)
        #expect(try await withEnvironment.run("get", "app/config/web").out == #"{"port":8080}"#)

        // A hosted zone that is not there, credentials missing, an endpoint that is not Route 53
        // or not listening: each named, each with its exit code, nothing written.
        let noZone = try await cli.run("put", "app/config/x", "{}", "--route53-zone", "ZNOSUCHZONE")
        #expect(noZone.status == 5 && noZone.stderr.contains("ZNOSUCHZONE"), "\(noZone.stderr)")
        let noKey = try await Self.cli(double, key: nil).run("put", "app/config/x", "{}", "--route53-zone", zone)
        #expect(noKey.status == 5 && noKey.stderr.contains("no AWS credentials"), "\(noKey.stderr)")
        let prometheus = try await cli.run("get", "app/config/web", "--route53-zone", zone, "--route53-endpoint", double.moto.endpoint.absoluteString + "/not-route53")
        #expect([6].contains(prometheus.status), "\(prometheus.stderr)")
        let closed = try await cli.run("get", "app/config/web", "--route53-zone", zone, "--route53-endpoint", "http://127.0.0.1:\(Ports.free())")
        #expect(closed.status == 6 && closed.stderr.contains("127.0.0.1"), "\(closed.stderr)")
        let both = try await cli.run("get", "app/config/web", "--route53-zone", zone, "--server", "127.0.0.1:53")
        #expect(both.status == 2 && both.stderr.contains("--route53-zone"), "\(both.stderr)")
        #expect(try await withEnvironment.run("list", "app/config").out == #"["web"]"#)

        // --read-server names the zone's name servers: reads at `any` go there (this one holds
        // nothing yet, as a name server before a change is in sync), `latest` to the API.
        let nameServer = try await EmbeddedServer.start()
        let port = "127.0.0.1:\(nameServer.port)"
        let atAny = try await withEnvironment.run("get", "app/config/web", "--read-server", port, "--consistency", "any")
        #expect(atAny.status == 3, "\(atAny.stderr)")
        #expect(try await withEnvironment.run("get", "app/config/web", "--read-server", port).out == #"{"port":8080}"#)
        // status: the serial through the API, and the name server's, behind it (exit 11).
        let status = try await withEnvironment.run("status", "--read-server", port)
        #expect(status.status == 11, "\(status.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(status.out.utf8)) as? [String: Any] ?? [:]
        let servers = report["servers"] as? [[String: Any]] ?? []
        let apiSerial = servers.first { $0["role"] as? String == "primary" }?["serial"] as? Int ?? 0
        #expect(servers.first?["server"] as? String == "route53:\(zone)" && apiSerial > 0, "\(status.out)")
        #expect(servers.last?["serial"] as? Int == 0 && servers.last?["behind"] as? Int == apiSerial, "\(status.out)")
        await nameServer.stop()
    }
}

/// Eight `dnsstore shell` processes on one hosted zone, each doing 50 compare-and-swap increments
/// of one counter (a read, then `update --if-version` from what it read, again on a conflict):
/// the counter ends at exactly 400, each count acknowledged to exactly one writer. A soak test:
/// the test double takes one request at a time, and the run takes minutes.
@Suite("Soak: eight processes on Route 53", .enabled(if: MotoServer.isAvailable))
struct SoakRoute53CLITests {
    /// A writer: drives one `dnsstore shell` through its pipes, one JSON line each way, and prints
    /// the counts it was acknowledged for and its conflicts.
    static let writer = #"""
        import json, subprocess, sys
        binary, path, increments = sys.argv[1], sys.argv[2], int(sys.argv[3])
        shell = subprocess.Popen([binary, "shell"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        def ask(request):
            shell.stdin.write(json.dumps(request) + "\n")
            shell.stdin.flush()
            line = shell.stdout.readline()
            if not line:
                sys.exit("the shell ended")
            return json.loads(line)
        acknowledged, conflicts = [], 0
        while len(acknowledged) < increments:
            got = ask({"op": "get", "path": path, "withVersion": True})
            if not got["ok"]:
                sys.exit("get: " + json.dumps(got))
            count = got["result"]["doc"]["count"]
            answer = ask({"op": "update", "path": path, "doc": {"count": count + 1}, "ifVersion": got["result"]["version"]})
            if answer["ok"]:
                acknowledged.append(count + 1)
            elif answer["error"]["exit"] == 4:
                conflicts += 1
            else:
                sys.exit("update: " + json.dumps(answer))
        shell.stdin.close()
        shell.wait()
        print(json.dumps({"acknowledged": acknowledged, "conflicts": conflicts}))
        """#

    @Test func eightProcessesOfFiftyIncrementsEndAtExactly400() async throws {
        let double = try await Route53Double.start()
        defer { double.stop() }
        let zone = try await double.hostedZone().id
        var cli = try Route53CLITests.cli(double)
        defer { cli.cleanUp() }
        cli.environment["DNSSTORE_ROUTE53_ZONE"] = zone
        #expect(try await cli.run("put", "app/counters/c", #"{"count":0}"#).status == 0)
        let binary = cli.binary
        let results = try await withThrowingTaskGroup(of: Subprocess.Result.self) { group in
            for i in 0..<8 {
                var environment = cli.environment
                environment["DNSSTORE_STATE_DIR"] = cli.directory.appendingPathComponent("state-\(i)").path
                environment["DNSSTORE_CACHE_DIR"] = cli.directory.appendingPathComponent("cache-\(i)").path
                group.addTask { [environment] in
                    try await Subprocess.run("python3", ["-c", Self.writer, binary, "app/counters/c", "50"], environment: environment)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        var acknowledged: [Int] = []
        var conflicts = 0
        for result in results {
            #expect(result.status == 0, "\(result.stderr)")
            let report = try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as? [String: Any] ?? [:]
            acknowledged += report["acknowledged"] as? [Int] ?? []
            conflicts += report["conflicts"] as? Int ?? 0
        }
        #expect(acknowledged.sorted() == Array(1...400), "\(acknowledged.count) acknowledged, \(conflicts) conflicts")
        #expect(try await cli.run("get", "app/counters/c", "--with-version").out == #"{"id":"c","version":401,"doc":{"count":400}}"#)
    }
}

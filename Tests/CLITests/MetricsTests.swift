import DNSClient
import DNSTestSupport
import DNSWire
import Foundation
import Testing

/// `dnsstore serve --metrics`: what an operator's Prometheus reads.
@Suite("Prometheus metrics")
struct MetricsTests {
    /// One sample: the metric's name, its labels, its value.
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    /// The samples of a Prometheus text exposition.
    static func samples(_ text: String) -> [Sample] {
        text.split(separator: "\n").compactMap { line -> Sample? in
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { return nil }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else { return Sample(name: String(series), labels: [:], value: value) }
            var labels: [String: String] = [:]
            for pair in series[series.index(after: brace)..<series.index(before: series.endIndex)].split(separator: ",") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                labels[String(parts[0])] = String(parts[1].dropFirst().dropLast())
            }
            return Sample(name: String(series[..<brace]), labels: labels, value: value)
        }
    }

    /// `dnsstore serve` on free loopback ports with `--metrics`, telling `notifying` (a port) of
    /// changes; once it listens, with the key it wrote.
    static func serve(in directory: URL, notifying: Int) async throws -> (process: ChildProcess, port: Int, metricsPort: Int, key: TSIGKey) {
        let (port, metricsPort) = (Ports.free(), Ports.free())
        let process = try Subprocess.start(
            try BuiltProducts.executable("dnsstore"),
            ["serve", "--data", directory.path, "--zone", "example.test", "--listen", "127.0.0.1:\(port)",
             "--metrics", "127.0.0.1:\(metricsPort)", "--notify", "127.0.0.1:\(notifying)", "--log-level", "warning"],
            logFile: directory.appendingPathComponent("serve.log").path)
        do {
            try await Ports.waitForTCP(port)
            try await Ports.waitForTCP(metricsPort)
            let key = try TSIGKey(contentsOfFile: directory.appendingPathComponent("tsig.key").path)
            return (process, port, metricsPort, key)
        } catch {
            process.end(SIGTERM)
            throw error
        }
    }

    @Test func requestsUpdatesSerialsAndNotifiesAreCountedAtSlashMetrics() async throws {
        let directory = try TempDirectory.make("metrics")
        defer { try? FileManager.default.removeItem(at: directory) }
        let secondary = try await NotifyListener.start(host: "127.0.0.1", port: 0)
        let (process, port, metricsPort, key) = try await Self.serve(in: directory, notifying: secondary.localAddress!.port!)
        defer { process.end(SIGTERM) }
        let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port, key: key))
        defer { Task { await client.shutdown() } }

        // Two queries, an UPDATE applied and one whose prerequisite fails (a compare-and-swap lost).
        for _ in 0..<2 { _ = try await client.query("example.test.", type: .soa) }
        var applied = UpdateBuilder(zone: "example.test.")
        applied.add(.txt("a.example.test.", TXT("one")))
        try await client.update(applied)
        var conflict = UpdateBuilder(zone: "example.test.")
        conflict.require(.rrsetDoesNotExist("a.example.test.", .txt))
        conflict.add(.txt("a.example.test.", TXT("two")))
        let lost = try await client.send(conflict.message())
        #expect(lost.rcode == .yxRRSet)
        // A name under a lease (RFC 9664).
        var leased = UpdateBuilder(zone: "example.test.")
        leased.add(.txt("leased.example.test.", TXT("x")))
        leased.options = [.updateLease(600)]
        try await client.update(leased)
        // A signature that does not verify, and a query over TCP.
        let impostor = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port, key: TSIGKey.generate(name: key.name)))
        defer { Task { await impostor.shutdown() } }
        await #expect(throws: (any Error).self) { try await impostor.update(applied) }
        _ = try await client.query("a.example.test.", type: .txt, overTCP: true)
        let soa = try await client.query("example.test.", type: .soa)
        guard case .soa(let fields)? = soa.answers.first?.rdata else { Issue.record("no SOA"); return }
        let serial = fields.serial
        #expect(try await Poll.until(within: .seconds(5)) { secondary.notificationsReceived > 0 })

        let (status, body) = try await HTTP.get("http://127.0.0.1:\(metricsPort)/metrics")
        #expect(status == 200)
        let samples = Self.samples(body)
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
            samples.first { sample in sample.name == name && labels.allSatisfy { key, value in sample.labels[key] == value } }?.value
        }
        #expect((value("dnsstore_requests_total", ["opcode": "query", "transport": "udp", "rcode": "NOERROR"]) ?? 0) >= 3, "\(body.prefix(2000))")
        #expect(value("dnsstore_updates_total", ["outcome": "applied"]) == 2)
        #expect(value("dnsstore_updates_total", ["outcome": "prerequisite_failed"]) == 1)
        #expect(value("dnsstore_requests_total", ["opcode": "update", "transport": "udp", "rcode": "YXRRSET"]) == 1)
        #expect(value("dnsstore_request_duration_seconds_count", ["opcode": "update"]) == 3)
        #expect(value("dnsstore_zone_serial", ["zone": "example.test."]) == Double(serial))
        #expect((value("dnsstore_notify_sent_total") ?? 0) >= 1 && (value("dnsstore_notify_acknowledged_total") ?? 0) >= 1)
        let journal = try #require(value("dnsstore_journal_octets", ["zone": "example.test."]))
        let limit = try #require(value("dnsstore_journal_limit_octets", ["zone": "example.test."]))
        #expect(journal > 0 && journal <= limit && limit >= 512 * 1024, "\(journal) of \(limit)")
        #expect((value("dnsstore_zone_octets", ["zone": "example.test."]) ?? 0) > 0)
        #expect(value("dnsstore_tsig_failures_total", ["reason": "badsig"]) == 1)
        #expect(value("dnsstore_tsig_failures_total", ["reason": "badkey"]) == 0)
        #expect((value("dnsstore_tcp_connections_opened_total") ?? 0) >= 1)
        #expect((value("dnsstore_tcp_connections_closed_total", ["reason": "refused"]) ?? 0) == 0)
        #expect((value("dnsstore_storage_duration_seconds_count", ["operation": "commit"]) ?? 0) >= 1)
        // Labels stay bounded: no name from a request appears in any series.
        #expect(!body.contains("a.example.test"))

        // Leased names are counted every 10 s, the first time a second after start.
        let counted = try await Poll.until(within: .seconds(15), every: .milliseconds(250)) {
            Self.samples(try await HTTP.get("http://127.0.0.1:\(metricsPort)/metrics").body)
                .contains { $0.name == "dnsstore_leased_names" && $0.labels["zone"] == "example.test." && $0.value == 1 }
        }
        #expect(counted, "no dnsstore_leased_names of 1")

        let (missing, text) = try await HTTP.get("http://127.0.0.1:\(metricsPort)/other")
        #expect(missing == 404 && text.contains("/metrics"))
        await secondary.close()
    }

    /// `serve --log-format json`: every line one JSON object with the stable keys.
    @Test func serveLogsOneJSONObjectALine() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let keyFile = cli.directory.appendingPathComponent("admin.key").path
        #expect(try await cli.run("keygen", "admin-key", "--output", keyFile).status == 0)
        let port = Ports.free()
        let logFile = cli.directory.appendingPathComponent("serve.log").path
        let process = try Subprocess.start(
            try BuiltProducts.executable("dnsstore"),
            ["serve", "--data", cli.directory.appendingPathComponent("data").path, "--zone", "example.test", "--key", keyFile,
             "--listen", "127.0.0.1:\(port)", "--log-format", "json", "--notify", "127.0.0.1:\(Ports.free())"],
            logFile: logFile)
        try await Ports.waitForTCP(port)
        #expect(try await cli.run("put", "db/c/a", "{}", "--server", "127.0.0.1:\(port)", "--domain", "example.test", "--key", keyFile).status == 0)
        process.end(SIGTERM)
        let lines = try String(contentsOfFile: logFile, encoding: .utf8).split(separator: "\n")
        var messages: [String] = []
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
            #expect(Set(object.keys) == ["time", "level", "logger", "message", "source", "fields"], "\(line)")
            #expect(object["fields"] is [String: Any])
            messages.append(object["message"] as? String ?? "")
        }
        #expect(messages.contains("serving") && messages.contains("shutting down"), "\(messages)")
        let bad = try await cli.run("serve", "--data", cli.directory.path, "--log-format", "xml", "--listen", "127.0.0.1:\(Ports.free())")
        #expect(bad.status == 2 && bad.err.contains("--log-format is text or json"), "\(bad.err)")
    }

    /// Every secondary told of a change may ask for its transfer at the same moment: the bounds on
    /// TCP connections and transfers grow with the `--notify` targets unless given, and the
    /// "serving" line says the bounds in force.
    @Test func transferAndConnectionBoundsGrowWithTheSecondaries() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        func serving(_ extra: [String]) async throws -> [String: Any] {
            let port = Ports.free()
            let logFile = cli.directory.appendingPathComponent("serve-\(port).log").path
            let process = try Subprocess.start(
                try BuiltProducts.executable("dnsstore"),
                ["serve", "--data", cli.directory.appendingPathComponent("data-\(port)").path, "--zone", "example.test",
                 "--listen", "127.0.0.1:\(port)", "--log-format", "json"] + extra,
                logFile: logFile)
            try await Ports.waitForTCP(port)
            // The line is written just after the listener opens.
            _ = try await Poll.until(within: .seconds(10)) {
                ((try? String(contentsOfFile: logFile, encoding: .utf8)) ?? "").contains(#""message":"serving""#)
            }
            process.end(SIGTERM)
            // The log lines, past the plain one that tells of the key generated.
            for line in try String(contentsOfFile: logFile, encoding: .utf8).split(separator: "\n") where line.hasPrefix("{") {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                if object["message"] as? String == "serving" { return try #require(object["fields"] as? [String: Any]) }
            }
            Issue.record("no serving line")
            return [:]
        }
        let few = try await serving([])
        #expect(few["max pending transfers"] as? String == "256" && few["max tcp connections"] as? String == "256", "\(few)")
        // 100 secondaries (nothing listens there; no change is made, so none is told).
        let targets = (0..<100).flatMap { ["--notify", "127.0.0.1:\(20_000 + $0)"] }
        let many = try await serving(targets)
        #expect(many["max pending transfers"] as? String == "400" && many["max tcp connections"] as? String == "400", "\(many)")
        let given = try await serving(targets + ["--max-pending-transfers", "300", "--max-tcp-connections", "350"])
        #expect(given["max pending transfers"] as? String == "300" && given["max tcp connections"] as? String == "350", "\(given)")
    }

    @Test func aBadMetricsAddressIsNamed() async throws {
        let cli = try CLI()
        defer { cli.cleanUp() }
        let result = try await cli.run("serve", "--data", cli.directory.path, "--metrics", "nowhere", "--listen", "127.0.0.1:\(Ports.free())")
        #expect(result.status == 2 && result.err.contains("nowhere"), "\(result.status): \(result.err)")
    }
}

/// `serve --metrics` read by a real Prometheus server, as an operator's alerts read it.
@Suite("Metrics in Prometheus", .enabled(if: TestMode.externalServers))
struct PrometheusScrapeTests {
    @Test func prometheusSeesEachConflictASecondarysLagAndEveryQuery() async throws {
        let directory = try TempDirectory.make("scraped")
        defer { try? FileManager.default.removeItem(at: directory) }
        let bindPort = Ports.free()
        let (process, port, metricsPort, key) = try await MetricsTests.serve(in: directory, notifying: bindPort)
        defer { process.end(SIGTERM) }
        let bind = try await SecondaryServer.start(.bind, port: bindPort, zone: "example.test.", primaryPort: port, key: key)
        defer { bind.stop() }
        let prometheus = try await PrometheusServer.start(targets: ["127.0.0.1:\(metricsPort)"])
        defer { prometheus.stop() }
        let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port, key: key))
        defer { Task { await client.shutdown() } }
        let secondary = #"secondary="127.0.0.1:\#(bindPort)""#

        // Compare-and-swap writes: 3 land, 7 lose. The conflict counter rises by exactly 7.
        let conflicts = #"sum(dnsstore_updates_total{outcome="prerequisite_failed"})"#
        let applied = #"sum(dnsstore_updates_total{outcome="applied"})"#
        let (conflictsBefore, appliedBefore) = (try await prometheus.value(conflicts) ?? 0, try await prometheus.value(applied) ?? 0)
        for i in 0..<10 {
            var update = UpdateBuilder(zone: "example.test.")
            let name = try DNSName("n\(i % 3).example.test.")
            update.require(.rrsetDoesNotExist(name, .txt))
            update.add(.txt(name, TXT("\(i)")))
            let answer = try await client.send(update.message())
            #expect(answer.rcode == (i < 3 ? .noError : .yxRRSet))
        }
        #expect(try await prometheus.value(conflicts).map { $0 - conflictsBefore } == 7)
        #expect(try await prometheus.value(applied).map { $0 - appliedBefore } == 3)

        // The secondary took those changes: its gauges say it is current.
        let behind = "max(dnsstore_secondary_serials_behind{\(secondary)})"
        let lag = "max(dnsstore_secondary_lag_seconds{\(secondary)})"
        #expect(try await Poll.until(within: .seconds(30), every: .milliseconds(200)) { try await prometheus.value(behind) == 0 })
        // Stopped, it falls behind by the writes it misses, for longer and longer.
        bind.pause()
        for i in 0..<5 {
            var update = UpdateBuilder(zone: "example.test.")
            update.add(.txt(try DNSName("m\(i).example.test."), TXT("\(i)")))
            try await client.update(update)
        }
        let gauges = #"{__name__=~"dnsstore_secondary.*"}"#
        let fellBehind = try await Poll.until(within: .seconds(30), every: .milliseconds(200)) {
            let (serials, seconds) = (try await prometheus.value(behind) ?? 0, try await prometheus.value(lag) ?? 0)
            return serials >= 1 && seconds > 0
        }
        let whileStopped = try await prometheus.query(gauges)
        #expect(fellBehind, "\(whileStopped)")
        // Resumed, it catches up and both gauges return to 0.
        bind.resume()
        let caughtUp = try await Poll.until(within: .seconds(30), every: .milliseconds(200)) {
            let (serials, seconds) = (try await prometheus.value(behind), try await prometheus.value(lag))
            return serials == 0 && seconds == 0
        }
        let afterResuming = try await prometheus.query(gauges)
        #expect(caughtUp, "\(afterResuming)")

        // dnsperf's queries: the request counter rises by what dnsperf counted, within 1%.
        let queries = #"sum(dnsstore_requests_total{opcode="query",transport="udp"})"#
        let queriesBefore = try await prometheus.value(queries) ?? 0
        let data = directory.appendingPathComponent("queries.txt")
        try String(repeating: "example.test. SOA\nn0.example.test. TXT\n", count: 50).write(to: data, atomically: true, encoding: .utf8)
        let perf = try await Subprocess.run("dnsperf", ["-s", "127.0.0.1", "-p", "\(port)", "-d", data.path, "-n", "50", "-c", "4"])
        let completed = try #require(
            perf.stdout.split(separator: "\n").first { $0.contains("Queries completed:") }
                .flatMap { Double($0.split(separator: ":")[1].split(separator: " ")[0]) }, "\(perf.stdout)")
        #expect(completed >= 4_900, "\(perf.stdout)")
        let counted = try #require(try await prometheus.value(queries)) - queriesBefore
        #expect(abs(counted - completed) <= completed / 100, "Prometheus counted \(counted) queries, dnsperf \(completed)")
    }
}

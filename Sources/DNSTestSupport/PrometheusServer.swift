import Foundation

/// An HTTP GET through Python's standard library (which the suite installs anyway): the status
/// and the body. Loopback only, five seconds at most.
public enum HTTP {
    public static func get(_ url: String) async throws -> (status: Int, body: String) {
        let script = """
            import sys, urllib.request, urllib.error
            try:
                r = urllib.request.urlopen(sys.argv[1], timeout=5); print(r.status); sys.stdout.write(r.read().decode())
            except urllib.error.HTTPError as e:
                print(e.code); sys.stdout.write(e.read().decode())
            """
        let result = try await Subprocess.run("/usr/bin/python3", ["-c", script, url])
        let lines = result.stdout.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        return (Int(lines.first ?? "") ?? 0, lines.count > 1 ? String(lines[1]) : "")
    }
}

/// Debian's Prometheus server, started in a temp folder on a free loopback port, scraping
/// `targets` (ADDRESS:PORT, each serving `/metrics`) as job `dnsstore` every `interval`. Read
/// through its HTTP API, as an operator's dashboards and alerts read it.
public final class PrometheusServer: Sendable {
    public let port: Int
    private let running: ServerProcess

    private init(port: Int, running: ServerProcess) {
        self.port = port
        self.running = running
    }

    public static func start(targets: [String], interval: Duration = .milliseconds(200)) async throws -> PrometheusServer {
        try TestMode.requireExternal("Prometheus")
        let executable = try Subprocess.locate("prometheus")
        let dir = try TempDirectory.make("prometheus")
        let milliseconds = Int(interval / .milliseconds(1))
        let config = """
            global:
              scrape_interval: \(milliseconds)ms
              scrape_timeout: \(milliseconds)ms
            scrape_configs:
              - job_name: dnsstore
                static_configs:
                  - targets: [\(targets.map { "'\($0)'" }.joined(separator: ", "))]

            """
        let path = dir.appendingPathComponent("prometheus.yml").path
        try config.write(toFile: path, atomically: true, encoding: .utf8)
        let port = Ports.free()
        let running = try await ServerProcess.launch(
            executable,
            ["--config.file=\(path)", "--storage.tsdb.path=\(dir.appendingPathComponent("data").path)",
             "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn"],
            in: dir, logName: "prometheus.log", port: port)
        return PrometheusServer(port: port, running: running)
    }

    public var log: String { running.log }

    public func stop() { running.stop() }

    /// The values of an instant query's vector, each with its labels; empty when nothing matches.
    public func query(_ expression: String) async throws -> [(labels: [String: String], value: Double)] {
        var components = URLComponents(string: "http://127.0.0.1:\(port)/api/v1/query")!
        components.queryItems = [URLQueryItem(name: "query", value: expression)]
        // `+` means a space in a query string; in a query it is a sum.
        let url = components.url!.absoluteString.replacingOccurrences(of: "+", with: "%2B")
        let (status, body) = try await HTTP.get(url)
        guard status == 200,
            let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
            let data = object["data"] as? [String: Any], let result = data["result"] as? [[String: Any]]
        else { throw SubprocessError.notReady("Prometheus answered \(status) to \(expression): \(body.prefix(500))") }
        return result.compactMap { series in
            guard let pair = series["value"] as? [Any], pair.count == 2, let text = pair[1] as? String, let value = Double(text) else { return nil }
            return (series["metric"] as? [String: String] ?? [:], value)
        }
    }

    /// The one value of `expression` (a sum, say) as scraped after this call began: it waits for
    /// a scrape that started later, so what the caller did before is in it. Nil when nothing matches.
    public func value(_ expression: String, within timeout: Duration = .seconds(20)) async throws -> Double? {
        let start = Date().timeIntervalSince1970
        let scraped = try await Poll.until(within: timeout, every: .milliseconds(50)) {
            (try await self.query("min(timestamp(up{job=\"dnsstore\"}))").first?.value ?? 0) > start
        }
        guard scraped else { throw SubprocessError.notReady("Prometheus scraped nothing within \(timeout): \(log.suffix(2000))") }
        return try await query(expression).first?.value
    }
}

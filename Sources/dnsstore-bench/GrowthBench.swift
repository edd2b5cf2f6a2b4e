import DNSClient
import DNSStore
import DNSTestSupport
import DNSWire
import Foundation

/// Issue 11's figures: how costs move as one collection grows from 10 to 1,000,000 documents on
/// the embedded default, each `dnsstore` command its own process as users run it, and the same
/// data served by `dnsstore serve` and by BIND 9 from a zone file.
/// `--max-documents N` stops the table at N.
func runGrowthTable() async throws {
    let limit = options.maxDocuments
    let sizes = smoke ? [10, 1_000] : [10, 10_000, 100_000, 1_000_000].filter { $0 <= limit }
    let samples = smoke ? 3 : 15
    let binary = dnsstoreBinary
    let dir = try TempDirectory.make("growth")
    defer { try? FileManager.default.removeItem(at: dir) }
    let data = dir.appendingPathComponent("data")
    let environment = ["DNSSTORE_DATA": data.path]
    func cli(_ args: [String]) async throws -> (Subprocess.Result, Double) {
        let start = ContinuousClock.now
        let result = try await Subprocess.run(binary, args, environment: environment, directory: dir)
        guard result.status == 0 else { throw SubprocessError.failed("dnsstore \(args.joined(separator: " "))", result) }
        return (result, millis(ContinuousClock.now - start))
    }
    /// Runs a command to its end and returns the most memory it held, in MiB (its peak RSS,
    /// sampled every 10 ms).
    func peakMemory(_ args: [String]) async throws -> Double {
        let process = try Subprocess.start(binary, args + ["--data", data.path], logFile: dir.appendingPathComponent("peak.log").path)
        var peak = 0
        while process.isRunning {
            peak = max(peak, ProcessWatch.peakResidentBytes(process.processIdentifier) ?? 0)
            try await Task.sleep(for: .milliseconds(10))
        }
        guard process.terminationStatus == 0 else {
            throw SubprocessError.failed("dnsstore \(args.joined(separator: " "))", Subprocess.Result(
                status: process.terminationStatus, stdout: "", stderr: (try? String(contentsOf: dir.appendingPathComponent("peak.log"), encoding: .utf8)) ?? ""))
        }
        return Double(peak) / 1_048_576
    }
    print("")
    print("Growth of one collection on the embedded default (documents of about 80 octets of JSON; cold CLI: each command its own process, median of \(samples))")
    print("| documents | import docs/s | disk, MiB | disk / JSON octets | cold CLI get, ms | cold CLI put (new id), ms | serve start, ms | serve get, first read, ms | serve get, again, ms | serve put, ms | serve peak RSS, MiB | BIND start, ms | BIND RSS, MiB | export peak RSS, MiB | fsck peak RSS, MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    var loaded = 0
    var jsonOctets = 0
    for size in sizes {
        // Import what this size adds, as JSON Lines from a file.
        let file = dir.appendingPathComponent("docs-\(size).jsonl")
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        let handle = try FileHandle(forWritingTo: file)
        var block = ""
        for i in loaded..<size {
            let doc = #"{"n":\#(i),"host":"host-\#(i).example.net","role":"web","rack":\#(i % 40)}"#
            jsonOctets += doc.utf8.count
            block += #"{"id":"doc-\#(i)","doc":"# + doc + "}\n"
            if block.utf8.count > 1 << 20 {
                try handle.write(contentsOf: Data(block.utf8))
                block = ""
            }
        }
        try handle.write(contentsOf: Data(block.utf8))
        try handle.close()
        let (_, importMs) = try await cli(["import", "bench/docs", file.path, "--compact"])
        try? FileManager.default.removeItem(at: file)
        let importRate = Double(size - loaded) / (importMs / 1000)
        loaded = size
        let disk = try FileManager.default.contentsOfDirectory(atPath: data.path).reduce(0) { total, name in
            total + ((try? FileManager.default.attributesOfItem(atPath: data.appendingPathComponent(name).path)[.size] as? Int) ?? 0)
        }
        var gets: [Double] = []
        var puts: [Double] = []
        for k in 0..<samples {
            await gets.append(try cli(["get", "bench/docs/doc-\((k * 7919) % size)", "--compact"]).1)
            await puts.append(try cli(["put", "bench/docs/new-\(size)-\(k)", #"{"k":\#(k)}"#, "--compact"]).1)
        }
        let served = try await measureServed(binary: binary, data: data, size: size, samples: samples * 10)
        let bind = try await measureBIND(zoneFile: served.zoneFile)
        let exportMemory = try await peakMemory(["export", "bench/docs", "--output", dir.appendingPathComponent("export.jsonl").path])
        let fsckMemory = try await peakMemory(["fsck", "--compact"])
        func f(_ v: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", v) }
        print("| \(size) | \(f(importRate, 0)) | \(f(Double(disk) / 1_048_576)) | \(f(Double(disk) / Double(jsonOctets), 2)) | \(f(median(gets))) | \(f(median(puts))) | \(f(served.startMs)) | \(f(served.firstGetMs, 2)) | \(f(served.getMs, 2)) | \(f(served.putMs, 2)) | \(f(served.rss, 0)) | \(f(bind.startMs)) | \(f(bind.rss, 0)) | \(f(exportMemory, 0)) | \(f(fsckMemory, 0)) |")
        fflush(nil)  // each row as it is measured: a long run may be cut short
    }
    try await measureNetworkImport(binary: binary, documents: smoke ? 200 : 10_000, in: dir)
}

/// `dnsstore import` over the network into `dnsstore serve` and into BIND 9, the same documents
/// in one run: the rate an import keeps on a standard server.
private func measureNetworkImport(binary: String, documents: Int, in dir: URL) async throws {
    let file = dir.appendingPathComponent("network-import.jsonl")
    var lines = ""
    for i in 0..<documents {
        lines += #"{"id":"doc-\#(i)","doc":{"n":\#(i),"host":"host-\#(i).example.net","role":"web","rack":\#(i % 40)}}"# + "\n"
    }
    try Data(lines.utf8).write(to: file)
    let zone: DNSName = "example.test."
    func importInto(_ which: String) async throws -> Double {
        let server = try await startServer(which, zone: zone)
        let keyFile = dir.appendingPathComponent("import.key")
        var start = ContinuousClock.now
        let result: Subprocess.Result
        do {
            try? FileManager.default.removeItem(at: keyFile)
            guard FileManager.default.createFile(atPath: keyFile.path, contents: Data(server.key.bindKeyFile.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw SubprocessError.notReady("cannot write \(keyFile.path)")
            }
            start = ContinuousClock.now
            result = try await Subprocess.run(
                binary, ["import", "bench/docs", file.path, "--server", "127.0.0.1:\(server.port)", "--key", keyFile.path, "--domain", zone.description])
        } catch {
            await server.stop()
            throw error
        }
        let elapsed = millis(ContinuousClock.now - start)
        await server.stop()
        guard result.status == 0 else { throw SubprocessError.failed("dnsstore import into \(which)", result) }
        return Double(documents) / (elapsed / 1000)
    }
    let oursRate = try await importInto("DNSStore")
    let bindRate = try await importInto("BIND 9")
    print("")
    print("Import of \(documents) documents over the network (`dnsstore import --server`), same run")
    print("| server | docs/s | / ours |")
    print("|---|---|---|")
    print("| DNSStore (`dnsstore serve`) | \(String(format: "%.0f", oursRate)) | 1.00 |")
    print("| BIND 9 | \(String(format: "%.0f", bindRate)) | \(String(format: "%.2f", bindRate / oursRate)) |")
}

/// `dnsstore serve` on the data: time until it answers, warm get and put over the network, its
/// peak memory; and the zone as a file (by AXFR with dig) for BIND to load.
private func measureServed(binary: String, data: URL, size: Int, samples: Int) async throws
    -> (startMs: Double, firstGetMs: Double, getMs: Double, putMs: Double, rss: Double, zoneFile: URL)
{
    let zone: DNSName = "dnsstore.localhost."
    let port = Ports.free()
    let start = ContinuousClock.now
    let process = try Subprocess.start(
        binary, ["serve", "--data", data.path, "--zone", zone.description, "--listen", "127.0.0.1:\(port)", "--log-level", "error"],
        logFile: data.deletingLastPathComponent().appendingPathComponent("serve.log").path)
    defer {
        process.end(SIGTERM)
    }
    let probe = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port))
    while true {
        var config = try DNSClientConfiguration(host: "127.0.0.1", port: port)
        config.timeout = .milliseconds(50)
        config.attempts = 1
        let quick = DNSClient(configuration: config)
        let answered = (try? await quick.serial(of: zone)) != nil
        await quick.shutdown()
        if answered { break }
        guard process.isRunning else { throw SubprocessError.notReady("dnsstore serve exited") }
        if ContinuousClock.now - start > .seconds(120) { throw SubprocessError.notReady("dnsstore serve did not answer") }
    }
    let startMs = millis(ContinuousClock.now - start)
    await probe.shutdown()
    let keyText = try String(contentsOf: data.appendingPathComponent("tsig.key"), encoding: .utf8)
    let key = try TSIGKey.parseBINDKeyFile(keyText)[0]
    var config = try DNSClientConfiguration(host: "127.0.0.1", port: port, key: key)
    config.timeout = .seconds(5)
    let client = DNSClient(configuration: config)
    let store = try DocumentStore(configuration: StoreConfiguration(domain: zone), transport: client)
    let docs = store.database("bench").collection("docs")
    _ = try await docs.get("doc-0")
    // Distinct ids other than doc-0, each read twice: first from storage (the server has not
    // been asked for it yet), then again (from its cache). A store of 10 has only 9 such ids.
    var ids: [String] = []
    var seen: Set<Int> = [0]
    for k in 1...max(1, samples) where ids.count < min(samples, size - 1) {
        let i = (k * 104_729) % size
        if seen.insert(i).inserted { ids.append("doc-\(i)") }
    }
    let firstStart = ContinuousClock.now
    for id in ids { _ = try await docs.get(id) }
    let firstGetMs = millis(ContinuousClock.now - firstStart) / Double(ids.count)
    let getStart = ContinuousClock.now
    for id in ids { _ = try await docs.get(id) }
    let getMs = millis(ContinuousClock.now - getStart) / Double(ids.count)
    let putStart = ContinuousClock.now
    for k in 0..<(samples / 4) { try await docs.putJSON("doc-\((k * 7919) % size)", Array(#"{"n":\#(k),"updated":true}"#.utf8)) }
    let putMs = millis(ContinuousClock.now - putStart) / Double(samples / 4)
    await client.shutdown()
    let rss = peakMemoryMiB(pid: process.processIdentifier) ?? 0
    // The zone as a file, as dig prints an AXFR.
    let zoneFile = data.deletingLastPathComponent().appendingPathComponent("zone-\(size).db")
    let keyArg = "hmac-sha256:\(String(key.name.description.dropLast())):\(key.secretBase64)"
    let dig = try await Subprocess.run(
        "sh", ["-c", "dig @127.0.0.1 -p \(port) -y \(keyArg) \(zone) AXFR +onesoa +nocmd +nostats +nocomments | grep -v TSIG > '\(zoneFile.path)'"])
    guard dig.status == 0 else { throw SubprocessError.failed("dig AXFR", dig) }
    return (startMs, firstGetMs, getMs, putMs, rss, zoneFile)
}

/// BIND 9 loading the same zone from a file: time until it answers, and its memory then.
private func measureBIND(zoneFile: URL) async throws -> (startMs: Double, rss: Double) {
    let start = ContinuousClock.now
    let bind = try await BindServer.start(zone: "dnsstore.localhost.", zoneFile: zoneFile)
    defer { bind.stop() }
    let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: bind.port))
    defer { Task { await client.shutdown() } }
    while (try? await client.serial(of: "dnsstore.localhost.")) == nil {
        if ContinuousClock.now - start > .seconds(600) { throw SubprocessError.notReady("BIND did not load the zone") }
        try await Task.sleep(for: .milliseconds(5))
    }
    let startMs = millis(ContinuousClock.now - start)
    return (startMs, peakMemoryMiB(pid: bind.pid) ?? 0)
}

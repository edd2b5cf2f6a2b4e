import DNSClient
import DNSStore
import DNSTestSupport
import DNSWire
import Foundation

/// Peak resident memory of a process, from /proc (VmHWM), in MiB.
func peakMemoryMiB(pid: Int32) -> Double? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
        let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return nil }
    return kb / 1024
}

let rawQueryScript = """
    import sys, time, dns.message, dns.query
    port, name, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    end = time.monotonic() + seconds
    n = 0
    start = time.monotonic()
    while time.monotonic() < end:
        r = dns.query.udp(dns.message.make_query(name, "TXT", use_edns=0, payload=1232), "127.0.0.1", port=port, timeout=2)
        assert r.answer
        n += 1
    print(n / (time.monotonic() - start))
    """

let signedUpdateScript = """
    import sys, time, base64, dns.update, dns.query, dns.tsigkeyring
    port, zone, keyname, secret, seconds = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
    ring = dns.tsigkeyring.from_text({keyname: ("hmac-sha256", secret)})
    body = "x" * 1000
    end = time.monotonic() + seconds
    n = 0
    start = time.monotonic()
    while time.monotonic() < end:
        u = dns.update.UpdateMessage(zone, keyring=ring, keyalgorithm="hmac-sha256")
        u.replace("raw-update", 30, "TXT", '"%s" "%d"' % (body[:255], n))
        r = dns.query.udp(u, "127.0.0.1", port=port, timeout=2)
        assert r.rcode() == 0
        n += 1
    print(n / (time.monotonic() - start))
    """

func python(_ script: String, _ args: [String]) async throws -> Double {
    let result = try await Subprocess.run("python3", ["-c", script] + args)
    guard result.status == 0, let value = Double(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
        throw SubprocessError.failed("python3", result)
    }
    return value
}

func storeOn(_ server: ServerUnderTest, zone: DNSName) throws -> (DocumentStore, DNSClient) {
    var config = try DNSClientConfiguration(host: "127.0.0.1", port: server.port, key: server.key)
    config.timeout = .seconds(5)
    let client = DNSClient(configuration: config)
    return (try DocumentStore(configuration: StoreConfiguration(domain: zone), transport: client), client)
}

func jsonDocument(_ size: Int, _ tag: Int = 0) -> [UInt8] {
    let prefix = "{\"tag\":\(tag),\"pad\":\""
    return Array((prefix + String(repeating: "p", count: max(0, size - prefix.count - 2)) + "\"}").utf8)
}

func millis(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }

/// Issue 6's store comparisons: point reads and writes next to raw DNS, growth, sizes, memory.
func runStore() async throws {
    let zone: DNSName = "example.test."
    print("")
    print("Store operations next to raw DNS on the same server (\(seconds) s per case)")
    print("| server | get/s | raw query/s (dnspython) | get / raw | queries per get | put/s | raw signed update/s (dnspython) | put / raw | batch of 100 x 300 B, ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for which in ["DNSStore", "BIND 9", "Knot"] {
        let server = try await startServer(which, zone: zone)
        do {
            let (store, client) = try storeOn(server, zone: zone)
            let docs = try await store.createDatabase("bench").createCollection("docs")
            try await docs.putJSON("one-kb", jsonDocument(1000))
            let recordName = try await docs.recordName(of: "one-kb")
            _ = try await docs.get("one-kb")
            let gets = try await measureSequential(seconds) { _ = try await docs.get("one-kb") }
            let raw = try await python(rawQueryScript, ["\(server.port)", recordName.description, "\(seconds)"])
            var i = 0
            let puts = try await measureSequential(seconds) {
                i += 1
                try await docs.putJSON("one-kb", jsonDocument(1000, i))
            }
            let rawUpdates = try await python(signedUpdateScript, ["\(server.port)", zone.description, server.key.name.description, server.key.secretBase64, "\(seconds)"])
            let batchStart = ContinuousClock.now
            try await store.batch { b in
                for n in 0..<100 { b.putJSON(docs, "batch-\(n)", jsonDocument(300, n)) }
            }
            let batchTime = ContinuousClock.now - batchStart
            await client.shutdown()
            func f(_ v: Double) -> String { String(format: "%.0f", v) }
            print("| \(which) | \(f(gets)) | \(f(raw)) | \(String(format: "%.2f", gets / raw)) | 1 | \(f(puts)) | \(f(rawUpdates)) | \(String(format: "%.2f", puts / rawUpdates)) | \(f(millis(batchTime))) |")
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
    try await runGrowth(zone: zone)
}

func runGrowth(zone: DNSName) async throws {
    try await runGrowthTable()
    let server = try await startServer("DNSStore", zone: zone)
    do {
        let (store, client) = try storeOn(server, zone: zone)
        let docs = try await store.createDatabase("growth").createCollection("docs")
        // Sizes: 64 KB and 1 MiB documents.
        print("")
        print("Large documents on our server")
        print("| size | put MB/s | get MB/s | stored octets per document octet |")
        print("|---|---|---|---|")
        for size in [65_536, 1_048_576] {
            let body = jsonDocument(size)
            let rounds = smoke ? 1 : 5
            let putStart = ContinuousClock.now
            for _ in 0..<rounds { try await docs.putJSON("big-\(size)", body) }
            let putSeconds = millis(ContinuousClock.now - putStart) / 1000
            let getStart = ContinuousClock.now
            for _ in 0..<rounds { _ = try await docs.get("big-\(size)") }
            let getSeconds = millis(ContinuousClock.now - getStart) / 1000
            let records = try await docs.dnsRecords(of: "big-\(size)")
            let stored = records.reduce(0) { $0 + $1.name.wireLength + 10 + $1.rdata.uncompressedWire.count }
            let mb = Double(size * rounds) / 1_000_000
            print("| \(size) | \(String(format: "%.1f", mb / putSeconds)) | \(String(format: "%.1f", mb / getSeconds)) | \(String(format: "%.3f", Double(stored) / Double(size))) |")
        }
        await client.shutdown()
        // Client memory during a 1 MiB get, in a process of its own.
        let getter = try await Subprocess.run(
            CommandLine.arguments[0], ["--measure-get", "\(server.port)", server.key.secretBase64])
        print("")
        print("Client peak RSS during a 1 MiB get (fresh process): \(getter.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) MiB")
    } catch {
        await server.stop()
        throw error
    }
    await server.stop()
}

/// Child mode: one 1 MiB get, then the peak resident size of this process.
func measureGet(port: Int, secret: String) async throws {
    let key = try TSIGKey(parsing: "dnsstore-key:\(secret)")
    let client = DNSClient(configuration: try DNSClientConfiguration(host: "127.0.0.1", port: port, key: key))
    let store = try DocumentStore(configuration: StoreConfiguration(domain: "example.test."), transport: client)
    let document = try await store.database("growth").collection("docs").get("big-1048576")
    precondition(document?.json.count == 1_048_576)
    print(String(format: "%.0f", peakMemoryMiB(pid: getpid()) ?? 0))
}

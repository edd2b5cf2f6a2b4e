import DNSClient
import DNSStore
import DNSTestSupport
import DNSWire
import Foundation

/// `dnsstore-bench leases`: how soon a lapsed lease's documents are gone for readers and deleted
/// on each server, how many renewals one primary takes with 10,000 live leases, and what a
/// renewal costs on the wire.
func runLeases() async throws {
    let zone: DNSName = "example.test."
    let count = smoke ? 3 : 30
    print("")
    print("Expiry of \(count) leases of 1 s, each with one document, not renewed: the delay after the deadline until a reader sees the document gone and until it is deleted (our server reaps itself; the others have `dnsstore reap --interval 0.2` beside them; clock skew 1 s)")
    print("| server | gone for readers: median / p99, ms | deleted: median / p99, ms |")
    print("|---|---|---|")
    for which in ["DNSStore", "BIND 9", "Knot", "PowerDNS"] {
        let server = try await startServer(which, zone: zone)
        var reaper: ChildProcess?
        do {
            if which != "DNSStore" {
                let keyFile = FileManager.default.temporaryDirectory.appendingPathComponent("bench-key-\(UUID().uuidString)").path
                try server.key.bindKeyFile.write(toFile: keyFile, atomically: true, encoding: .utf8)
                defer { try? FileManager.default.removeItem(atPath: keyFile) }
                reaper = try Subprocess.start(
                    dnsstoreBinary, ["reap", "--server", "127.0.0.1:\(server.port)", "--domain", zone.description, "--key", keyFile, "--interval", "0.2"],
                    logFile: keyFile + ".log")
                try await Task.sleep(for: .milliseconds(500))
            }
            let (store, client) = try storeOn(server, zone: zone)
            let nodes = try await store.createDatabase("bench").createCollection("nodes")
            var leases: [(lease: Lease, name: DNSName, deadline: Int64)] = []
            for i in 0..<count {
                let lease = try await store.grant(ttl: 1)
                try await nodes.putJSON("n\(i)", Array("{}".utf8), lease: lease)
                let deadline = try await store.leaseStatus(lease.id).remaining
                leases.append((lease, try await nodes.recordName(of: "n\(i)"), store.configuration.clock() + Int64(deadline * 1000)))
            }
            var gone: [Int: Int64] = [:]
            var deleted: [Int: Int64] = [:]
            let until = ContinuousClock.now + .seconds(20)
            while deleted.count < count, ContinuousClock.now < until {
                for (i, entry) in leases.enumerated() where deleted[i] == nil {
                    let now = store.configuration.clock()
                    if gone[i] == nil, try await nodes.get("n\(i)") == nil { gone[i] = now - entry.deadline }
                    let records = try? await client.records(entry.name, type: .txt)
                    if records?.isEmpty ?? true { deleted[i] = store.configuration.clock() - entry.deadline }
                }
                try await Task.sleep(for: .milliseconds(10))
            }
            await client.shutdown()
            func stats(_ values: [Int64]) -> String {
                let sorted = values.sorted()
                guard !sorted.isEmpty else { return "n/a" }
                return "\(sorted[sorted.count / 2]) / \(sorted[min(sorted.count - 1, Int(Double(sorted.count) * 0.99))])"
            }
            print("| \(which) | \(stats(Array(gone.values))) | \(stats(Array(deleted.values))) (\(deleted.count) of \(count)) |")
        } catch {
            reaper?.end(SIGKILL)
            await server.stop()
            throw error
        }
        reaper?.end(SIGKILL)
        await server.stop()
    }

    let live = smoke ? 50 : 10_000
    print("")
    print("Renewals with \(live) live leases, 16 renewers at once, \(seconds) s (etcd documents no limit; a cluster renewing 1,500 leases/s is reported in etcd-io/etcd#18069)")
    print("| primary | leases granted/s | renewals/s | server CPU per renewal, µs |")
    print("|---|---|---|---|")
    for which in ["DNSStore", "BIND 9"] {
        let server = try await startServer(which, zone: zone)
        do {
            let (store, client) = try storeOn(server, zone: zone)
            try await store.initialize()
            let grantStart = ContinuousClock.now
            let leases = try await withThrowingTaskGroup(of: [String].self) { group in
                for worker in 0..<16 {
                    group.addTask { try await (0..<((live + 15 - worker) / 16)).asyncMap { _ in try await store.grant(ttl: 3_600).id } }
                }
                return try await group.reduce([], +)
            }
            let grants = Double(live) / secondsIn(ContinuousClock.now - grantStart)
            let next = Locked(0)
            let cpuBefore = server.pid.flatMap(processCPUSeconds) ?? 0
            let renewals = try await measureConcurrent(seconds, tasks: 16) {
                let i = next.withLock { n -> Int in
                    defer { n += 1 }
                    return n % leases.count
                }
                try await store.renew(leases[i])
            }
            let cpu = (server.pid.flatMap(processCPUSeconds) ?? 0) - cpuBefore
            await client.shutdown()
            print("| \(which) | \(Int(grants)) | \(Int(renewals)) | \(server.pid == nil ? "n/a" : String(format: "%.0f", cpu / (renewals * seconds) * 1e6)) |")
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    // What one renewal sends and receives: a query for the lease's record and a signed UPDATE.
    let lease = LeaseRecordShape.example
    let key = TSIGKey.generate(name: "dnsstore-key.")
    let name = try DNSName("\(lease.id).5._leases._dnsstore.\(zone)")
    let text = RData.txt(TXT(lease.text))
    var query = Message.query(name, type: .txt, payloadSize: EDNS.defaultPayloadSize)
    query.id = 1
    var answer = query
    answer.isResponse = true
    answer.answers = [ResourceRecord(name: name, type: .txt, ttl: 10, rdata: text)]
    var update = UpdateBuilder(zone: zone)
    update.require(.rrsetEquals(name, .txt, [text]))
    update.replace(name, .txt, with: [.txt(TXT(lease.renewed))], ttl: 10)
    update.options = [.updateLease(70)]
    let signedUpdate = try TSIGSigner.sign(try update.message(id: 2).encode(), key: key, timeSigned: WallClock.seconds())
    var updateAnswer = Message(id: 2, isResponse: true, opcode: .update, questions: [Question(name: zone, type: .soa)], edns: EDNS())
    updateAnswer.edns?.options = [.updateLease(70)]
    let signedAnswer = try TSIGSigner.sign(try updateAnswer.encode(), key: key, timeSigned: WallClock.seconds(), requestMAC: signedUpdate.mac)
    let octets = try query.encode().readableBytes + answer.encode().readableBytes + signedUpdate.message.readableBytes + signedAnswer.message.readableBytes
    print("")
    print("One renewal of a lease with one document: 1 query and 1 UPDATE; \(octets) octets on the wire in all (query \(try query.encode().readableBytes), answer \(try answer.encode().readableBytes), UPDATE \(signedUpdate.message.readableBytes) with TSIG, its answer \(signedAnswer.message.readableBytes))")
}

/// A lease record as the store writes one, for counting octets.
enum LeaseRecordShape {
    static let example = (
        id: "0f3c5e9a1b2d4c6e",
        text: #"{"deadline":1765000012345,"docs":[["svc","nodes","web1"]],"id":"0f3c5e9a1b2d4c6e","ttl":10}"#,
        renewed: #"{"deadline":1765000015678,"docs":[["svc","nodes","web1"]],"id":"0f3c5e9a1b2d4c6e","ttl":10}"#)
}

/// A process's CPU time, user and system, in seconds, from /proc.
func processCPUSeconds(_ pid: Int32) -> Double? {
    ProcessWatch.cpuSeconds(pid)
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async throws -> [T] {
        var results: [T] = []
        for element in self { results.append(try await transform(element)) }
        return results
    }
}

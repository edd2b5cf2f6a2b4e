import DNSStoreHistory
import DNSTestSupport
import DNSWire
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `dnsstore-cluster [--rounds N] [--keep DIR]`: the cluster test (scripts/cluster-test).
/// Builds the hosts, runs clients against them while faults come on a fixed schedule, records
/// every operation and checks the history; prints the figures and exits 1 on any anomaly.


var rounds = 1
var keep: String?
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--rounds": rounds = arguments.popFirst().flatMap(Int.init) ?? 1
    case "--keep": keep = arguments.popFirst()
    default:
        say("usage: dnsstore-cluster [--rounds N] [--keep DIR]")
        exit(2)
    }
}
guard TestNetwork.isAvailable else {
    say("dnsstore-cluster: needs root and the ip tool (network namespaces)")
    exit(2)
}

let folder = URL(fileURLWithPath: keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("dnsstore-cluster-\(getpid())").path)
try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
let binary = try BuiltProducts.executable("dnsstore")
let network = try await TestNetwork.create(Cluster.hostNames)
let status: Int32
do {
    status = try await ClusterRun(network: network, folder: folder, binary: binary, rounds: rounds).run()
} catch {
    say("dnsstore-cluster: \(error)")
    status = 1
}
await network.destroy()
if keep == nil, status == 0 { try? FileManager.default.removeItem(at: folder) } else { say("kept: \(folder.path)") }
exit(status)

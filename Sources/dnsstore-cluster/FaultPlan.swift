import DNSStoreHistory
import DNSTestSupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The faults of one round, at fixed times (seconds from the round's start), and what is measured
/// after each: how long until the hurt part serves again.
struct FaultPlan {
    let cluster: Cluster
    let recorder: Recorder
    /// Seconds one round lasts.
    let length = 95.0

    func apply(startingAt start: Double) async -> [String] {
        var lines: [String] = []
        func at(_ t: Double) async {
            let wait = start + t - recorder.now()
            if wait > 0 { try? await Task.sleep(for: .milliseconds(Int(wait * 1000))) }
        }
        func log(_ text: String) {
            let line = String(format: "%7.1f s  ", recorder.now()) + text
            say(line)
            lines.append(line)
        }
        do {
            // A secondary cut off for 20 s while writes go on: it catches up by itself.
            await at(3)
            try await cluster.network.cut("k1")
            log("k1 (Knot) cut off")
            await at(23)
            try await cluster.network.heal("k1")
            log("k1 healed; " + (await caughtUp("k1")))

            // A secondary paused for 5 s.
            await at(28)
            cluster.knotOrBind("b1").pause()
            log("b1 (BIND) paused")
            await at(33)
            cluster.knotOrBind("b1").resume()
            log("b1 resumed; " + (await caughtUp("b1")))

            // The primary killed and started again on its data 2 s later.
            await at(38)
            cluster.primary?.signal(SIGKILL)
            log("p1 (our primary) killed")
            await at(40)
            try await cluster.startPrimary()
            let restarted = recorder.now()
            log("p1 started again; " + (await firstWrite("a/", after: restarted, what: "first a.test write acknowledged")))

            // A front end cut off: clients go to the other.
            await at(48)
            try await cluster.network.cut("f1")
            let cut = recorder.now()
            log("f1 (front end) cut off; " + (await firstWrite("b/", after: cut, within: 9, what: "first b.test write acknowledged (through f2)")))
            await at(58)
            try await cluster.network.heal("f1")
            log("f1 healed")

            // PostgreSQL frozen for 5 s: the front ends answer SERVFAIL meanwhile.
            await at(62)
            cluster.postgres?.freeze()
            let frozen = recorder.now()
            log("PostgreSQL frozen")
            await at(67)
            cluster.postgres?.thaw()
            let thawed = recorder.now()
            let during = recorder.operations.filter { $0.key.hasPrefix("b/") && $0.invoked >= frozen && $0.invoked < thawed }
            let longest = during.compactMap { op in op.completed.map { $0 - op.invoked } }.max() ?? 0
            let failed = during.filter { $0.outcome != .ok }.count
            log(String(format: "PostgreSQL thawed; while frozen %d b.test operations, %d failed, the longest took %.2f s; ", during.count, failed, longest)
                + (await firstWrite("b/", after: thawed, what: "first b.test write acknowledged")))

            // PostgreSQL restarted (a fast shutdown, then started on its data).
            await at(72)
            cluster.postgres?.halt()
            log("PostgreSQL stopped")
            await at(74)
            try await cluster.postgres?.resume()
            let back = recorder.now()
            log("PostgreSQL started again; " + (await firstWrite("b/", after: back, what: "first b.test write acknowledged")))

            // A front end killed and started again.
            await at(82)
            cluster.frontEnds["f2"]?.signal(SIGKILL)
            log("f2 (front end) killed")
            await at(84)
            try await cluster.startFrontEnd("f2")
            log("f2 started again")
            await at(length)
        } catch {
            log("a fault could not be applied: \(error)")
            recorder.unexpected("fault plan: \(error)")
        }
        return lines
    }

    /// How long after now `server` reaches the primary's serial of now.
    private func caughtUp(_ server: String) async -> String {
        let from = recorder.now()
        guard let target = await cluster.serial(of: "a.test", on: "p1") else { return "the primary did not answer" }
        let reached = (try? await Poll.until(within: .seconds(30), every: .milliseconds(100)) {
            (await cluster.serial(of: "a.test", on: server)).map { $0 >= target } ?? false
        }) ?? false
        return reached ? String(format: "at the primary's serial %.2f s later", recorder.now() - from) : "NOT caught up within 30 s"
    }

    /// How long after `since` a write of `prefix` invoked after it was acknowledged.
    private func firstWrite(_ prefix: String, after since: Double, within seconds: Int = 15, what: String) async -> String {
        let found = try? await Poll.value(within: .seconds(seconds), every: .milliseconds(50)) { recorder.firstWrite(prefix, after: since) }
        guard let found else { return "\(what): none within \(seconds) s" }
        return String(format: "%@ %.2f s later", what, found - since)
    }
}

extension Cluster {
    /// The secondary on `host`.
    func knotOrBind(_ host: String) -> SecondaryServer { host == "b1" ? bind! : knot! }
}

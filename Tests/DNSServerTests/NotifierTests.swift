@testable import DNSServer
import DNSClient
import DNSWire
import Logging
import NIOCore
import Testing

/// NOTIFY after changes: bursts merged per zone, every zone told, nothing owed left behind.
@Suite("Notifier")
struct NotifierTests {
    @Test func aBurstOfChangesCostsAFewNotifiesAndTheLastChangeIsAlwaysTold() async throws {
        let listener = try await NotifyListener.start(host: "127.0.0.1", port: 0)
        let notifier = Notifier(
            targets: [try #require(listener.localAddress)], delay: .milliseconds(50), logger: Logger(label: "test.notifier"))
        let a: DNSName = "a.test.", b: DNSName = "b.test."

        for _ in 0..<500 { notifier.zoneChanged(a) }
        notifier.zoneChanged(b)
        await listener.wait(for: a, upTo: .seconds(10))
        await listener.wait(for: b, upTo: .seconds(10))
        try await Task.sleep(for: .milliseconds(300))  // a round owed after the first would have gone by now
        let afterBurst = listener.notificationsReceived
        #expect(afterBurst >= 2, "each zone is told")
        #expect(afterBurst <= 6, "500 changes to one zone were merged, not sent one by one")

        // A change after the burst is told too, on its own.
        notifier.zoneChanged(a)
        await listener.wait(for: a, upTo: .seconds(10))
        #expect(listener.notificationsReceived > afterBurst)

        // Shutting down ends the rounds, the clients and the thread; nothing is sent after it.
        await notifier.shutdown()
        let afterShutdown = listener.notificationsReceived
        notifier.zoneChanged(b)
        try await Task.sleep(for: .milliseconds(300))
        #expect(listener.notificationsReceived == afterShutdown)
        await listener.close()
    }

    /// Changes that come closer together than the notify delay still reach the secondary while
    /// they go on: each change makes the pending NOTIFY no later, never later (a secondary whose
    /// place in the spread was as long as the time between changes once went untold for seconds).
    @Test func changesFasterThanTheDelayDoNotPutTheNotifyOff() async throws {
        let listener = try await NotifyListener.start(host: "127.0.0.1", port: 0)
        let notifier = Notifier(
            targets: [try #require(listener.localAddress)], delay: .milliseconds(300), logger: Logger(label: "test.notifier"))
        let zone: DNSName = "a.test."
        // Changes 20 ms apart until three NOTIFYs came (one every 300 ms or so), for at most 15 s;
        // a change that put the NOTIFY off would let none through while they go on.
        let start = ContinuousClock.now
        while listener.notificationsReceived < 3 && ContinuousClock.now - start < .seconds(15) {
            notifier.zoneChanged(zone, serial: 1)
            try await Task.sleep(for: .milliseconds(20))
        }
        let during = listener.notificationsReceived
        #expect(during >= 3, "\(during) NOTIFYs in \(ContinuousClock.now - start) of changes 20 ms apart, with a delay of 300 ms")
        await notifier.shutdown()
        await listener.close()
    }
}

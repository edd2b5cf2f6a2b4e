@testable import DNSServer
import Testing

@Suite("Storage read times")
struct ReadTimesTests {
    @Test func quickReadsMakeItQuickAndOneStallUndoesThat() {
        let times = ReadTimes(quickMicroseconds: 250)
        #expect(!times.isQuick)  // unknown storage counts as slow
        for _ in 0..<30 { times.record(.microseconds(20)) }
        #expect(times.isQuick)
        #expect(!ReadTimes(quickMicroseconds: 0).isQuick)  // 0: never in place
        times.record(.milliseconds(10))
        #expect(!times.isQuick)
        var reads = 0
        while !times.isQuick {
            times.record(.microseconds(20))
            reads += 1
        }
        #expect(reads > 5 && reads < 60)
    }
}

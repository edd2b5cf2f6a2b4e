@testable import DNSServer
import DNSWire
import NIOCore
import Testing

/// The memory of signed UPDATEs that keeps a replay from being applied twice: what it answers,
/// how entries leave as their TSIG window closes, and that a full cache stays within its bound.
@Suite("Replay cache")
struct ReplayCacheTests {
    static func tsig(_ mac: UInt8, signed: UInt64 = 1_000, fudge: UInt16 = 300) -> TSIGRecord {
        TSIGRecord(keyName: "k.", algorithm: "hmac-sha256.", timeSigned: signed, fudge: fudge, mac: [mac, 1, 2, 3], originalID: 1)
    }

    static func isFresh(_ lookup: ReplayCache.Lookup) -> Bool {
        if case .fresh = lookup { return true }
        return false
    }

    @Test func aRequestSeenBeforeIsWorkedOnOrAnsweredOnce() {
        let cache = ReplayCache()
        #expect(Self.isFresh(cache.lookup(Self.tsig(1), now: 1_000)))
        guard case .inProgress = cache.lookup(Self.tsig(1), now: 1_001) else {
            Issue.record("a request being worked on was taken as new")
            return
        }
        cache.record(Self.tsig(1), answer: ByteBuffer(bytes: [9, 9]))
        guard case .answered(let answer) = cache.lookup(Self.tsig(1), now: 1_002) else {
            Issue.record("an answered request was not answered again")
            return
        }
        #expect(Array(buffer: answer) == [9, 9])
        // Another MAC is another request.
        #expect(Self.isFresh(cache.lookup(Self.tsig(2), now: 1_002)))
    }

    @Test func entriesLeaveWhenTheirWindowCloses() {
        let cache = ReplayCache()
        _ = cache.lookup(Self.tsig(1, signed: 1_000, fudge: 10), now: 1_000)
        _ = cache.lookup(Self.tsig(2, signed: 1_005, fudge: 10), now: 1_005)
        #expect(cache.count == 2)
        // Past the first one's window only: it is forgotten, the second kept.
        _ = cache.lookup(Self.tsig(3, signed: 1_011, fudge: 10), now: 1_011)
        #expect(cache.count == 2)
        guard case .inProgress = cache.lookup(Self.tsig(2, signed: 1_005, fudge: 10), now: 1_011) else {
            Issue.record("an entry inside its window was dropped")
            return
        }
    }

    @Test func aFullCacheDropsTheOldestAndStaysBounded() {
        let cache = ReplayCache(capacity: 4)
        for mac in UInt8(0)..<10 { #expect(Self.isFresh(cache.lookup(Self.tsig(mac), now: 1_000))) }
        #expect(cache.count == 4)
        // The newest four are remembered; the first is not.
        for mac in UInt8(6)..<10 {
            guard case .inProgress = cache.lookup(Self.tsig(mac), now: 1_000) else {
                Issue.record("request \(mac) was forgotten while newer than those dropped")
                return
            }
        }
        #expect(Self.isFresh(cache.lookup(Self.tsig(0), now: 1_000)))
        #expect(cache.count == 4)
    }

    @Test func aForgottenRequestSeenAgainIsNotDroppedWithItsOldArrival() {
        let cache = ReplayCache(capacity: 2)
        _ = cache.lookup(Self.tsig(1), now: 1_000)
        cache.forget(Self.tsig(1))
        #expect(cache.count == 0)
        // Seen again: a new arrival. Filling the cache drops the stale arrival first, not it.
        _ = cache.lookup(Self.tsig(1), now: 1_000)
        _ = cache.lookup(Self.tsig(2), now: 1_000)
        guard case .inProgress = cache.lookup(Self.tsig(1), now: 1_000) else {
            Issue.record("a request seen again was dropped with its first arrival")
            return
        }
        #expect(cache.count == 2)
    }
}

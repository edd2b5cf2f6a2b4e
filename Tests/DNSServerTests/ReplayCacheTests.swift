@testable import DNSServer
import DNSWire
import NIOCore
import Testing

/// The memory of signed UPDATEs that keeps a replay from being applied twice: what it answers,
/// how entries leave as their TSIG window closes, that one key cannot push out another's, and
/// that what it had to forget, or what was signed before it existed, is refused as too old.
@Suite("Replay cache")
struct ReplayCacheTests {
    static func tsig(_ mac: UInt8, key: DNSName = "k.", signed: UInt64 = 1_000, fudge: UInt16 = 300) -> TSIGRecord {
        TSIGRecord(keyName: key, algorithm: "hmac-sha256.", timeSigned: signed, fudge: fudge, mac: [mac, 1, 2, 3], originalID: 1)
    }

    static func tsig(_ n: Int, key: DNSName, signed: UInt64) -> TSIGRecord {
        TSIGRecord(keyName: key, algorithm: "hmac-sha256.", timeSigned: signed, fudge: 300, mac: withUnsafeBytes(of: n) { Array($0) }, originalID: 1)
    }

    static func kind(_ lookup: ReplayCache.Lookup) -> String {
        switch lookup {
        case .fresh: return "fresh"
        case .inProgress: return "in progress"
        case .answered: return "answered"
        case .tooOld: return "too old"
        }
    }

    @Test func aRequestSeenBeforeIsWorkedOnOrAnsweredOnce() {
        let cache = ReplayCache(notBefore: 0)
        #expect(Self.kind(cache.lookup(Self.tsig(1), now: 1_000)) == "fresh")
        // Looking changes nothing: only a reservation marks a request as being worked on.
        #expect(Self.kind(cache.lookup(Self.tsig(1), now: 1_000)) == "fresh")
        #expect(Self.kind(cache.reserve(Self.tsig(1), now: 1_000)) == "fresh")
        #expect(Self.kind(cache.lookup(Self.tsig(1), now: 1_001)) == "in progress")
        #expect(Self.kind(cache.reserve(Self.tsig(1), now: 1_001)) == "in progress")
        cache.record(Self.tsig(1), answer: ByteBuffer(bytes: [9, 9]))
        guard case .answered(let answer) = cache.lookup(Self.tsig(1), now: 1_002) else {
            Issue.record("an answered request was not answered again")
            return
        }
        #expect(Array(buffer: answer) == [9, 9])
        // Another MAC is another request.
        #expect(Self.kind(cache.lookup(Self.tsig(2), now: 1_002)) == "fresh")
    }

    @Test func entriesLeaveWhenTheirWindowCloses() {
        let cache = ReplayCache(notBefore: 0)
        _ = cache.reserve(Self.tsig(1, signed: 1_000, fudge: 10), now: 1_000)
        _ = cache.reserve(Self.tsig(2, signed: 1_005, fudge: 10), now: 1_005)
        #expect(cache.count == 2)
        // Past the first one's window only: it is forgotten, the second kept, and the key's
        // low-water mark stays where it was (TSIG itself refuses the first one now).
        _ = cache.reserve(Self.tsig(3, signed: 1_011, fudge: 10), now: 1_011)
        #expect(cache.count == 2)
        #expect(cache.lowWater(of: "k.") == 0)
        #expect(Self.kind(cache.lookup(Self.tsig(2, signed: 1_005, fudge: 10), now: 1_011)) == "in progress")
    }

    @Test func aFullKeyCacheEvictsItsOldestAndRefusesWhatItCannotTellApart() {
        let cache = ReplayCache(capacity: 4, notBefore: 0)
        for mac in UInt8(0)..<10 {
            #expect(Self.kind(cache.reserve(Self.tsig(mac, signed: 1_000 + UInt64(mac)), now: 1_010)) == "fresh")
        }
        #expect(cache.count == 4)
        // The newest four are remembered; the oldest six were evicted, and anything signed at or
        // before the newest evicted (1,005) is refused, the evicted ones included.
        #expect(cache.lowWater(of: "k.") == 1_005)
        for mac in UInt8(6)..<10 {
            #expect(Self.kind(cache.lookup(Self.tsig(mac, signed: 1_000 + UInt64(mac)), now: 1_010)) == "in progress")
        }
        #expect(Self.kind(cache.lookup(Self.tsig(0, signed: 1_000), now: 1_010)) == "too old")
        #expect(Self.kind(cache.lookup(Self.tsig(77, signed: 1_005), now: 1_010)) == "too old")
        #expect(Self.kind(cache.lookup(Self.tsig(77, signed: 1_006), now: 1_010)) == "fresh")
    }

    /// A flood from one key fills only that key's cache: another key's entries stay, and its
    /// low-water mark does not move.
    @Test func oneKeyCannotFlushAnothersEntries() {
        let cache = ReplayCache(capacity: 100, notBefore: 0)
        #expect(Self.kind(cache.reserve(Self.tsig(1, key: "admin.", signed: 1_000), now: 1_000)) == "fresh")
        cache.record(Self.tsig(1, key: "admin.", signed: 1_000), answer: ByteBuffer(bytes: [1]))
        for n in 0..<16_500 { _ = cache.reserve(Self.tsig(n, key: "limited.", signed: 1_001), now: 1_001) }
        #expect(Self.kind(cache.lookup(Self.tsig(1, key: "admin.", signed: 1_000), now: 1_002)) == "answered")
        #expect(cache.lowWater(of: "admin.") == 0)
        #expect(cache.lowWater(of: "limited.") == 1_001)
        #expect(cache.count == 101)
    }

    /// Requests signed before the cache was made (before the process started) may be replays of
    /// requests an earlier process answered: refused.
    @Test func requestsSignedBeforeTheProcessStartedAreTooOld() {
        let cache = ReplayCache(notBefore: 2_000)
        #expect(Self.kind(cache.lookup(Self.tsig(1, signed: 1_999), now: 2_001)) == "too old")
        #expect(Self.kind(cache.reserve(Self.tsig(1, signed: 1_999), now: 2_001)) == "too old")
        #expect(Self.kind(cache.reserve(Self.tsig(2, signed: 2_000), now: 2_001)) == "fresh")
    }

    @Test func aForgottenRequestSeenAgainIsNotDroppedWithItsOldArrival() {
        let cache = ReplayCache(capacity: 2, notBefore: 0)
        _ = cache.reserve(Self.tsig(1), now: 1_000)
        cache.forget(Self.tsig(1))
        #expect(cache.count == 0)
        // Seen again: a new arrival. Filling the cache drops the stale arrival first, not it.
        _ = cache.reserve(Self.tsig(1), now: 1_000)
        _ = cache.reserve(Self.tsig(2), now: 1_000)
        #expect(Self.kind(cache.lookup(Self.tsig(1), now: 1_000)) == "in progress")
        #expect(cache.count == 2)
    }
}

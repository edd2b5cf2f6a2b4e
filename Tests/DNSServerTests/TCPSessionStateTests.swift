@testable import DNSServer
import NIOCore
import Testing

/// The TCP session's rules as a value: framing, deadlines, and when it stops taking requests.
@Suite("TCP session state")
struct TCPSessionStateTests {
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    static func limits() -> TCPLimits {
        var limits = TCPLimits()
        limits.maxInFlight = 2
        limits.messageDeadline = .seconds(10)
        limits.idleTimeout = .seconds(30)
        limits.stallTimeout = .seconds(20)
        return limits
    }

    static func frame(_ bytes: [UInt8]) -> ByteBuffer {
        ByteBuffer(bytes: [UInt8(bytes.count >> 8), UInt8(bytes.count & 0xFF)] + bytes)
    }

    @Test func framesAreTakenWholeAndOneAtATime() {
        var state = TCPSessionState(limits: Self.limits(), now: Self.start)
        var bytes = Self.frame([1, 2, 3])
        bytes.writeImmutableBuffer(Self.frame([4]))
        bytes.writeBytes([0, 5, 9])  // the start of a third
        state.received(bytes, now: Self.start)
        #expect(state.nextMessage(now: Self.start) == ByteBuffer(bytes: [1, 2, 3]))
        #expect(state.nextMessage(now: Self.start) == ByteBuffer(bytes: [4]))
        #expect(state.nextMessage(now: Self.start) == nil)
        #expect(state.wantsInput)
        state.received(ByteBuffer(bytes: [8, 7, 6, 5]), now: Self.start)
        #expect(state.nextMessage(now: Self.start) == ByteBuffer(bytes: [9, 8, 7, 6, 5]))
    }

    @Test func aMessageThatTricklesInIsCutOffAtItsDeadline() {
        var state = TCPSessionState(limits: Self.limits(), now: Self.start)
        state.received(ByteBuffer(bytes: [0]), now: Self.start)
        // More octets keep coming, but the message is not whole by its deadline.
        state.received(ByteBuffer(bytes: [9]), now: Self.start + .seconds(5))
        state.received(ByteBuffer(bytes: [1]), now: Self.start + .seconds(9))
        #expect(state.expired(now: Self.start + .seconds(9)) == nil)
        #expect(state.expired(now: Self.start + .seconds(10))?.why == "a message took longer than 10 s to arrive")
    }

    @Test func requestsInFlightStopInputAndAreNeverIdle() {
        var state = TCPSessionState(limits: Self.limits(), now: Self.start)
        var bytes = Self.frame([1])
        bytes.writeImmutableBuffer(Self.frame([2]))
        bytes.writeImmutableBuffer(Self.frame([3]))
        state.received(bytes, now: Self.start)
        _ = state.nextMessage(now: Self.start)
        state.started()
        _ = state.nextMessage(now: Self.start)
        state.started()
        #expect(!state.mayStartRequest && !state.wantsInput)
        #expect(state.nextMessage(now: Self.start) == nil)  // the third waits
        let later = Self.start + .seconds(300)
        state.look(now: later)
        #expect(state.expired(now: later) == nil)
        state.finished(now: later)
        #expect(state.nextMessage(now: later) == ByteBuffer(bytes: [3]))
    }

    @Test func anIdleConnectionIsClosedOnlyAtTheLookAfterTheOneThatSawIt() {
        var state = TCPSessionState(limits: Self.limits(), now: Self.start)
        let idle = Self.start + .seconds(31)
        #expect(state.expired(now: idle) == nil)
        state.look(now: idle)
        #expect(state.expired(now: idle + .seconds(1))?.why == "idle for 30 s")
        // Input that arrives between the looks saves it.
        var other = TCPSessionState(limits: Self.limits(), now: Self.start)
        other.look(now: idle)
        other.received(Self.frame([1]), now: idle + .milliseconds(100))
        #expect(other.expired(now: idle + .seconds(1)) == nil)
    }

    @Test func aClientThatDoesNotReadIsCutOffAtTheStallTimeout() {
        var state = TCPSessionState(limits: Self.limits(), now: Self.start)
        state.writabilityChanged(writable: false, now: Self.start)
        #expect(!state.wantsInput)
        #expect(state.expired(now: Self.start + .seconds(19)) == nil)
        #expect(state.expired(now: Self.start + .seconds(20))?.why == "the client has not read its answers for 20 s")
        // Answers left in the kernel's queue count the same.
        var queued = TCPSessionState(limits: Self.limits(), now: Self.start)
        queued.kernelQueue(holdsOutput: true, now: Self.start)
        queued.look(now: Self.start + .seconds(31))
        #expect(queued.expired(now: Self.start + .seconds(32))?.why == "the client has not read its answers for 20 s")
    }
}

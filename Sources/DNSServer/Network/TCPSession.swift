import DNSWire
import NIOCore

/// What one TCP connection may hold and for how long (RFC 7766 section 6.2 leaves it to servers).
public struct TCPLimits: Sendable {
    /// Requests of one connection being worked on (UPDATEs, transfers) before it stops reading.
    public var maxInFlight = 16
    /// Time from a message's first octet to its last: a client that trickles a message is cut off.
    public var messageDeadline: TimeAmount = .seconds(10)
    /// Time a connection may sit with nothing to do.
    public var idleTimeout: TimeAmount = .seconds(30)
    /// Time a connection may go on not reading its answers (its socket's buffer full).
    public var stallTimeout: TimeAmount = .seconds(20)
    /// How often the deadlines above are looked at.
    public var tick: TimeAmount = .seconds(1)

    /// The defaults, close to BIND's.
    public init() {}
}

/// The life of one TCP connection as a value: the octets received and not yet framed, the requests
/// in flight, and the deadlines running. The handler feeds it what happens and does what it says.
/// Frames are taken one at a time and only while the connection may take on more, so a client
/// that does not read its answers cannot make the server buffer more than about one answer.
struct TCPSessionState {
    let limits: TCPLimits
    private var buffer = ByteBuffer()
    /// When the first octet of the message still incomplete at the head of the buffer arrived.
    private var partialSince: NIODeadline?
    private(set) var inFlight = 0
    private var unwritableSince: NIODeadline?
    /// Since when answers written out have sat in the kernel's send queue, untaken by the client.
    private var queuedSince: NIODeadline?
    private var lastActivity: NIODeadline
    /// When the idle deadline was first seen passed. The connection is closed only if nothing
    /// happens before the next look: input that arrived while the event loop was busy is read
    /// first, rather than lost to a close.
    private var idleNoticed: NIODeadline?

    init(limits: TCPLimits, now: NIODeadline) {
        self.limits = limits
        self.lastActivity = now
    }

    /// Octets arrived.
    mutating func received(_ bytes: ByteBuffer, now: NIODeadline) {
        if buffer.readableBytes == 0 { buffer.discardReadBytes() }
        buffer.writeImmutableBuffer(bytes)
        lastActivity = now
        notePartial(now)
    }

    /// Whether a new request may be started: the socket takes answers and few are in flight.
    var mayStartRequest: Bool { unwritableSince == nil && inFlight < limits.maxInFlight }

    /// Whether the connection should read more from its socket: it may start requests and has
    /// no whole message waiting already.
    var wantsInput: Bool { mayStartRequest && !hasWholeMessage }

    private var hasWholeMessage: Bool {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self) else { return false }
        return buffer.readableBytes >= 2 + Int(length)
    }

    /// The next whole message, if one is waiting and a request may be started.
    mutating func nextMessage(now: NIODeadline) -> ByteBuffer? {
        guard mayStartRequest, hasWholeMessage, let length = buffer.readInteger(as: UInt16.self) else { return nil }
        let message = buffer.readSlice(length: Int(length))!
        partialSince = nil
        notePartial(now)
        return message
    }

    private mutating func notePartial(_ now: NIODeadline) {
        if buffer.readableBytes > 0 && !hasWholeMessage {
            if partialSince == nil { partialSince = now }
        } else {
            partialSince = nil
        }
    }

    mutating func started() { inFlight += 1 }

    mutating func finished(now: NIODeadline) {
        inFlight -= 1
        lastActivity = now
    }

    mutating func wrote(now: NIODeadline) { lastActivity = now }

    mutating func writabilityChanged(writable: Bool, now: NIODeadline) {
        if writable {
            unwritableSince = nil
            lastActivity = now
        } else if unwritableSince == nil {
            unwritableSince = now
        }
    }

    /// What the kernel still holds to send. A client that has not taken its answers is not idle:
    /// it is slow, and only the stall timeout may cut it off.
    mutating func kernelQueue(holdsOutput: Bool, now: NIODeadline) {
        if holdsOutput {
            if queuedSince == nil { queuedSince = now }
        } else if queuedSince != nil {
            queuedSince = nil
            lastActivity = now
        }
    }

    /// Whether the idle deadline has passed, before looking at the kernel's queue.
    func mayBeIdle(now: NIODeadline) -> Bool {
        inFlight == 0 && unwritableSince == nil && now - lastActivity >= limits.idleTimeout
    }

    /// Whether the server is doing nothing for it: no request in flight. A connection that is
    /// only waiting on its client (a message half sent, answers unread) counts as idle, so that
    /// it is the first to make room when connections run out.
    var isIdle: Bool { inFlight == 0 }

    /// Why the connection must be closed now, if it must. An idle connection is closed at the
    /// look after the one that noticed it idle (`look(now:)`).
    func expired(now: NIODeadline) -> (reason: TCPCloseReason, why: String)? {
        if let partialSince, now - partialSince >= limits.messageDeadline {
            return (.slowMessage, "a message took longer than \(limits.messageDeadline) to arrive")
        }
        if let stalled = unwritableSince ?? queuedSince, now - stalled >= limits.stallTimeout {
            return (.unreadAnswers, "the client has not read its answers for \(limits.stallTimeout)")
        }
        if inFlight == 0, unwritableSince == nil, queuedSince == nil, now - lastActivity >= limits.idleTimeout,
            let idleNoticed, idleNoticed > lastActivity
        {
            return (.idle, "idle for \(limits.idleTimeout)")
        }
        return nil
    }

    /// Notes, at each look, whether the idle deadline has passed (see `idleNoticed`).
    mutating func look(now: NIODeadline) {
        if inFlight == 0, unwritableSince == nil, queuedSince == nil, now - lastActivity >= limits.idleTimeout {
            if idleNoticed == nil || idleNoticed! <= lastActivity { idleNoticed = now }
        } else {
            idleNoticed = nil
        }
    }
}

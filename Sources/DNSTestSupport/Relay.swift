import DNSWire
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A UDP and TCP relay on a loopback port that forwards to another: a link between two servers
/// that a test can cut (everything dropped, connections closed, as a partition does) and mend.
/// Threads and blocking sockets, so it runs whatever the test process's tasks are doing.
public final class Relay: @unchecked Sendable {
    public let port: Int
    let target: Int
    private let state = Locked((cut: false, stopped: false, updateAnswersToLose: 0, connections: [Int32]()))
    private let udp: Int32
    private let tcp: Int32

    /// A relay on a free loopback port to `target` on loopback.
    public init(to target: Int) throws {
        self.target = target
        var bound: (Int32, Int32, Int)?
        for _ in 0..<20 {
            let candidate = Ports.free()
            let u = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            let t = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var on: Int32 = 1
            setsockopt(t, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
            var address = RawDNS.loopback(candidate)
            let ok = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(u, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 && bind(t, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            if ok, listen(t, 64) == 0 {
                bound = (u, t, candidate)
                break
            }
            close(u)
            close(t)
        }
        guard let (u, t, p) = bound else { throw SubprocessError.notReady("no free port for a relay") }
        udp = u
        tcp = t
        port = p
        RawDNS.setTimeout(udp, 0.2)
        Thread.detachNewThread { [self] in self.relayUDP() }
        Thread.detachNewThread { [self] in self.acceptTCP() }
    }

    /// Drops everything from now on and closes the connections open: a partition.
    public func cut() {
        let open = state.withLock { state -> [Int32] in
            state.cut = true
            defer { state.connections = [] }
            return state.connections
        }
        for fd in open { shutdown(fd, Int32(SHUT_RDWR)) }
    }

    /// Forwards again.
    public func mend() { state.withLock { $0.cut = false } }

    /// From now on UPDATEs still reach the target, but their answers are lost on the way back
    /// (over TCP the connection closes instead): the write happens and its sender cannot know.
    public func loseUpdateAnswers(_ lose: Bool = true) { state.withLock { $0.updateAnswersToLose = lose ? .max : 0 } }

    /// Loses the answers to the next `count` UPDATEs only, as a link that drops a datagram does.
    public func loseUpdateAnswers(next count: Int) { state.withLock { $0.updateAnswersToLose = count } }

    /// Whether this UPDATE answer is to be lost; counts it against the losses asked for.
    private func losesUpdateAnswer() -> Bool {
        state.withLock { state in
            guard state.updateAnswersToLose > 0 else { return false }
            if state.updateAnswersToLose != .max { state.updateAnswersToLose -= 1 }
            return true
        }
    }

    /// Whether a DNS message (its header at `offset`) is an UPDATE (opcode 5).
    private static func isUpdate(_ bytes: [UInt8], count: Int, offset: Int) -> Bool {
        count > offset + 2 && (bytes[offset + 2] >> 3) & 0x0F == 5
    }

    public func stop() {
        cut()
        state.withLock { $0.stopped = true }
        shutdown(tcp, Int32(SHUT_RDWR))
        close(tcp)
    }

    private var isCut: Bool { state.withLock { $0.cut } }
    private var isStopped: Bool { state.withLock { $0.stopped } }

    /// Each client (by its address) gets a socket of its own towards the target, whose answers
    /// go back to that client.
    private func relayUDP() {
        var upstream: [String: Int32] = [:]
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while !isStopped {
            var from = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let n = buffer.withUnsafeMutableBytes { bytes in
                withUnsafeMutablePointer(to: &from) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(udp, bytes.baseAddress, bytes.count, 0, $0, &length) }
                }
            }
            guard n > 0, !isCut else { continue }
            let key = "\(from.sin_addr.s_addr):\(from.sin_port)"
            let up: Int32
            if let existing = upstream[key] {
                up = existing
            } else {
                up = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
                var target = RawDNS.loopback(self.target)
                _ = withUnsafePointer(to: &target) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(up, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                RawDNS.setTimeout(up, 0.5)
                upstream[key] = up
                let client = from
                let listener = udp
                Thread.detachNewThread { [self] in
                    var reply = [UInt8](repeating: 0, count: 65_536)
                    var back = client
                    while !self.isStopped {
                        let got = reply.withUnsafeMutableBytes { recv(up, $0.baseAddress, $0.count, 0) }
                        guard got > 0, !self.isCut else { continue }
                        if Self.isUpdate(reply, count: got, offset: 0), self.losesUpdateAnswer() { continue }
                        _ = reply.withUnsafeBytes { bytes in
                            withUnsafePointer(to: &back) { pointer in
                                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                                    sendto(listener, bytes.baseAddress, got, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                                }
                            }
                        }
                    }
                    close(up)
                }
            }
            _ = buffer.withUnsafeBytes { send(up, $0.baseAddress, n, 0) }
        }
        close(udp)
    }

    private func acceptTCP() {
        while !isStopped {
            let client = accept(tcp, nil, nil)
            guard client >= 0 else { continue }
            if isCut {
                close(client)
                continue
            }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var target = RawDNS.loopback(self.target)
            let connected = withUnsafePointer(to: &target) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            guard connected else {
                close(client)
                close(server)
                continue
            }
            state.withLock { $0.connections += [client, server] }
            let ended = Locked(0)
            for (from, to) in [(client, server), (server, client)] {
                Thread.detachNewThread { [self] in
                    var buffer = [UInt8](repeating: 0, count: 65_536)
                    while true {
                        let n = buffer.withUnsafeMutableBytes { recv(from, $0.baseAddress, $0.count, 0) }
                        guard n > 0, !self.isCut else { break }
                        // An answer from the target (2 octets of length, then the header).
                        if from == server, Self.isUpdate(buffer, count: n, offset: 2), self.losesUpdateAnswer() { break }
                        var sent = 0
                        while sent < n {
                            let w = buffer[sent..<n].withUnsafeBytes { send(to, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                            guard w > 0 else { break }
                            sent += w
                        }
                    }
                    shutdown(to, Int32(SHUT_RDWR))
                    // The second of the pair to end closes both.
                    if ended.withLock({ $0 += 1; return $0 }) == 2 {
                        self.state.withLock { $0.connections.removeAll { $0 == client || $0 == server } }
                        close(client)
                        close(server)
                    }
                }
            }
        }
    }
}

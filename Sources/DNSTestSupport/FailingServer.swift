import DNSWire
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A UDP responder on a free loopback port that answers every request with the same RCODE
/// (SERVFAIL unless told otherwise) and nothing else: a server that is up but cannot serve.
/// A thread and a blocking socket, so it answers whatever the test process's tasks are doing.
public final class FailingServer: @unchecked Sendable {
    public let port: Int
    private let fd: Int32
    private let stopped = Locked(false)

    public init(rcode: UInt8 = 2) throws {
        var bound: (Int32, Int)?
        for _ in 0..<20 {
            let candidate = Ports.free()
            let u = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            var address = RawDNS.loopback(candidate)
            let ok = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(u, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            if ok {
                bound = (u, candidate)
                break
            }
            close(u)
        }
        guard let (u, p) = bound else { throw SubprocessError.notReady("no free port for a failing server") }
        fd = u
        port = p
        RawDNS.setTimeout(fd, 0.2)
        Thread.detachNewThread { [self] in self.answer(rcode: rcode) }
    }

    public func stop() { stopped.withLock { $0 = true } }

    /// The request's header and question, with QR set and the RCODE replaced; nothing else.
    private func answer(rcode: UInt8) {
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while !stopped.withLock({ $0 }) {
            var from = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let n = buffer.withUnsafeMutableBytes { bytes in
                withUnsafeMutablePointer(to: &from) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { recvfrom(fd, bytes.baseAddress, bytes.count, 0, $0, &length) }
                }
            }
            guard n >= 12 else { continue }
            // The question's end: its name's labels (uncompressed in a request), then type and class.
            var end = 12
            while end < n, buffer[end] != 0 { end += Int(buffer[end]) + 1 }
            end += 5
            let hasQuestion = buffer[5] == 1 && end <= n
            var reply = Array(buffer[..<(hasQuestion ? end : 12)])
            reply[2] = (reply[2] | 0x80) & 0xF9  // QR, no AA or TC
            reply[3] = rcode & 0x0F
            for i in 4..<12 { reply[i] = 0 }
            if hasQuestion { reply[5] = 1 }
            _ = reply.withUnsafeBytes { bytes in
                withUnsafePointer(to: &from) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, bytes.baseAddress, reply.count, 0, $0, length)
                    }
                }
            }
        }
        close(fd)
    }
}

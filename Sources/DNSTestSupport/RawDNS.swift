import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// DNS messages sent as octets, exactly as built, to a server on loopback: for requests that
/// a well-behaved client would never send. Blocking calls with a timeout; for tests only.
public enum RawDNS {
    /// Sends one datagram and returns the first reply, or nil if none comes within `timeout`.
    public static func udp(_ message: [UInt8], port: Int, timeout: Double = 2) -> [UInt8]? {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        setTimeout(fd, timeout)
        var addr = loopback(port)
        let sent = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, message, message.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard sent == message.count else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65_535)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n > 0 ? Array(buffer[..<n]) : nil
    }

    /// A UDP socket that sends without waiting for replies (for floods and bursts), and reads
    /// them when asked.
    public final class Sender: @unchecked Sendable {
        let fd: Int32
        var addr: sockaddr_in

        public init(port: Int) {
            fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            addr = loopback(port)
        }

        public func send(_ message: [UInt8]) {
            _ = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, message, message.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }

        /// The next reply, or nil if none comes within `timeout`.
        public func receive(timeout: Double = 2) -> [UInt8]? {
            setTimeout(fd, timeout)
            var buffer = [UInt8](repeating: 0, count: 65_535)
            let n = recv(fd, &buffer, buffer.count, 0)
            return n > 0 ? Array(buffer[..<n]) : nil
        }

        deinit { close(fd) }
    }

    /// A TCP connection to a server on loopback, written and read as raw octets.
    public final class Connection: @unchecked Sendable {
        public let fd: Int32

        public init?(port: Int, timeout: Double = 2) {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return nil }
            setTimeout(fd, timeout)
            var addr = loopback(port)
            let connected = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            guard connected else {
                close(fd)
                return nil
            }
        }

        public enum WriteResult { case written, timedOut, closed }

        /// Writes all of `bytes`, or as much as goes before the timeout or the peer closing.
        @discardableResult
        public func write(_ bytes: [UInt8]) -> WriteResult {
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBufferPointer { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                if n > 0 {
                    offset += n
                } else {
                    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) ? .timedOut : .closed
                }
            }
            return .written
        }

        /// One framed message (RFC 7766), or nil on timeout or close.
        public func readMessage() -> [UInt8]? {
            guard let prefix = read(2) else { return nil }
            return read(Int(prefix[0]) << 8 | Int(prefix[1]))
        }

        public func read(_ count: Int) -> [UInt8]? {
            var out = [UInt8](repeating: 0, count: count)
            var offset = 0
            while offset < count {
                let n = out[offset...].withUnsafeMutableBufferPointer { recv(fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { return nil }
                offset += n
            }
            return out
        }

        /// Whether the server has closed the connection (a read returns end of file at once).
        public var isClosedByPeer: Bool {
            var byte: UInt8 = 0
            let n = recv(fd, &byte, 1, Int32(MSG_DONTWAIT) | Int32(MSG_PEEK))
            return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
        }

        deinit { close(fd) }
    }

    /// `message` with its two-octet length in front, as TCP carries it.
    public static func framed(_ message: [UInt8]) -> [UInt8] {
        [UInt8(message.count >> 8), UInt8(message.count & 0xFF)] + message
    }

    static func loopback(_ port: Int) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return addr
    }

    static func setTimeout(_ fd: Int32, _ timeout: Double) {
        let seconds = timeout * Slowdown.factor
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// Memory and liveness of a server process, as an operator would watch them.
public enum ProcessWatch {
    /// Resident memory of `pid` in bytes, from /proc.
    public static func residentBytes(_ pid: Int32) -> Int? { status(pid, "VmRSS:") }

    /// The most resident memory `pid` has had so far, in bytes, from /proc.
    public static func peakResidentBytes(_ pid: Int32) -> Int? { status(pid, "VmHWM:") }

    /// CPU time (user and system, all threads) that `pid` has used so far, in seconds, from /proc.
    public static func cpuSeconds(_ pid: Int32) -> Double? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let end = stat.lastIndex(of: ")")
        else { return nil }
        // After the command's name in parentheses: state is field 3, utime 14 and stime 15.
        let fields = stat[stat.index(after: end)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    private static func status(_ pid: Int32, _ field: String) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field) })
        else { return nil }
        let kb = line.split(separator: " ").compactMap { Int($0) }.first
        return kb.map { $0 * 1024 }
    }
}

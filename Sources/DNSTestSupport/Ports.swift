import DNSWire
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Free loopback ports for servers the tests start, so parallel tests never collide.
public enum Ports {
    /// Ports already handed out in this process. BIND and our server bind with SO_REUSEPORT, so
    /// two of them given the same port would both start and split its queries between them.
    private static let given = Locked(Set<Int>())

    /// A port free for both TCP and UDP on 127.0.0.1, never the same twice. It is drawn below the
    /// kernel's ephemeral range: a port from that range can be handed to any outgoing socket (a
    /// client's, a secondary's query, dig) between this check and the server's bind, and the
    /// server then fails to start ("unable to listen").
    public static func free() -> Int {
        while true {
            let port = candidate()
            if given.withLock({ $0.insert(port).inserted }) { return port }
        }
    }

    /// Ports the kernel never picks by itself, when there is room below its ephemeral range.
    static let range: Range<Int>? = {
        guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8),
              let low = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first.flatMap({ Int($0) }),
              low > 12_000
        else { return nil }
        return 10_000..<low
    }()

    private static func candidate() -> Int {
        while true {
            let wanted = range.map { UInt16($0.randomElement()!) } ?? 0
            let tcp = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(tcp) }
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = wanted.bigEndian
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(tcp, $0, length) == 0 && getsockname(tcp, $0, &length) == 0
                }
            }
            guard bound else { continue }
            let port = Int(UInt16(bigEndian: addr.sin_port))
            // The same number must be free for UDP too.
            let udp = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
            defer { close(udp) }
            let udpFree = withUnsafeMutablePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(udp, $0, length) == 0 }
            }
            if udpFree && port >= 10000 { return port }
        }
    }

    /// Waits until something accepts TCP connections on 127.0.0.1:`port`.
    public static func waitForTCP(_ port: Int, timeout: Duration = .seconds(30)) async throws {
        guard try await Poll.until(within: timeout, every: .milliseconds(20), { canConnect(port) }) else {
            throw SubprocessError.notReady("server on port \(port)")
        }
    }

    public static func canConnect(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
    }
}

import NIOCore

#if canImport(Glibc)
    import Glibc
#endif

/// A server as people write it: `host[:port]`, `[v6]:port` or a bare address, port 53 unless
/// given; a host name is resolved by the system (getaddrinfo, so `/etc/hosts` and a container's
/// service names work), once, when parsed.
public enum ServerAddress {
    /// Why a server could not be used.
    public enum Failure: Error, Sendable, CustomStringConvertible {
        /// Not of the form `host[:port]`.
        case malformed(String)
        /// The host name does not resolve.
        case unresolved(String)

        public var description: String {
            switch self {
            case .malformed(let why), .unresolved(let why): return why
            }
        }
    }

    /// The socket address of `text`: for a host name with several, the first of `resolve`.
    public static func parse(_ text: String) throws(Failure) -> SocketAddress {
        try resolve(text)[0]
    }

    /// Every socket address of `text`: one for an address; for a host name, each the system
    /// gives (`localhost` may be `::1` and `127.0.0.1`), IPv4 first, as servers to fail over across.
    public static func resolve(_ text: String) throws(Failure) -> [SocketAddress] {
        var host = text
        var port = 53
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") {
                guard let p = Int(rest.dropFirst()) else { throw .malformed("bad port in '\(text)'") }
                port = p
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            guard let p = Int(text[text.index(after: colon)...]) else { throw .malformed("bad port in '\(text)'") }
            port = p
        }
        guard (1...65_535).contains(port) else { throw .malformed("port \(port) in '\(text)' is out of range") }
        guard !host.isEmpty else { throw .malformed("'\(text)' names no host") }
        if let address = try? SocketAddress(ipAddress: host, port: port) { return [address] }
        let found = addresses(of: host, port: port)
        guard !found.isEmpty else { throw .unresolved("cannot resolve the host name '\(host)'") }
        return found
    }

    /// The host's addresses from getaddrinfo, IPv4 first, without repeats.
    private static func addresses(of host: String, port: Int) -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(first) }
        var found: [SocketAddress] = []
        var next: UnsafeMutablePointer<addrinfo>? = first
        while let entry = next {
            switch entry.pointee.ai_family {
            case AF_INET:
                entry.pointee.ai_addr.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { found.append(SocketAddress($0.pointee, host: host)) }
            case AF_INET6:
                entry.pointee.ai_addr.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { found.append(SocketAddress($0.pointee, host: host)) }
            default: break
            }
            next = entry.pointee.ai_next
        }
        var unique: [SocketAddress] = []
        for address in found.sorted(by: { $0.protocol == .inet && $1.protocol != .inet }) where !unique.contains(address) { unique.append(address) }
        return unique
    }
}

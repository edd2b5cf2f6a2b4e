#if canImport(Glibc)
    import Glibc
#endif
import NIOCore

/// Where a request came from, kept as the socket gave it and written out only when something
/// about the request is logged: most requests never are, and none pays for a description.
public struct RequestSource: Sendable, CustomStringConvertible {
    private enum Storage: @unchecked Sendable {
        case unknown
        case address(SocketAddress)
        case raw(sockaddr_storage, socklen_t)
    }

    private let storage: Storage

    /// A request whose sender is not known (or is this process itself).
    public static let unknown = RequestSource(storage: .unknown)

    private init(storage: Storage) { self.storage = storage }

    public init(_ address: SocketAddress?) {
        storage = address.map { .address($0) } ?? .unknown
    }

    /// The address as `recvmsg` wrote it.
    init(raw address: sockaddr_storage, length: socklen_t) {
        storage = .raw(address, length)
    }

    /// ADDRESS:PORT ([ADDRESS]:PORT for IPv6), or "unknown".
    public var description: String {
        switch storage {
        case .unknown:
            return "unknown"
        case .address(let address):
            return Self.describe(address)
        case .raw(var address, _):
            return withUnsafeBytes(of: &address) { raw -> String in
                switch Int32(raw.load(as: sa_family_t.self)) {
                case AF_INET: return Self.describe(SocketAddress(raw.load(as: sockaddr_in.self), host: ""))
                case AF_INET6: return Self.describe(SocketAddress(raw.load(as: sockaddr_in6.self), host: ""))
                default: return "unknown"
                }
            }
        }
    }

    private static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return ip.contains(":") ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

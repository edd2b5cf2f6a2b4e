import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Says why a socket operation failed in the system's words ("Connection refused"), without the
/// layers of wrapping that NIO's errors print.
func describeFailure(_ error: any Error) -> String {
    switch error {
    case let error as IOError:
        return String(cString: strerror(error.errnoCode))
    case let error as NIOConnectionError:
        return error.connectionErrors.first.map { describeFailure($0.error) } ?? "cannot connect"
    case ChannelError.connectTimeout:
        return "the connection timed out"
    case ChannelError.ioOnClosedChannel, ChannelError.alreadyClosed:
        return "the socket closed"
    default:
        return "\(error)"
    }
}

extension SocketAddress {
    /// `127.0.0.1:53` or `[::1]:53`, as people write a server's address.
    public var display: String {
        guard let ip = ipAddress else { return "\(self)" }
        let host = ip.contains(":") ? "[\(ip)]" : ip
        return port.map { "\(host):\($0)" } ?? host
    }
}

import ArgumentParser
import DNSWire
import NIOCore

/// `ADDRESS`, `ADDRESS:PORT` or `[IPv6]:PORT`, port 53 when none is given.
enum ServerAddress {
    static func parse(_ text: String) throws -> SocketAddress {
        var host = text
        var port = 53
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") {
                guard let p = Int(rest.dropFirst()) else { throw CLIError.invalidInput("bad port in '\(text)'") }
                port = p
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            guard let p = Int(text[text.index(after: colon)...]) else { throw CLIError.invalidInput("bad port in '\(text)'") }
            port = p
        }
        guard (1...65535).contains(port) else { throw CLIError.invalidInput("port \(port) in '\(text)' is out of range") }
        do {
            return try SocketAddress(ipAddress: host, port: port)
        } catch {
            throw CLIError.invalidInput("'\(host)' is not an IP address (names are not resolved)")
        }
    }
}

func parseName(_ text: String) throws -> DNSName {
    do { return try DNSName(text) } catch { throw CLIError.invalidInput("invalid name '\(text)': \(error)") }
}

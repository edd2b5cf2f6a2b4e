import ArgumentParser
import DNSClient
import DNSWire
import Foundation
import NIOCore

/// Where the DNS server is and which key signs for it.
struct ServerOptions: ParsableArguments {
    @Option(name: .shortAndLong, help: "The server, as ADDRESS or ADDRESS:PORT (IPv6 as [ADDRESS]:PORT).")
    var server: String = "127.0.0.1:53"

    @Option(name: .shortAndLong, help: "A TSIG key file in BIND's format (as tsig-keygen writes).")
    var key: String?

    @Option(name: .customLong("key-string"), help: "A TSIG key as [algorithm:]name:base64-secret.")
    var keyString: String?

    @Flag(help: "Use TCP only.")
    var tcp = false

    @Option(help: "Seconds to wait for each attempt.")
    var timeout: Double = 2

    func clientConfiguration() throws -> DNSClientConfiguration {
        var config = DNSClientConfiguration(servers: [try Self.parseAddress(server)], key: try loadKey())
        config.alwaysTCP = tcp
        config.timeout = .milliseconds(Int(timeout * 1000))
        return config
    }

    func loadKey() throws -> TSIGKey? {
        if let keyString { return try TSIGKey(parsing: keyString) }
        guard let key else { return nil }
        guard let text = try? String(contentsOfFile: key, encoding: .utf8) else {
            throw ValidationError("cannot read the key file \(key)")
        }
        return try TSIGKey.parseBINDKeyFile(text)[0]
    }

    static func parseAddress(_ text: String) throws -> SocketAddress {
        var host = text
        var port = 53
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if rest.hasPrefix(":") {
                guard let p = Int(rest.dropFirst()) else { throw ValidationError("bad port in \(text)") }
                port = p
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            host = String(text[..<colon])
            guard let p = Int(text[text.index(after: colon)...]) else { throw ValidationError("bad port in \(text)") }
            port = p
        }
        guard (1...65535).contains(port) else { throw ValidationError("port \(port) is out of range") }
        do {
            return try SocketAddress(ipAddress: host, port: port)
        } catch {
            throw ValidationError("'\(host)' is not an IP address (names are not resolved)")
        }
    }
}

func parseName(_ text: String) throws -> DNSName {
    do { return try DNSName(text) } catch { throw ValidationError("invalid name '\(text)': \(error)") }
}

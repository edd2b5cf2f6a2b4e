import DNSClient
import ArgumentParser
import DNSWire
import NIOCore

/// `ADDRESS`, `ADDRESS:PORT` or `[IPv6]:PORT`, port 53 when none is given.
extension ServerAddress {
    /// A server given on the command line, in the environment or in the configuration file.
    static func cli(_ text: String) throws -> SocketAddress {
        do {
            return try parse(text)
        } catch {
            throw CLIError.invalidInput(error.description)
        }
    }
}

func parseName(_ text: String) throws -> DNSName {
    do { return try DNSName(text) } catch { throw CLIError.invalidInput("invalid name '\(text)': \(error)") }
}

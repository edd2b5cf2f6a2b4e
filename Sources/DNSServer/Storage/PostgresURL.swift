import Foundation

/// A PostgreSQL connection URL as libpq writes it, with one host or several:
/// `postgresql://USER[:PASSWORD]@HOST[:PORT][,HOST[:PORT]…]/DATABASE[?target_session_attrs=read-write]`.
///
/// With several hosts the store connects to the one that takes writes, trying them in turn
/// (starting from the one that last did), so it follows a failover to a promoted standby without a
/// restart. A front end writes through every connection and reads `latest` from it, so it never
/// settles on a standby: `target_session_attrs` may only say so (`read-write` or `primary`, which
/// is also what it means when left out). Parameters it does not act on are refused rather than
/// ignored: an unheeded `sslmode=require` would otherwise send in the clear what its writer meant
/// to encrypt.
public struct PostgresURL: Sendable, Equatable {
    public struct Host: Sendable, Equatable, CustomStringConvertible {
        public var name: String
        public var port: Int
        public init(name: String, port: Int) {
            self.name = name
            self.port = port
        }
        public var description: String { name.contains(":") ? "[\(name)]:\(port)" : "\(name):\(port)" }
    }

    public var user: String
    public var password: String?
    public var hosts: [Host]
    public var database: String

    /// The URL without its password, for messages and logs.
    public var display: String {
        "postgresql://\(user)@\(hosts.map(\.description).joined(separator: ","))/\(database)"
    }

    /// Parses `url`; without a password in it, `PGPASSWORD` (from `environment`) gives it, as with
    /// libpq, which keeps it out of `ps`.
    public init(_ url: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(PostgresURLError) {
        let shown = StorageURL.redacted(url)
        func refuse(_ why: String) -> PostgresURLError { PostgresURLError(url: shown, reason: why) }
        guard let schemeEnd = url.range(of: "://"), ["postgresql", "postgres"].contains(url[..<schemeEnd.lowerBound]) else {
            throw refuse("expected postgresql://USER@HOST:PORT/DATABASE")
        }
        var rest = Substring(url[schemeEnd.upperBound...])
        if let fragment = rest.firstIndex(of: "#") { rest = rest[..<fragment] }
        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var authority = rest
        var user = "postgres"
        var password = environment["PGPASSWORD"]
        if let at = authority.lastIndex(of: "@") {
            let info = authority[..<at]
            authority = authority[authority.index(after: at)...]
            let userPart = info.firstIndex(of: ":").map { info[..<$0] } ?? info
            guard let decoded = String(userPart).removingPercentEncoding, !decoded.isEmpty else { throw refuse("the user name is empty or badly escaped") }
            user = decoded
            if let colon = info.firstIndex(of: ":") {
                guard let decoded = String(info[info.index(after: colon)...]).removingPercentEncoding else {
                    throw refuse("the password is badly escaped")
                }
                password = decoded
            }
        }
        var hosts: [Host] = []
        for entry in authority.split(separator: ",", omittingEmptySubsequences: false) {
            hosts.append(try Self.host(entry, refuse))
        }
        guard let decodedPath = String(path).removingPercentEncoding else { throw refuse("the database name is badly escaped") }
        self.user = user
        self.password = password
        self.hosts = hosts
        database = decodedPath.isEmpty ? user : decodedPath
        for parameter in query.split(separator: "&") {
            let pair = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0]).removingPercentEncoding ?? String(pair[0])
            let value = pair.count > 1 ? String(pair[1]).removingPercentEncoding ?? String(pair[1]) : ""
            switch name {
            case "target_session_attrs":
                guard ["read-write", "primary"].contains(value) else {
                    throw refuse(
                        "target_session_attrs=\(value): a front end writes through every connection, so it connects only to the server that takes writes (read-write or primary)")
                }
            default:
                throw refuse("'\(name)' is not a parameter dnsstore acts on (it takes target_session_attrs); the connection is unencrypted")
            }
        }
    }

    /// `HOST[:PORT]` or `[IPv6]:PORT`.
    private static func host(_ entry: Substring, _ refuse: (String) -> PostgresURLError) throws(PostgresURLError) -> Host {
        var name = entry
        var port: Substring?
        if entry.hasPrefix("[") {
            guard let close = entry.firstIndex(of: "]") else { throw refuse("'\(entry)' opens an IPv6 address with '[' and does not close it") }
            name = entry[entry.index(after: entry.startIndex)..<close]
            let after = entry[entry.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw refuse("'\(entry)': expected ':PORT' after the IPv6 address") }
                port = after.dropFirst()
            }
        } else if let colon = entry.firstIndex(of: ":") {
            name = entry[..<colon]
            port = entry[entry.index(after: colon)...]
        }
        guard !name.isEmpty else {
            throw refuse(entry.isEmpty ? "a host is missing (an empty entry in the host list)" : "'\(entry)' has no host name")
        }
        guard let port else { return Host(name: String(name), port: 5432) }
        guard let number = Int(port), (1...65_535).contains(number) else {
            throw refuse("'\(port)' in '\(entry)' is not a port (1-65535)")
        }
        return Host(name: String(name), port: number)
    }
}

/// A storage URL that cannot be used, with the reason; the URL is shown without its password.
public struct PostgresURLError: Error, CustomStringConvertible, Equatable {
    public var url: String
    public var reason: String
    public var description: String { "'\(url)' is not a usable PostgreSQL URL: \(reason)" }
}

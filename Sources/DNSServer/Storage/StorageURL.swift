/// Storage URLs as they may appear in messages and logs.
public enum StorageURL {
    /// `url` with the password of its user information replaced by `***`, whether or not the rest
    /// of it parses: a malformed URL is echoed in errors too, and must not carry the password.
    public static func redacted(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@"), let colon = rest[..<at].firstIndex(of: ":") else { return url }
        return String(url[..<rest.index(after: colon)]) + "***" + String(rest[at...])
    }
}

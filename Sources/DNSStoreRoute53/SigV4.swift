import Crypto
import Foundation

/// AWS credentials: an access key, its secret, and for temporary credentials the session token.
public struct AWSCredentials: Sendable, Hashable {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }
}

/// An HTTP request as AWS Signature Version 4 sees it. `path` is the path as the service should
/// understand it, not yet percent-encoded (`/2013-04-01/hostedzone/Z1/rrset`); `query` the
/// parameters, not yet encoded, in any order; `headers` in the order they are sent, names in any
/// case, `host` among them.
public struct SignableRequest: Sendable, Hashable {
    public var method: String
    public var path: String
    public var query: [QueryItem]
    public var headers: [Header]
    public var body: [UInt8]

    public struct QueryItem: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public struct Header: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(method: String, path: String, query: [QueryItem] = [], headers: [Header], body: [UInt8] = []) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }
}

/// AWS Signature Version 4 (the "Signing AWS API requests" chapter of AWS's general reference),
/// for services other than S3: the path is normalized and encoded once, the payload is hashed into
/// the canonical request, and no `x-amz-content-sha256` header is added.
public enum SigV4 {
    /// What signing produced: the headers to add, and the intermediate texts (for tests and for
    /// saying why a service refused a signature).
    public struct Signature: Sendable, Hashable {
        /// `Authorization`, `X-Amz-Date`, and `X-Amz-Security-Token` with temporary credentials.
        public var headers: [SignableRequest.Header]
        public var canonicalRequest: String
        public var stringToSign: String
        public var authorization: String
    }

    /// Signs `request` for `service` in `region` at `date` (UTC, to the second). An `X-Amz-Date`
    /// header already in the request is signed as it is; otherwise one is added from `date`.
    public static func sign(
        _ request: SignableRequest, credentials: AWSCredentials, region: String, service: String, date: Date
    ) -> Signature {
        let stamp = timestamp(date)
        var request = request
        var added: [SignableRequest.Header] = []
        if !request.headers.contains(where: { $0.name.lowercased() == "x-amz-date" }) {
            added.append(.init("X-Amz-Date", stamp))
        }
        if let token = credentials.sessionToken, !request.headers.contains(where: { $0.name.lowercased() == "x-amz-security-token" }) {
            added.append(.init("X-Amz-Security-Token", token))
        }
        request.headers += added
        let amzDate = request.headers.last { $0.name.lowercased() == "x-amz-date" }?.value ?? stamp
        let day = String(amzDate.prefix(8))
        let (canonical, signedHeaders) = canonicalRequest(request)
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n\(hex(SHA256.hash(data: Array(canonical.utf8))))"
        var key = SymmetricKey(data: Array("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [day, region, service, "aws4_request"] {
            key = SymmetricKey(data: Array(HMAC<SHA256>.authenticationCode(for: Array(part.utf8), using: key)))
        }
        let signature = hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        let authorization = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return Signature(
            headers: added + [.init("Authorization", authorization)], canonicalRequest: canonical, stringToSign: stringToSign,
            authorization: authorization)
    }

    /// The canonical request and the signed header names (every header given, lower case, sorted).
    static func canonicalRequest(_ request: SignableRequest) -> (String, String) {
        var values: [String: [String]] = [:]
        for header in request.headers {
            values[header.name.lowercased(), default: []].append(trimmed(header.value))
        }
        let names = values.keys.sorted()
        let headers = names.map { "\($0):\(values[$0]!.joined(separator: ","))\n" }.joined()
        let pairs: [(name: String, value: String)] = request.query.map { (encode($0.name), encode($0.value)) }
        let sorted = pairs.sorted { a, b in a.name != b.name ? a.name < b.name : a.value < b.value }
        let query = sorted.map { "\($0.name)=\($0.value)" }.joined(separator: "&")
        let signed = names.joined(separator: ";")
        let payload = hex(SHA256.hash(data: request.body))
        let lines: [String] = [request.method, canonicalPath(request.path), query, headers, signed, payload]
        let text = lines.joined(separator: "\n")
        return (text, signed)
    }

    /// The path with `.` and `..` segments resolved and empty segments dropped (a trailing slash
    /// kept), each segment percent-encoded.
    static func canonicalPath(_ path: String) -> String {
        var segments: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".": continue
            case "..": _ = segments.popLast()
            default: segments.append(segment)
            }
        }
        let joined = "/" + segments.map { encode(String($0)) }.joined(separator: "/")
        return path.hasSuffix("/") && !segments.isEmpty ? joined + "/" : joined
    }

    /// Percent-encoding of everything but the unreserved characters (RFC 3986), upper-case hex.
    static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0xF, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// A header value with its ends trimmed and every run of white space made one space.
    static func trimmed(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }).joined(separator: " ")
    }

    /// `YYYYMMDDTHHMMSSZ` in UTC.
    static func timestamp(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }

    static func hex<D: Sequence>(_ bytes: D) -> String where D.Element == UInt8 {
        bytes.map { String(format: "%02x", $0) }.joined()
    }
}

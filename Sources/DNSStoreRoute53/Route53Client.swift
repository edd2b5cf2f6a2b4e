import AsyncHTTPClient
import DNSWire
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Where and as whom the Route 53 API is called.
public struct Route53Configuration: Sendable {
    /// The API's address: AWS's by default; another for a compatible server (a test double on
    /// loopback, a proxy).
    public var endpoint: URL
    /// Route 53 is signed for `us-east-1` whatever the zone.
    public var region = "us-east-1"
    public var credentials: AWSCredentials
    /// Time allowed for one HTTP request.
    public var timeout: Duration = .seconds(10)
    /// Tries per request when the API asks to slow down (`Throttling`, `PriorRequestNotComplete`)
    /// or fails on its side (5xx); each retry waits longer, at random within its bound.
    public var attempts = 5
    /// The first retry's bound; each later one doubles it.
    public var backoff: Duration = .milliseconds(200)
    /// Where requests are counted, when they are (`--stats`, benchmarks).
    public var requests: Route53RequestCount?

    public static let awsEndpoint = URL(string: "https://route53.amazonaws.com")!

    public init(credentials: AWSCredentials, endpoint: URL = Route53Configuration.awsEndpoint) {
        self.credentials = credentials
        self.endpoint = endpoint
    }
}

/// The requests sent to the API, by call (`ListResourceRecordSets`, ...), each retry counted:
/// what AWS bills and rate-limits.
public final class Route53RequestCount: Sendable {
    private let counts = Locked([String: Int]())

    public init() {}

    func add(_ call: String) { counts.withLock { $0[call, default: 0] += 1 } }

    public var byCall: [String: Int] { counts.withLock { $0 } }
    public var total: Int { byCall.values.reduce(0, +) }
    public func reset() { counts.withLock { $0 = [:] } }

    /// "3 Route 53 API requests (2 ListResourceRecordSets, 1 ChangeResourceRecordSets)".
    public var summary: String {
        let calls = byCall.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        return "\(total) Route 53 API requests" + (calls.isEmpty ? "" : " (\(calls))")
    }
}

/// One record set as the API names it: TXT values are given as Route 53 writes them, each a
/// quoted string or several separated by spaces.
public struct Route53RecordSet: Sendable, Hashable {
    public var name: String
    public var type: String
    public var ttl: Int
    public var values: [String]

    public init(name: String, type: String, ttl: Int, values: [String]) {
        self.name = name
        self.type = type
        self.ttl = ttl
        self.values = values
    }
}

/// One change of a batch.
public struct Route53Change: Sendable, Hashable {
    public enum Action: String, Sendable {
        /// Fails the whole batch if the record set exists.
        case create = "CREATE"
        /// Fails the whole batch unless the record set exists with exactly these values and TTL.
        case delete = "DELETE"
        case upsert = "UPSERT"
    }

    public var action: Action
    public var recordSet: Route53RecordSet

    public init(_ action: Action, _ recordSet: Route53RecordSet) {
        self.action = action
        self.recordSet = recordSet
    }
}

/// A submitted batch: its id and whether every Route 53 server has it yet.
public struct Route53ChangeInfo: Sendable, Hashable {
    public var id: String
    /// `PENDING` or `INSYNC`.
    public var status: String
}

/// One page of a zone's record sets in the API's order, and where the next starts.
public struct Route53RecordSetPage: Sendable, Hashable {
    public var recordSets: [Route53RecordSet]
    /// The name and type to list from for the next page; nil on the last.
    public var next: (name: String, type: String)? {
        get { nextName.map { ($0, nextType ?? "") } }
        set { (nextName, nextType) = (newValue?.name, newValue?.type) }
    }
    var nextName: String?
    var nextType: String?
}

/// Why a Route 53 request failed.
public enum Route53Error: Error, Sendable, Hashable, CustomStringConvertible {
    /// The batch was refused as a whole, nothing applied: a DELETE that did not match the record
    /// set's current values, a CREATE of one that exists (`InvalidChangeBatch`; some compatible
    /// servers say `InvalidInput`). For a compare-and-swap, a conflict.
    case rejectedBatch(String)
    /// No hosted zone with this id.
    case noSuchZone(String)
    /// The credentials were refused, or they may not do this.
    case unauthorized(String)
    /// Still asked to slow down after every try.
    case throttled(String)
    /// The API answered with another error.
    case failed(status: Int, code: String, message: String)
    /// What answered is not the Route 53 API (not its XML).
    case notRoute53(String)
    /// Nothing reached the API: no connection.
    case unreachable(String)
    /// A change was sent and no answer came: it may have been applied.
    case unanswered(String)

    public var description: String {
        switch self {
        case .rejectedBatch(let why): return "Route 53 refused the change batch, nothing applied: \(why)"
        case .noSuchZone(let why): return "no such hosted zone: \(why)"
        case .unauthorized(let why): return "Route 53 refused the credentials: \(why)"
        case .throttled(let why): return "Route 53 kept asking to slow down: \(why)"
        case .failed(let status, let code, let message): return "Route 53 answered \(status) \(code): \(message)"
        case .notRoute53(let why): return "not a Route 53 API: \(why)"
        case .unreachable(let why): return "Route 53 API unreachable: \(why)"
        case .unanswered(let why): return "a change was sent to Route 53 and no answer came: \(why)"
        }
    }
}

/// The Route 53 API calls a store needs, signed (SigV4), with retries when asked to slow down.
public final class Route53Client: Sendable {
    public let configuration: Route53Configuration
    private let http: HTTPClient
    static let namespace = "https://route53.amazonaws.com/doc/2013-04-01/"

    public init(configuration: Route53Configuration, httpClient: HTTPClient = .shared) {
        self.configuration = configuration
        self.http = httpClient
    }

    /// Applies `changes` as one batch, all or nothing.
    public func change(zone: String, _ changes: [Route53Change], comment: String? = nil) async throws -> Route53ChangeInfo {
        var body = #"<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="\#(Self.namespace)"><ChangeBatch>"#
        if let comment { body += "<Comment>\(xmlEscaped(comment))</Comment>" }
        body += "<Changes>"
        for change in changes {
            let set = change.recordSet
            body += "<Change><Action>\(change.action.rawValue)</Action><ResourceRecordSet><Name>\(xmlEscaped(set.name))</Name>"
            body += "<Type>\(xmlEscaped(set.type))</Type><TTL>\(set.ttl)</TTL><ResourceRecords>"
            for value in set.values { body += "<ResourceRecord><Value>\(xmlEscaped(value))</Value></ResourceRecord>" }
            body += "</ResourceRecords></ResourceRecordSet></Change>"
        }
        body += "</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>"
        let answer = try await send("ChangeResourceRecordSets", "POST", "/2013-04-01/hostedzone/\(Self.bareID(zone))/rrset/", body: body, zone: zone)
        return try Self.changeInfo(answer)
    }

    /// Up to `maxItems` record sets from `name` (and `type`) on, in the API's order.
    public func recordSets(zone: String, from name: String? = nil, type: String? = nil, maxItems: Int = 300) async throws -> Route53RecordSetPage {
        var query: [SignableRequest.QueryItem] = [.init("maxitems", "\(maxItems)")]
        if let name { query.append(.init("name", name)) }
        if let type { query.append(.init("type", type)) }
        let answer = try await send("ListResourceRecordSets", "GET", "/2013-04-01/hostedzone/\(Self.bareID(zone))/rrset", query: query, zone: zone)
        let sets = answer.all("ResourceRecordSet").map { set in
            Route53RecordSet(
                name: set["Name"]?.text ?? "", type: set["Type"]?.text ?? "", ttl: Int(set["TTL"]?.text ?? "") ?? 0,
                values: set.all("Value").map(\.text))
        }
        let truncated = answer["IsTruncated"]?.text == "true"
        return Route53RecordSetPage(
            recordSets: sets, nextName: truncated ? answer["NextRecordName"]?.text : nil, nextType: truncated ? answer["NextRecordType"]?.text : nil)
    }

    /// A batch's status by its id (as `change` returned it).
    public func change(id: String) async throws -> Route53ChangeInfo {
        let bare = id.hasPrefix("/change/") ? String(id.dropFirst("/change/".count)) : id
        return try Self.changeInfo(try await send("GetChange", "GET", "/2013-04-01/change/\(bare)"))
    }

    /// Creates a public hosted zone for `name`; returns its id. For tools and tests: a store is
    /// given a zone that exists.
    public func createHostedZone(name: String, callerReference: String = UUID().uuidString) async throws -> String {
        let body = #"<?xml version="1.0" encoding="UTF-8"?><CreateHostedZoneRequest xmlns="\#(Self.namespace)">"#
            + "<Name>\(xmlEscaped(name))</Name><CallerReference>\(xmlEscaped(callerReference))</CallerReference></CreateHostedZoneRequest>"
        let answer = try await send("CreateHostedZone", "POST", "/2013-04-01/hostedzone", body: body)
        guard let id = answer["HostedZone"]?["Id"]?.text else { throw Route53Error.notRoute53("no hosted zone id in the answer to CreateHostedZone") }
        return Self.bareID(id)
    }

    /// `/hostedzone/Z1` or `Z1`: `Z1`.
    static func bareID(_ id: String) -> String {
        id.hasPrefix("/hostedzone/") ? String(id.dropFirst("/hostedzone/".count)) : id
    }

    static func changeInfo(_ answer: XMLTree) throws -> Route53ChangeInfo {
        guard let info = answer["ChangeInfo"], let id = info["Id"]?.text, let status = info["Status"]?.text else {
            throw Route53Error.notRoute53("no ChangeInfo in the answer")
        }
        return Route53ChangeInfo(id: id, status: status)
    }

    // MARK: Requests

    /// Sends one signed request, again (after a random pause within a doubling bound) while the
    /// API asks to slow down or fails on its side; the answer's XML, or the error it names.
    func send(_ call: String, _ method: String, _ path: String, query: [SignableRequest.QueryItem] = [], body: String = "", zone: String? = nil) async throws -> XMLTree {
        var bound = configuration.backoff
        var attempt = 1
        while true {
            configuration.requests?.add(call)
            do {
                return try await sendOnce(method, path, query: query, body: body, zone: zone)
            } catch is Retryable where attempt < configuration.attempts {
                attempt += 1
                try await Task.sleep(for: bound * Double.random(in: 0...1))
                bound = bound * 2
            } catch let error as Retryable {
                throw error.final
            }
        }
    }

    /// Whether `error` means no connection was made, so the request never left.
    static func neverSent(_ error: any Error) -> Bool {
        if error is NIOConnectionError { return true }
        if let error = error as? HTTPClientError, error == .connectTimeout { return true }
        if let error = error as? ChannelError, case .connectTimeout = error { return true }
        if let error = error as? IOError, error.errnoCode == ECONNREFUSED { return true }
        return false
    }

    /// An answer worth asking again for, and the error to report when the tries run out.
    struct Retryable: Error {
        var final: Route53Error
    }

    private func sendOnce(_ method: String, _ path: String, query: [SignableRequest.QueryItem], body: String, zone: String?) async throws -> XMLTree {
        var components = URLComponents(url: configuration.endpoint, resolvingAgainstBaseURL: false)!
        let host = components.host.map { name in components.port.map { "\(name):\($0)" } ?? name } ?? ""
        let basePath = components.path.hasSuffix("/") ? String(components.path.dropLast()) : components.path
        components.percentEncodedPath = basePath + path.split(separator: "/", omittingEmptySubsequences: false).map { SigV4.encode(String($0)) }.joined(separator: "/")
        components.percentEncodedQuery = query.isEmpty ? nil : query.map { "\(SigV4.encode($0.name))=\(SigV4.encode($0.value))" }.joined(separator: "&")
        let bytes = Array(body.utf8)
        var signable = SignableRequest(
            method: method, path: basePath + path, query: query, headers: [.init("Host", host)], body: bytes)
        if !bytes.isEmpty { signable.headers.append(.init("Content-Type", "text/xml")) }
        let signature = SigV4.sign(signable, credentials: configuration.credentials, region: configuration.region, service: "route53", date: Date())

        var request = HTTPClientRequest(url: components.url!.absoluteString)
        request.method = HTTPMethod(rawValue: method)
        for header in signable.headers + signature.headers where header.name.lowercased() != "host" {
            request.headers.add(name: header.name, value: header.value)
        }
        if !bytes.isEmpty { request.body = .bytes(ByteBuffer(bytes: bytes)) }
        let response: HTTPClientResponse
        let data: ByteBuffer
        do {
            let (seconds, attoseconds) = configuration.timeout.components
            response = try await http.execute(request, timeout: .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000))
            data = try await response.body.collect(upTo: 16 << 20)
        } catch {
            let said = "\(configuration.endpoint.absoluteString): \(error)"
            // A change that may have left this process may have been applied; a read never changes anything.
            if method == "POST", !Self.neverSent(error) { throw Route53Error.unanswered(said) }
            throw Route53Error.unreachable(said)
        }
        let status = Int(response.status.code)
        guard let tree = XMLTree.parse(Data(data.readableBytesView)) else {
            let text = String(decoding: data.readableBytesView.prefix(200), as: UTF8.self)
            if status >= 500 { throw Retryable(final: .failed(status: status, code: "", message: text)) }
            throw Route53Error.notRoute53("\(configuration.endpoint.absoluteString) answered \(status) with no XML: \(text)")
        }
        guard !(200..<300).contains(status) else { return tree }
        let code = tree.name == "InvalidChangeBatch" ? "InvalidChangeBatch" : tree.all("Code").first?.text ?? ""
        let message = tree.all("Message").map(\.text).joined(separator: "; ")
        switch code {
        case "InvalidChangeBatch", "InvalidInput": throw Route53Error.rejectedBatch(message)
        case "NoSuchHostedZone": throw Route53Error.noSuchZone("\(zone ?? path): \(message)")
        case "Throttling", "PriorRequestNotComplete": throw Retryable(final: .throttled(message))
        case "InvalidClientTokenId", "SignatureDoesNotMatch", "AccessDenied", "AccessDeniedException", "IncompleteSignature",
            "MissingAuthenticationToken", "ExpiredToken", "UnrecognizedClientException":
            throw Route53Error.unauthorized("\(code): \(message)")
        default:
            if status >= 500 { throw Retryable(final: .failed(status: status, code: code, message: message)) }
            if status == 403 { throw Route53Error.unauthorized("\(code): \(message)") }
            throw Route53Error.failed(status: status, code: code, message: message)
        }
    }
}

@testable import DNSStoreRoute53
import Foundation
import Testing

/// AWS Signature Version 4 against AWS's published test suite (aws-sig-v4-test-suite): each case's
/// request, the canonical request and the Authorization header AWS gives for the credentials
/// AKIDEXAMPLE / wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY, region us-east-1, service "service".
@Suite("AWS Signature Version 4")
struct SigV4Tests {
    static let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    static let emptyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    static let scope = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
    /// The suite's session token for get-vanilla-with-session-token.
    static let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"
    static let date = Date(timeIntervalSince1970: 1_440_938_160)  // 2015-08-30T12:36:00Z

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        /// The suite's .req text: request line, headers (a line starting with a space continues
        /// the one above), a blank line, the body.
        var request: String
        var canonical: String
        var signedHeaders: String
        var signature: String
        var testDescription: String { name }
    }

    static func plain(_ method: String, _ target: String, canonicalPath: String, query: String = "") -> (String, String) {
        ("\(method) \(target) HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
         "\(method)\n\(canonicalPath)\n\(query)\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\(emptyHash)")
    }

    static let cases: [Case] = {
        func simple(_ name: String, _ method: String, _ target: String, _ path: String, _ query: String, _ signature: String) -> Case {
            let (request, canonical) = plain(method, target, canonicalPath: path, query: query)
            return Case(name: name, request: request, canonical: canonical, signedHeaders: "host;x-amz-date", signature: signature)
        }
        let unreserved = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        return [
            simple("get-vanilla", "GET", "/", "/", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            simple("get-vanilla-empty-query-key", "GET", "/?Param1=value1", "/", "Param1=value1", "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"),
            simple("get-vanilla-query-order-key-case", "GET", "/?Param2=value2&Param1=value1", "/", "Param1=value1&Param2=value2",
                   "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
            simple("get-vanilla-query-order-key", "GET", "/?Param1=value2&Param1=Value1", "/", "Param1=Value1&Param1=value2",
                   "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"),
            simple("get-vanilla-query-order-value", "GET", "/?Param1=value2&Param1=value1", "/", "Param1=value1&Param1=value2",
                   "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"),
            simple("get-vanilla-query-order-encoded", "GET", "/?Param-3=Value3&Param=Value2&%E1%88%B4=Value1", "/",
                   "%E1%88%B4=Value1&Param=Value2&Param-3=Value3", "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"),
            simple("get-vanilla-query-unreserved", "GET", "/?\(unreserved)=\(unreserved)", "/", "\(unreserved)=\(unreserved)",
                   "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
            simple("get-vanilla-utf8-query", "GET", "/?ሴ=bar", "/", "%E1%88%B4=bar", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
            simple("get-unreserved", "GET", "/\(unreserved)", "/\(unreserved)", "", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
            simple("get-utf8", "GET", "/ሴ", "/%E1%88%B4", "", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
            simple("get-relative", "GET", "/example/..", "/", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            simple("get-relative-relative", "GET", "/example1/example2/../..", "/", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            simple("get-slash", "GET", "//", "/", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            simple("get-slash-dot-slash", "GET", "/./", "/", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            simple("get-slash-pointless-dot", "GET", "/./example", "/example", "", "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"),
            simple("get-slashes", "GET", "//example//", "/example/", "", "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"),
            simple("get-space", "GET", "/example space/", "/example%20space/", "", "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
            simple("get-special-character", "GET", "/example/$delete", "/example/%24delete", "", "a853c9b21b528b19643d00910d35b83a10c366a10833ceefb45edd6c80e40f27"),
            simple("post-vanilla", "POST", "/", "/", "", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
            simple("post-vanilla-query", "POST", "/?Param1=value1", "/", "Param1=value1", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
            Case(
                name: "get-header-key-duplicate",
                request: "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value2\nMy-Header1:value2\nMy-Header1:value1\nX-Amz-Date:20150830T123600Z",
                canonical: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n\(emptyHash)",
                signedHeaders: "host;my-header1;x-amz-date", signature: "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
            Case(
                name: "get-header-value-multiline",
                request: "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value1\n  value2\n     value3\nX-Amz-Date:20150830T123600Z",
                canonical: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1 value2 value3\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n\(emptyHash)",
                signedHeaders: "host;my-header1;x-amz-date", signature: "cfd34249e4b1c8d6b91ef74165d41a32e5fab3306300901bb65a51a73575eefd"),
            Case(
                name: "get-header-value-order",
                request: "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value4\nMy-Header1:value1\nMy-Header1:value3\nMy-Header1:value2\nX-Amz-Date:20150830T123600Z",
                canonical: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value4,value1,value3,value2\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n\(emptyHash)",
                signedHeaders: "host;my-header1;x-amz-date", signature: "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"),
            Case(
                name: "get-header-value-trim",
                request: "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1: value1\nMy-Header2: \"a   b   c\"\nX-Amz-Date:20150830T123600Z",
                canonical: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\n\(emptyHash)",
                signedHeaders: "host;my-header1;my-header2;x-amz-date", signature: "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
            Case(
                name: "post-header-key-sort",
                request: "POST / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value1\nX-Amz-Date:20150830T123600Z",
                canonical: "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n\(emptyHash)",
                signedHeaders: "host;my-header1;x-amz-date", signature: "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
            Case(
                name: "post-header-value-case",
                request: "POST / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:VALUE1\nX-Amz-Date:20150830T123600Z",
                canonical: "POST\n/\n\nhost:example.amazonaws.com\nmy-header1:VALUE1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\n\(emptyHash)",
                signedHeaders: "host;my-header1;x-amz-date", signature: "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
            Case(
                name: "post-x-www-form-urlencoded",
                request: "POST / HTTP/1.1\nContent-Type:application/x-www-form-urlencoded\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\n\nParam1=value1",
                canonical: "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
                signedHeaders: "content-type;host;x-amz-date", signature: "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
            Case(
                name: "post-x-www-form-urlencoded-parameters",
                request: "POST / HTTP/1.1\nContent-Type:application/x-www-form-urlencoded; charset=utf8\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\n\nParam1=value1",
                canonical: "POST\n/\n\ncontent-type:application/x-www-form-urlencoded; charset=utf8\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
                signedHeaders: "content-type;host;x-amz-date", signature: "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe"),
        ]
    }()

    /// The suite's request text as a request: the target's path and query decoded (the suite
    /// writes some of them encoded), headers in order, the body.
    static func parse(_ text: String) -> SignableRequest {
        let parts = text.components(separatedBy: "\n\n")
        var lines = parts[0].components(separatedBy: "\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        let target = String(requestLine[1..<(requestLine.count - 1)].joined(separator: " "))
        let (path, query) = target.firstIndex(of: "?").map { (String(target[..<$0]), String(target[target.index(after: $0)...])) } ?? (target, "")
        var headers: [SignableRequest.Header] = []
        for line in lines {
            if line.hasPrefix(" ") || line.hasPrefix("\t") {
                headers[headers.count - 1].value += " " + line
            } else if let colon = line.firstIndex(of: ":") {
                headers.append(.init(String(line[..<colon]), String(line[line.index(after: colon)...])))
            }
        }
        let items = query.isEmpty ? [] : query.split(separator: "&").map { pair -> SignableRequest.QueryItem in
            let halves = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map { String($0).removingPercentEncoding ?? String($0) }
            return .init(halves[0], halves.count > 1 ? halves[1] : "")
        }
        return SignableRequest(
            method: String(requestLine[0]), path: path, query: items, headers: headers, body: Array((parts.count > 1 ? parts[1] : "").utf8))
    }

    @Test(arguments: cases)
    func publishedCase(_ test: Case) {
        let signature = SigV4.sign(Self.parse(test.request), credentials: Self.credentials, region: "us-east-1", service: "service", date: Self.date)
        #expect(signature.canonicalRequest == test.canonical)
        #expect(signature.authorization == Self.scope + "SignedHeaders=\(test.signedHeaders), Signature=\(test.signature)")
        // The request carried its date: only the Authorization header is added.
        #expect(signature.headers.map(\.name) == ["Authorization"])
    }

    /// Temporary credentials: the session token is added as a header and signed.
    @Test func getVanillaWithSessionToken() {
        var credentials = Self.credentials
        credentials.sessionToken = Self.token
        let signature = SigV4.sign(Self.parse(Self.plain("GET", "/", canonicalPath: "/").0), credentials: credentials, region: "us-east-1", service: "service", date: Self.date)
        #expect(signature.authorization == Self.scope + "SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8")
        #expect(signature.headers.contains(.init("X-Amz-Security-Token", Self.token)))
    }

    /// A request without its date gets one, to the second in UTC, and it is what is signed.
    @Test func theDateIsAddedWhenMissing() {
        let request = SignableRequest(method: "GET", path: "/", headers: [.init("Host", "example.amazonaws.com")])
        let signature = SigV4.sign(request, credentials: Self.credentials, region: "us-east-1", service: "service", date: Self.date)
        #expect(signature.headers.first == .init("X-Amz-Date", "20150830T123600Z"))
        #expect(signature.authorization == Self.scope + "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
    }
}

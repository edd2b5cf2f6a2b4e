import DNSStoreRoute53
import DNSWire
import Foundation

/// The Route 53 API for tests: moto's server, behind a small proxy that makes it refuse what AWS
/// refuses and moto lets through, and that can answer `Throttling` as AWS does under load.
/// moto checks a DELETE against the values a record set ever had, and refuses a CREATE over an
/// existing set only when the identical change was made before; AWS refuses, as a whole batch
/// (`InvalidChangeBatch`), any DELETE that does not match the set's current TTL and values and
/// any CREATE of a set that exists. The proxy checks both against moto's current record sets,
/// one batch at a time, before passing the batch on, and lists record sets only between batches,
/// since moto applies a batch one change at a time. moto also lists the SOA's value as the text
/// of a Python dict; the proxy lists it as AWS does.
public final class Route53Double: Sendable {
    public let moto: MotoServer
    public let port: Int
    private let proxy: ServerProcess

    private init(moto: MotoServer, port: Int, proxy: ServerProcess) {
        self.moto = moto
        self.port = port
        self.proxy = proxy
    }

    /// Starts moto and the proxy; with `throttleEvery` N above 0, every Nth request is answered
    /// `Throttling` (HTTP 400) without reaching moto.
    public static func start(throttleEvery: Int = 0) async throws -> Route53Double {
        let moto = try await MotoServer.start()
        do {
            let dir = try TempDirectory.make("route53-proxy")
            let script = dir.appendingPathComponent("proxy.py")
            try proxyScript.write(to: script, atomically: true, encoding: .utf8)
            let port = Ports.free()
            let proxy = try await ServerProcess.launch(
                try Subprocess.locate("python3"), [script.path, "\(port)", moto.endpoint.absoluteString, "\(throttleEvery)"],
                in: dir, logName: "proxy.log", port: port)
            return Route53Double(moto: moto, port: port, proxy: proxy)
        } catch {
            moto.stop()
            throw error
        }
    }

    public var endpoint: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// Test credentials: the double takes any.
    public static let credentials = AWSCredentials(accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")

    /// A client of this double (its configuration as `configure` leaves it) and a new hosted zone
    /// for `zone` there: the client and the zone's id.
    public func hostedZone(
        _ zone: DNSName = "example.test.", configure: (inout Route53Configuration) -> Void = { _ in }
    ) async throws -> (client: Route53Client, id: String) {
        var configuration = Route53Configuration(credentials: Self.credentials, endpoint: endpoint)
        configure(&configuration)
        let client = Route53Client(configuration: configuration)
        return (client, try await client.createHostedZone(name: zone.description))
    }

    /// Requests the proxy answered `Throttling` itself, and batches it refused for AWS's rules.
    public var counts: (throttled: Int, refused: Int) {
        let log = proxy.log
        return (log.components(separatedBy: "throttled\n").count - 1, log.components(separatedBy: "refused\n").count - 1)
    }

    public func stop() {
        proxy.stop()
        moto.stop()
    }

    static let proxyScript = #"""
        import sys, threading, urllib.request, urllib.error, urllib.parse, re, html
        import xml.etree.ElementTree as ET
        from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

        port, upstream, throttle_every = int(sys.argv[1]), sys.argv[2].rstrip("/"), int(sys.argv[3])
        NS = "{https://route53.amazonaws.com/doc/2013-04-01/}"
        lock, changes, count = threading.Lock(), threading.Lock(), [0]

        def say(word):
            with lock:
                sys.stdout.write(word + "\n")
                sys.stdout.flush()

        def forward(method, path, headers, body):
            request = urllib.request.Request(upstream + path, data=body, method=method, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=30) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()

        def error(code, message):
            return 400, ('<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
                         f'<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>'
                         '<RequestId>route53-double</RequestId></ErrorResponse>').encode()

        def plain(name):
            return (name or "").rstrip(".").lower()

        def current(zone_path, headers, name, rtype):
            """The set's (TTL, sorted values) in moto now, or None."""
            query = urllib.parse.urlencode({"name": name, "type": rtype, "maxitems": "1"})
            status, data = forward("GET", f"{zone_path}/rrset?{query}", headers, None)
            if status != 200:
                return None
            for rrset in ET.fromstring(data).iter(NS + "ResourceRecordSet"):
                if plain(rrset.findtext(NS + "Name")) == plain(name) and rrset.findtext(NS + "Type") == rtype:
                    return rrset.findtext(NS + "TTL"), sorted(v.text or "" for v in rrset.iter(NS + "Value"))
                return None
            return None

        def refusal(zone_path, headers, body):
            """Why AWS would refuse this batch, or None."""
            deleted = set()
            for change in ET.fromstring(body).iter(NS + "Change"):
                action = change.findtext(NS + "Action")
                rrset = change.find(NS + "ResourceRecordSet")
                name, rtype = rrset.findtext(NS + "Name"), rrset.findtext(NS + "Type")
                key = (plain(name), rtype)
                now = None if key in deleted else current(zone_path, headers, name, rtype)
                if action == "DELETE":
                    wanted = (rrset.findtext(NS + "TTL"), sorted(v.text or "" for v in rrset.iter(NS + "Value")))
                    if now is None:
                        return f"Tried to delete resource record set [name='{name}', type='{rtype}'] but it was not found"
                    if now != wanted:
                        return f"Tried to delete resource record set [name='{name}', type='{rtype}'] but the values provided do not match the current values"
                    deleted.add(key)
                elif action == "CREATE" and now is not None:
                    return f"Tried to create resource record set [name='{name}', type='{rtype}'] but it already exists"
            return None

        def aws_values(data):
            """moto lists the SOA's value as the text of a Python dict; AWS lists the value itself."""
            def one(m):
                inner = re.fullmatch(r"\{'Value': '(.*)'\}", html.unescape(m.group(1)), re.S)
                return m.group(0) if not inner else "<Value>" + html.escape(inner.group(1), quote=False) + "</Value>"
            return re.sub(r"<Value>(.*?)</Value>", one, data.decode(), flags=re.S).encode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def reply(self, status, data):
                self.send_response(status)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def handle_any(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
                headers.setdefault("Content-Type", "text/xml")
                with lock:
                    count[0] += 1
                    n = count[0]
                if throttle_every and n % throttle_every == 0:
                    say("throttled")
                    return self.reply(*error("Throttling", "Rate exceeded"))
                path = self.path.split("?")[0].rstrip("/")
                if method == "POST" and path.endswith("/rrset") and body:
                    with changes:
                        why = refusal(path[: -len("/rrset")], headers, body)
                        if why:
                            say("refused")
                            return self.reply(400, ('<?xml version="1.0"?><InvalidChangeBatch xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
                                                    f'<Messages><Message>{why}</Message></Messages></InvalidChangeBatch>').encode())
                        return self.reply(*forward(method, self.path, headers, body))
                if method == "GET" and path.endswith("/rrset"):
                    # moto applies a batch one change at a time: a listing between its DELETE and
                    # CREATE would see neither, where AWS shows a batch whole or not at all.
                    with changes:
                        status, data = forward(method, self.path, headers, body)
                    return self.reply(status, aws_values(data) if status == 200 else data)
                self.reply(*forward(method, self.path, headers, body))

            def do_GET(self):
                self.handle_any("GET")

            def do_POST(self):
                self.handle_any("POST")

        ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """#
}

import DNSServer
import Testing

/// `--storage` URLs as libpq writes them, with one host or several, and what is refused and why.
@Suite("PostgreSQL URLs")
struct PostgresURLTests {
    @Test func oneHostWithItsDefaults() throws {
        let url = try PostgresURL("postgresql://db.internal/dnsstore", environment: [:])
        #expect(url.user == "postgres" && url.password == nil && url.database == "dnsstore")
        #expect(url.hosts == [.init(name: "db.internal", port: 5432)])
        let named = try PostgresURL("postgres://dnsstore@db.internal:6432", environment: [:])
        #expect(named.database == "dnsstore" && named.hosts[0].port == 6432)
    }

    @Test func severalHostsInOrderWithTheirPorts() throws {
        let url = try PostgresURL(
            "postgresql://app:s%40cret@10.0.0.1:5433,db2,[fd00::3]:5434/store?target_session_attrs=read-write", environment: [:])
        #expect(url.hosts.map(\.description) == ["10.0.0.1:5433", "db2:5432", "[fd00::3]:5434"])
        #expect(url.user == "app" && url.password == "s@cret" && url.database == "store")
        // Messages and logs never carry the password.
        #expect(url.display == "postgresql://app@10.0.0.1:5433,db2:5432,[fd00::3]:5434/store")
    }

    @Test func thePasswordComesFromPGPASSWORDWhenTheURLHasNone() throws {
        #expect(try PostgresURL("postgresql://app@h/db", environment: ["PGPASSWORD": "p"]).password == "p")
        #expect(try PostgresURL("postgresql://app:q@h/db", environment: ["PGPASSWORD": "p"]).password == "q")
    }

    @Test(arguments: [
        ("mysql://u@h/db", "expected postgresql://"),
        ("postgresql://u@h1,,h2/db", "a host is missing"),
        ("postgresql://u:pw@h:99999/db", "'99999' in 'h:99999' is not a port"),
        ("postgresql://u@h:/db", "'' in 'h:' is not a port"),
        ("postgresql://u@[fd00::1/db", "does not close it"),
        ("postgresql://u@h1,h2/db?target_session_attrs=any", "target_session_attrs=any"),
        ("postgresql://u:pw@h/db?sslmode=require", "'sslmode' is not a parameter"),
    ])
    func aURLThatCannotBeUsedIsRefusedWithTheReason(url: String, reason: String) {
        do {
            let parsed = try PostgresURL(url, environment: [:])
            Issue.record("'\(url)' parsed as \(parsed.display)")
        } catch {
            #expect(error.reason.contains(reason) || error.description.contains(reason), "\(error)")
            #expect(!error.description.contains(":pw@"), "the password is in the message: \(error)")
        }
    }
}

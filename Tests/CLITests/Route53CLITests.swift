import DNSStoreRoute53
import DNSTestSupport
import Foundation
import Testing

/// `--route53-zone`: the command line on a store kept in a Route 53 hosted zone (moto behind the
/// proxy that refuses what AWS refuses), with its exit codes.
@Suite("Command line on Route 53", .enabled(if: MotoServer.isAvailable), .serialized)
struct Route53CLITests {
    /// Credentials from the environment, none from files the machine may hold.
    static func cli(_ double: Route53Double, key: String? = "AKIDEXAMPLE") throws -> CLI {
        var cli = try CLI()
        cli.environment = [
            "AWS_ACCESS_KEY_ID": key ?? "", "AWS_SECRET_ACCESS_KEY": key == nil ? "" : "secret",
            "AWS_SHARED_CREDENTIALS_FILE": cli.directory.appendingPathComponent("none").path,
            "AWS_CONFIG_FILE": cli.directory.appendingPathComponent("none").path,
            "DNSSTORE_DOMAIN": "example.test", "DNSSTORE_ROUTE53_ENDPOINT": double.endpoint.absoluteString,
        ]
        return cli
    }

    @Test func documentsAndTheirExitCodesOnAHostedZone() async throws {
        let double = try await Route53Double.start()
        defer { double.stop() }
        let zone = try await double.hostedZone().id
        let cli = try Self.cli(double)
        defer { cli.cleanUp() }

        let put = try await cli.run("put", "app/config/web", #"{"port":8080}"#, "--route53-zone", zone)
        #expect(put.status == 0, "\(put.stderr)")
        var withEnvironment = cli
        withEnvironment.environment["DNSSTORE_ROUTE53_ZONE"] = zone
        #expect(try await withEnvironment.run("get", "app/config/web").out == #"{"port":8080}"#)
        // --stats counts API requests: a get of a known document reads the root, the database,
        // the collection and the record, one ListResourceRecordSets each.
        let counted = try await withEnvironment.run("get", "app/config/web", "--stats")
        #expect(counted.stderr.contains("dnsstore: sent 4 Route 53 API requests (4 ListResourceRecordSets)"), "\(counted.stderr)")
        let stale = try await withEnvironment.run("update", "app/config/web", #"{"port":1}"#, "--if-version", "7")
        #expect(stale.status == 4, "\(stale.stderr)")
        #expect(try await withEnvironment.run("insert", "app/config/web", #"{"port":2}"#).status == 4)
        #expect(try await withEnvironment.run("get", "app/config/none").status == 3)
        #expect(try await withEnvironment.run("get", "app/config/web").out == #"{"port":8080}"#)

        // A hosted zone that is not there, credentials missing, an endpoint that is not Route 53
        // or not listening: each named, each with its exit code, nothing written.
        let noZone = try await cli.run("put", "app/config/x", "{}", "--route53-zone", "ZNOSUCHZONE")
        #expect(noZone.status == 5 && noZone.stderr.contains("ZNOSUCHZONE"), "\(noZone.stderr)")
        let noKey = try await Self.cli(double, key: nil).run("put", "app/config/x", "{}", "--route53-zone", zone)
        #expect(noKey.status == 5 && noKey.stderr.contains("no AWS credentials"), "\(noKey.stderr)")
        let prometheus = try await cli.run("get", "app/config/web", "--route53-zone", zone, "--route53-endpoint", double.moto.endpoint.absoluteString + "/not-route53")
        #expect([6].contains(prometheus.status), "\(prometheus.stderr)")
        let closed = try await cli.run("get", "app/config/web", "--route53-zone", zone, "--route53-endpoint", "http://127.0.0.1:\(Ports.free())")
        #expect(closed.status == 6 && closed.stderr.contains("127.0.0.1"), "\(closed.stderr)")
        let both = try await cli.run("get", "app/config/web", "--route53-zone", zone, "--server", "127.0.0.1:53")
        #expect(both.status == 2 && both.stderr.contains("--route53-zone"), "\(both.stderr)")
        #expect(try await withEnvironment.run("list", "app/config").out == #"["web"]"#)
    }
}

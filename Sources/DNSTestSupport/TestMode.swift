import Foundation

/// Whether the suite runs whole, or quick for the inner loop (`scripts/test --quick`, which sets
/// `DNSSTORE_QUICK=1`): then no server or tool from outside the project is started (BIND 9, Knot,
/// PowerDNS, PostgreSQL, dnsperf, dnspython, Prometheus), and the tests that need one are left out
/// by their `isAvailable` condition; tests run over several servers run over ours alone.
public enum TestMode {
    public static let quick = ProcessInfo.processInfo.environment["DNSSTORE_QUICK"] == "1"

    /// Whether tests may start servers and tools from outside the project.
    public static var externalServers: Bool { !quick }
}

extension ServerKind {
    /// The servers tests run against: every kind, or in quick mode ours alone.
    public static var selected: [ServerKind] { TestMode.quick ? [.embedded] : allCases }
}

#if canImport(Testing)
    import Testing
#endif

extension TestMode {
    /// Leaves the running test out in quick mode: it needs `what`, a server or tool from outside
    /// the project. Every launcher of one calls this first.
    public static func requireExternal(_ what: String) throws {
        guard quick else { return }
        #if canImport(Testing)
            try Test.cancel("quick mode: this test needs \(what)")
        #else
            throw SubprocessError.notFound("\(what) (left out in quick mode)")
        #endif
    }
}

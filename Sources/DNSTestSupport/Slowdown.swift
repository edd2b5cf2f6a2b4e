import Foundation

/// How many times slower than a plain build the tests and the servers they start run. Under a
/// sanitizer (`scripts/test --sanitize`, which sets DNSSTORE_SANITIZER) every process runs
/// several times slower, so waits on another process stretch by this much; a wait for something
/// that must not come only takes longer.
public enum Slowdown {
    /// The sanitizer the tests run under ("address" or "thread"), nil for a plain build.
    public static let sanitizer = ProcessInfo.processInfo.environment["DNSSTORE_SANITIZER"]

    public static let factor: Double =
        switch sanitizer {
        case "thread": 5
        case "address": 2
        default: 1
        }

    public static func scaled(_ duration: Duration) -> Duration { duration * factor }
}

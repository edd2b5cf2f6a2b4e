import Foundation

/// How many times slower than a plain build the tests and the servers they start run. Under a
/// sanitizer (`scripts/test --sanitize`, which sets DNSSTORE_SANITIZER) every process runs
/// several times slower, so waits on another process stretch by this much; a wait for something
/// that must not come only takes longer.
public enum Slowdown {
    public static let factor: Double =
        switch ProcessInfo.processInfo.environment["DNSSTORE_SANITIZER"] {
        case "thread": 5
        case "address": 2
        default: 1
        }

    public static func scaled(_ duration: Duration) -> Duration { duration * factor }
}

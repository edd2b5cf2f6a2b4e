/// Waiting for something another process or task brings about, by asking again and again.
///
/// The question is always asked once more after the deadline. A test's task can be kept off the
/// thread pool for many seconds by other tests' work, so finding the deadline passed on waking
/// says nothing about what was waited for; only the answer after it does.
public enum Poll {
    /// The first value `check` gives within `timeout` (scaled under a sanitizer), or nil.
    public static func value<T>(
        within timeout: Duration, every interval: Duration = .milliseconds(50), _ check: () async throws -> T?
    ) async throws -> T? {
        let deadline = ContinuousClock.now + Slowdown.scaled(timeout)
        while true {
            if let value = try await check() { return value }
            if ContinuousClock.now >= deadline { return nil }
            try await Task.sleep(for: interval)
        }
    }

    /// Whether `check` held within `timeout` (scaled under a sanitizer).
    public static func until(
        within timeout: Duration, every interval: Duration = .milliseconds(50), _ check: () async throws -> Bool
    ) async throws -> Bool {
        try await value(within: timeout, every: interval) { try await check() ? true : nil } ?? false
    }
}

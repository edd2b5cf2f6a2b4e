#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The system's real-time clock, which TSIG compares between peers. Here, below both client and
/// server, so that each reads the time the same way; the wire code itself never calls it, it is
/// handed the time.
public enum WallClock {
    /// Whole seconds since the epoch.
    public static func seconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(max(0, ts.tv_sec))
    }
}

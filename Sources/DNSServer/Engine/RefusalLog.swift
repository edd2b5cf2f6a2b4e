import DNSWire
import Logging

/// The log of requests refused and failed, each line with its reason and the request's source.
/// Under a flood it stays readable: of each kind of refusal, the first is logged at once and then
/// at most one a `interval`, saying how many more of that kind came since the line before. Kinds
/// are fixed strings of the code, never taken from a request, so what is remembered is bounded.
final class RefusalLog: Sendable {
    let logger: Logger
    let interval: Duration
    private let kinds = Locked([String: (logged: ContinuousClock.Instant, unlogged: Int)]())

    init(logger: Logger, interval: Duration = .seconds(10)) {
        self.logger = logger
        self.interval = interval
    }

    /// Logs a refusal of `kind` unless one of its kind was logged within `interval`; then it is
    /// only counted, for the next line. The message and metadata are built only when logged.
    func refused(
        _ kind: StaticString, level: Logger.Level = .notice, _ message: @autoclosure () -> Logger.Message,
        source: RequestSource, metadata: @autoclosure () -> Logger.Metadata = [:]
    ) {
        guard logger.logLevel <= level else { return }
        let now = ContinuousClock.now
        let key = kind.description
        let unlogged = kinds.withLock { kinds -> Int? in
            if let last = kinds[key], last.logged.duration(to: now) < interval {
                kinds[key]!.unlogged += 1
                return nil
            }
            defer { kinds[key] = (now, 0) }
            return kinds[key]?.unlogged ?? 0
        }
        guard let unlogged else { return }
        var fields = metadata()
        fields["from"] = "\(source)"
        if unlogged > 0 { fields["more like it unlogged"] = "\(unlogged)" }
        logger.log(level: level, message(), metadata: fields)
    }
}

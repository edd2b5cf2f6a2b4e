import NIOConcurrencyHelpers

/// A value behind a lock, for state that threads share. The lock is a pthread mutex (NIO's),
/// which ThreadSanitizer sees: the standard library's `Mutex` waits on futexes directly on Linux,
/// which it does not, so every access under one reads to it as a race and hides real ones.
public final class Locked<Value>: @unchecked Sendable {
    @usableFromInline let lock = NIOLock()
    @usableFromInline var value: Value

    /// `value`, behind a new lock.
    public init(_ value: Value) {
        self.value = value
    }

    /// Runs `body` with the value, holding the lock.
    @inlinable
    public func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        try lock.withLock { try body(&value) }
    }
}

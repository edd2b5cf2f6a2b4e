import DNSWire

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Message IDs from the system's cryptographic generator, drawn 2,048 at a time in one call
/// (`arc4random_buf`, one getrandom on Linux) rather than a call per request, and still
/// unpredictable to a spoofer.
final class RandomIDs: Sendable {
    private struct State {
        var pool: [UInt16] = []
    }

    private let state = Locked(State())
    private static let batch = 2048

    func next() -> UInt16 {
        state.withLock { state in
            if state.pool.isEmpty {
                state.pool = [UInt16](repeating: 0, count: Self.batch)
                state.pool.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
            }
            return state.pool.removeLast()
        }
    }
}

import DNSWire

/// Message IDs from the system's cryptographic generator, drawn a few thousand at a time: one
/// getrandom call per 2048 IDs instead of one per request, and still unpredictable to a spoofer.
final class RandomIDs: Sendable {
    private struct State {
        var pool: [UInt16] = []
    }

    private let state = Locked(State())
    private static let batch = 2048

    func next() -> UInt16 {
        state.withLock { state in
            if state.pool.isEmpty {
                var generator = SystemRandomNumberGenerator()
                state.pool = (0..<(Self.batch / 4)).flatMap { _ -> [UInt16] in
                    let word = generator.next()
                    return [UInt16(truncatingIfNeeded: word), UInt16(truncatingIfNeeded: word >> 16),
                            UInt16(truncatingIfNeeded: word >> 32), UInt16(truncatingIfNeeded: word >> 48)]
                }
            }
            return state.pool.removeLast()
        }
    }
}

import Atomics
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A number that every process sharing a data directory raises after each commit, kept in a small
/// file they all map into memory. Reading it costs one memory load, so a process can afford to
/// look before every answer it gives from its cache: what another process committed is seen at
/// once, not after a polling interval.
final class ChangeCounter: @unchecked Sendable {
    private let mapping: UnsafeMutableRawPointer?
    private let counter: UnsafeAtomic<UInt64>
    private let fallback: UnsafeAtomic<UInt64>?

    /// Maps `path` (created if missing). When the file cannot be mapped, the counter is this
    /// process's alone.
    init(path: String) {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        var mapped: UnsafeMutableRawPointer?
        if fd >= 0 {
            var info = stat()
            if fstat(fd, &info) == 0, info.st_size < 8 { _ = ftruncate(fd, 8) }
            let address = mmap(nil, 8, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
            if let address, address != MAP_FAILED { mapped = address }
            close(fd)
        }
        mapping = mapped
        if let mapped {
            counter = UnsafeAtomic(at: mapped.assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
            fallback = nil
        } else {
            let local = UnsafeAtomic<UInt64>.create(0)
            counter = local
            fallback = local
        }
    }

    /// A counter of this process alone, for engines without a data directory of their own.
    init() {
        mapping = nil
        let local = UnsafeAtomic<UInt64>.create(0)
        counter = local
        fallback = local
    }

    var value: UInt64 { counter.load(ordering: .acquiring) }

    /// Raises the counter; returns the value before.
    @discardableResult
    func bump() -> UInt64 {
        counter.loadThenWrappingIncrement(ordering: .acquiringAndReleasing)
    }

    deinit {
        if let mapping { munmap(mapping, 8) }
        fallback?.destroy()
    }
}

import NIOCore
import NIOPosix

extension Authority {
    /// Answers one request for a caller in Swift concurrency (the in-process store, tests): the
    /// answers go to `each` a step at a time as the engine produces them, so a zone transfer is
    /// held one page at a time. Work that blocks (the disk, a commit) runs on `pool`, never on
    /// the caller's executor; if `each` throws, the rest of the work is abandoned and its place
    /// in the queue given back.
    public func handle(
        _ request: ByteBuffer, over transport: RequestTransport, on pool: NIOThreadPool = .singleton,
        each: ([ByteBuffer]) throws -> Void
    ) async throws {
        var next: BlockingWork?
        switch receive(request, over: transport) {
        case .answered(let answers):
            try each(answers)
        case .work(let work):
            next = work
        case .deferred(let work):
            try each(await withCheckedContinuation { continuation in
                work.start(on: pool) { continuation.resume(returning: $0) }
            })
        }
        while let work = next {
            let step: (answers: [ByteBuffer], next: BlockingWork?, brokeOff: Bool)
            do {
                step = try await pool.runIfActive { work.run() }
            } catch {
                work.abandon()
                throw error
            }
            next = step.next
            do {
                try each(step.answers)
            } catch {
                next?.abandon()
                throw error
            }
        }
    }
}

import NIOCore

/// Runs tasks on one NIO event loop's thread.
///
/// A request made from a task on the cooperative pool is handed to the client's event loop to be
/// written, and its answer handed back to the pool: two thread switches per request. Tasks that
/// prefer this executor for the loop a client runs on (`withTaskExecutorPreference(_:operation:)`)
/// write and receive on that one thread, which is what a program that keeps many requests in
/// flight gains most from. Blocking work must not run on it: it would stall the loop's sockets.
public final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop whose thread runs the tasks.
    public let eventLoop: any EventLoop

    /// An executor for `eventLoop`.
    public init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    /// Runs the job on the loop's thread.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}

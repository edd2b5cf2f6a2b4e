import NIOCore

/// What the UDP and TCP multiplexers share: writes flushed once per event-loop turn, so requests
/// sent together leave in one system call, and one timer for every request in flight, set for
/// the earliest deadline. Scheduling and cancelling a task per request cost more than the
/// requests' own bookkeeping when many are in flight.
protocol MultiplexerTiming: AnyObject, SendableMetatype {
    var flushScheduled: Bool { get set }
    /// The timer armed for the earliest deadline, and that deadline.
    var sweep: (task: Scheduled<Void>, deadline: NIODeadline)? { get set }
    /// The deadline of each request in flight that has one.
    var deadlines: [(id: UInt16, deadline: NIODeadline)] { get }
    /// Fails request `id` as timed out.
    func timedOut(_ id: UInt16)
}

extension MultiplexerTiming {
    /// Flushes once the current event-loop turn is over, however many writes it held.
    func flushAtEndOfTurn(_ context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (handler, context) = bound.value
            handler.flushScheduled = false
            context.flush()
        }
    }

    /// Makes sure the timer fires by `deadline`.
    func watch(_ deadline: NIODeadline, context: ChannelHandlerContext) {
        if let armed = sweep, armed.deadline <= deadline { return }
        sweep?.task.cancel()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        let task = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = bound.value
            handler.sweepExpired(context: context)
        }
        sweep = (task, deadline)
    }

    /// Stops the timer (the connection or socket is gone).
    func stopWatching() {
        sweep?.task.cancel()
        sweep = nil
    }

    /// Fails every request past its deadline, then waits for the earliest one left.
    private func sweepExpired(context: ChannelHandlerContext) {
        sweep = nil
        let now = context.eventLoop.now
        var next: NIODeadline?
        for (id, deadline) in deadlines {
            if deadline <= now {
                timedOut(id)
            } else if next.map({ deadline < $0 }) ?? true {
                next = deadline
            }
        }
        if let next { watch(next, context: context) }
    }
}

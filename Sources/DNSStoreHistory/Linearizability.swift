/// Whether the operations on one compare-and-swap register could have happened one at a time, in
/// an order that keeps every operation that finished before another began ahead of it
/// (linearizability; Wing and Gong's search, with the states already tried remembered).
///
/// The register's state is (version, value); version 0 is "no document". A read must see the
/// state; a compare-and-swap that succeeded must find its expected version and leave the version
/// it reported, which must be one more; one refused as a conflict must not find its expected
/// version; a write leaves one version more. An operation whose outcome is unknown may take effect
/// at any point after it was invoked, or never. Other failures changed nothing and are left out.
public enum Linearizability {
    public enum Verdict: Sendable, Equatable {
        case linearizable
        /// No order fits; the words say where the search got furthest.
        case violated(String)
        /// The search gave up after `steps` steps without an answer.
        case undecided(steps: Int)
    }

    struct State: Hashable {
        var version: Int
        var value: Int?
    }

    struct Op {
        var invoked: Double
        /// Infinity when the outcome is unknown.
        var completed: Double
        var definite: Bool
        var source: ClientOperation
    }

    /// Checks the operations of one key (the others' are ignored), from `initial` (by default no
    /// document).
    public static func check(_ operations: [ClientOperation], initialVersion: Int = 0, initialValue: Int? = nil, maxSteps: Int = 5_000_000) -> Verdict {
        let ops: [Op] = operations.compactMap { op in
            switch (op.kind, op.outcome) {
            // `session` and `any` reads promise less than linearizability: HistoryCheck checks them apart.
            case (.read, .ok) where op.consistency != nil && op.consistency != "latest": return nil
            case (.read, .ok): break
            case (.read, _): return nil
            case (_, .ok): break
            case (.cas, .failed) where op.conflict: break
            case (_, .failed): return nil
            case (_, .unknown): break
            }
            let definite = op.outcome != .unknown
            return Op(invoked: op.invoked, completed: definite ? (op.completed ?? .infinity) : .infinity, definite: definite, source: op)
        }.sorted { $0.invoked < $1.invoked }
        let n = ops.count
        guard n > 0 else { return .linearizable }
        // Definite operations by when they were answered: the earliest one not yet placed bounds
        // which operations may come next.
        let byCompletion = ops.indices.filter { ops[$0].definite }.sorted { ops[$0].completed < ops[$1].completed }

        struct Frame {
            var placed: [UInt64]
            var state: State
            var first: Int  // lowest index (by invocation) neither placed nor expired
            var firstPending: Int  // position in byCompletion of the earliest unplaced definite op
            var candidates: [Int]
            var next: Int
            var count: Int
        }
        func isPlaced(_ bits: [UInt64], _ i: Int) -> Bool { bits[i >> 6] & (1 << UInt64(i & 63)) != 0 }
        /// An unknown compare-and-swap whose expected version is behind the state can no longer apply.
        func isDone(_ bits: [UInt64], _ i: Int, _ state: State) -> Bool {
            if isPlaced(bits, i) { return true }
            let op = ops[i]
            return !op.definite && op.source.kind == .cas && (op.source.expectedVersion ?? 0) < state.version
        }
        func apply(_ op: Op, to state: State) -> State? {
            let s = op.source
            switch s.kind {
            case .read:
                guard state.version == (s.version ?? 0) else { return nil }
                return state.version == 0 || state.value == s.value ? state : nil
            case .cas:
                let expected = s.expectedVersion ?? 0
                if s.outcome == .failed { return state.version != expected ? state : nil }
                guard state.version == expected else { return nil }
                if let written = s.version, s.outcome == .ok, written != expected + 1 { return nil }
                return State(version: expected + 1, value: s.value)
            case .write:
                if let written = s.version, s.outcome == .ok, written != state.version + 1 { return nil }
                return State(version: state.version + 1, value: s.value)
            }
        }
        func frame(placed: [UInt64], state: State, first: Int, firstPending: Int, count: Int) -> Frame {
            var first = first
            while first < n, isDone(placed, first, state) { first += 1 }
            var pending = firstPending
            while pending < byCompletion.count, isPlaced(placed, byCompletion[pending]) { pending += 1 }
            let bound = pending < byCompletion.count ? ops[byCompletion[pending]].completed : Double.infinity
            var candidates: [Int] = []
            var i = first
            while i < n, ops[i].invoked <= bound {
                if !isDone(placed, i, state) { candidates.append(i) }
                i += 1
            }
            return Frame(placed: placed, state: state, first: first, firstPending: pending, candidates: candidates, next: 0, count: count)
        }
        struct Seen: Hashable {
            var first: Int
            var beyond: [Int]
            var state: State
        }
        func key(_ f: Frame) -> Seen {
            var beyond: [Int] = []
            var i = f.first
            while i < n {
                let word = i >> 6
                if f.placed[word] == 0 {
                    i = (word + 1) << 6
                    continue
                }
                if isPlaced(f.placed, i) { beyond.append(i) }
                i += 1
            }
            return Seen(first: f.first, beyond: beyond, state: f.state)
        }

        let definiteCount = byCompletion.count
        var seen = Set<Seen>()
        var stack = [frame(placed: [UInt64](repeating: 0, count: (n + 63) / 64), state: State(version: initialVersion, value: initialValue), first: 0, firstPending: 0, count: 0)]
        var deepest = stack[0]
        var steps = 0
        while var top = stack.popLast() {
            if top.firstPending >= definiteCount { return .linearizable }
            if top.count > deepest.count || (top.count == deepest.count && top.next == 0) { deepest = top }
            steps += 1
            if steps > maxSteps { return .undecided(steps: steps) }
            guard top.next < top.candidates.count else { continue }
            let i = top.candidates[top.next]
            top.next += 1
            stack.append(top)
            guard let after = apply(ops[i], to: top.state) else { continue }
            var placed = top.placed
            placed[i >> 6] |= 1 << UInt64(i & 63)
            let child = frame(placed: placed, state: after, first: top.first, firstPending: top.firstPending, count: top.count + (ops[i].definite ? 1 : 0))
            if seen.insert(key(child)).inserted { stack.append(child) }
        }
        return .violated(explain(deepest, ops, byCompletion, definiteCount))

        func explain(_ f: Frame, _ ops: [Op], _ byCompletion: [Int], _ total: Int) -> String {
            let blocking = f.firstPending < byCompletion.count ? ops[byCompletion[f.firstPending]].source : nil
            var text = "after \(f.count) of \(total) operations in order, the register at version \(f.state.version)"
            text += f.state.value.map { " value \($0)" } ?? ""
            text += ", none of these can come next: "
            text += f.candidates.prefix(8).map { describe(ops[$0].source) }.joined(separator: "; ")
            if let blocking { text += " (all invoked before \(describe(blocking)) was answered)" }
            return text
        }
    }

    /// An operation in words, for reports.
    public static func describe(_ op: ClientOperation) -> String {
        var text = "\(op.process) "
        switch op.kind {
        case .read: text += "read\(op.consistency.map { " (\($0))" } ?? "") saw version \(op.version ?? 0)" + (op.value.map { " value \($0)" } ?? "")
        case .cas: text += "cas \(op.expectedVersion ?? 0)->\(op.version.map(String.init) ?? "?") value \(op.value.map(String.init) ?? "?")"
        case .write: text += "write version \(op.version.map(String.init) ?? "?") value \(op.value.map(String.init) ?? "?")"
        }
        text += " \(op.outcome.rawValue)\(op.conflict ? " (conflict)" : "") [\(seconds(op.invoked)), \(seconds(op.completed))]"
        return text
    }
}

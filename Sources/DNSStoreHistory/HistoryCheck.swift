import Foundation

/// The checks of a cluster test's history, and the figures it reports.
public struct HistoryCheck: Sendable {
    public var operations: [ClientOperation]
    /// What each watch printed, by watcher name, in the order printed.
    public var watches: [String: [WatchEvent]]
    /// The keys' values after the run, read once everything settled (latest, from the primary).
    public var finalValues: [String: (version: Int, value: Int)]
    /// Whether the watches began before the keys were created: then each must report version 1.
    public var watchesSeeCreation = false

    public init(operations: [ClientOperation], watches: [String: [WatchEvent]] = [:], finalValues: [String: (version: Int, value: Int)] = [:]) {
        self.operations = operations
        self.watches = watches
        self.finalValues = finalValues
    }

    public var keys: [String] { Set(operations.map(\.key)).sorted() }

    /// Every check; empty when the history holds.
    public func anomalies(maxSteps: Int = 5_000_000) -> [Anomaly] {
        var found: [Anomaly] = []
        for key in keys {
            let ops = operations.filter { $0.key == key }
            switch Linearizability.check(ops, maxSteps: maxSteps) {
            case .linearizable: break
            case .violated(let why): found.append(Anomaly(.notLinearizable, key: key, why))
            case .undecided(let steps): found.append(Anomaly(.notLinearizable, key: key, "undecided after \(steps) steps of search"))
            }
        }
        return found + duplicateVersions() + staleLatestReads() + sessionViolations() + counterMismatches() + watchAnomalies()
    }

    /// Two acknowledged writes of the same key that report the same version.
    public func duplicateVersions() -> [Anomaly] {
        var found: [Anomaly] = []
        for key in keys {
            var byVersion: [Int: ClientOperation] = [:]
            for op in operations where op.key == key && op.isAcknowledgedWrite {
                guard let version = op.version else { continue }
                if let other = byVersion[version] {
                    found.append(Anomaly(.duplicateVersion, key: key, "\(Linearizability.describe(other)) and \(Linearizability.describe(op))"))
                } else {
                    byVersion[version] = op
                }
            }
        }
        return found
    }

    /// A `latest` read older than a write acknowledged before the read began.
    public func staleLatestReads() -> [Anomaly] {
        var found: [Anomaly] = []
        for key in keys {
            let writes = operations.filter { $0.key == key && $0.isAcknowledgedWrite && $0.completed != nil }.sorted { $0.completed! < $1.completed! }
            for read in operations where read.key == key && read.kind == .read && read.outcome == .ok && read.consistency == "latest" {
                // The newest version acknowledged before the read began.
                var newest: ClientOperation?
                for write in writes {
                    guard write.completed! < read.invoked else { break }
                    if (write.version ?? 0) > (newest?.version ?? 0) { newest = write }
                }
                if let newest, (read.version ?? 0) < (newest.version ?? 0) {
                    found.append(Anomaly(.staleLatestRead, key: key, "\(Linearizability.describe(read)) after \(Linearizability.describe(newest))"))
                }
            }
        }
        return found
    }

    /// In one `session` process, a read older than what that process wrote or read before.
    public func sessionViolations() -> [Anomaly] {
        var found: [Anomaly] = []
        let sessions = Set(operations.filter { $0.consistency == "session" }.map(\.process))
        for process in sessions.sorted() {
            var known: [String: ClientOperation] = [:]
            for op in operations.filter({ $0.process == process }).sorted(by: { $0.invoked < $1.invoked }) where op.outcome == .ok {
                if op.kind == .read, let before = known[op.key], (op.version ?? 0) < (before.version ?? 0) {
                    found.append(Anomaly(.sessionViolated, key: op.key, "\(Linearizability.describe(op)) after \(Linearizability.describe(before))"))
                }
                if (op.version ?? 0) >= (known[op.key]?.version ?? 0) { known[op.key] = op }
            }
        }
        return found
    }

    /// Increments: a key's final value must be at least the acknowledged increments and at most
    /// those plus the ones whose outcome is unknown.
    public func counterMismatches() -> [Anomaly] {
        var found: [Anomaly] = []
        for (key, final) in finalValues.sorted(by: { $0.key < $1.key }) {
            let ops = operations.filter { $0.key == key && $0.kind == .cas }
            let acknowledged = ops.filter { $0.outcome == .ok }.count
            let ambiguous = ops.filter { $0.outcome == .unknown }.count
            let base = operations.filter { $0.key == key && $0.kind == .write && $0.outcome == .ok }.compactMap(\.value).last ?? 0
            let increments = final.value - base
            if increments < acknowledged || increments > acknowledged + ambiguous {
                found.append(Anomaly(.counterMismatch, key: key, "final value \(final.value) from \(base): \(increments) increments, with \(acknowledged) acknowledged and \(ambiguous) unknown"))
            }
        }
        return found
    }

    /// Each watch: per key, versions in order, each once, none skipped between the first and the
    /// last it saw, every acknowledged version in that span among them, and the final version seen.
    public func watchAnomalies() -> [Anomaly] {
        var found: [Anomaly] = []
        for (name, events) in watches.sorted(by: { $0.key < $1.key }) {
            for key in Set(events.map(\.key)).sorted() {
                let versions = events.filter { $0.key == key }.map(\.version)
                if watchesSeeCreation, let first = versions.first, first != 1 {
                    found.append(Anomaly(.watchMissed, key: key, "\(name) began at version \(first), not at the creation"))
                }
                var previous: Int?
                for version in versions {
                    if let previous {
                        if version == previous {
                            found.append(Anomaly(.watchDuplicate, key: key, "\(name) reported version \(version) twice"))
                        } else if version < previous {
                            found.append(Anomaly(.watchOutOfOrder, key: key, "\(name) reported version \(version) after \(previous)"))
                        } else if version > previous + 1 {
                            found.append(Anomaly(.watchMissed, key: key, "\(name) went from version \(previous) to \(version)"))
                        }
                    }
                    previous = version
                }
                if let final = finalValues[key], let last = versions.last, last < final.version {
                    found.append(Anomaly(.watchMissed, key: key, "\(name) ended at version \(last); the key is at \(final.version)"))
                }
            }
        }
        return found
    }

    // MARK: Figures

    public struct Figures: Sendable {
        public var operations = 0
        public var byKind: [String: Int] = [:]
        public var ambiguous = 0
        public var anyReads = 0
        public var staleAnyReads = 0
        /// The longest time an `any` read was behind: from when the newer version it missed was
        /// acknowledged to when the read began.
        public var longestStaleness = 0.0
        public var watchEvents = 0
    }

    public func figures() -> Figures {
        var figures = Figures()
        figures.operations = operations.count
        for op in operations {
            let name = "\(op.kind.rawValue)\(op.consistency.map { "/\($0)" } ?? "") \(op.outcome.rawValue)\(op.conflict ? " conflict" : "")"
            figures.byKind[name, default: 0] += 1
        }
        figures.ambiguous = operations.filter { $0.outcome == .unknown }.count
        for key in keys {
            let writes = operations.filter { $0.key == key && $0.isAcknowledgedWrite && $0.completed != nil && $0.version != nil }
            for read in operations where read.key == key && read.kind == .read && read.outcome == .ok && read.consistency == "any" {
                figures.anyReads += 1
                // The first acknowledged write the read missed: a newer version, done before it began.
                let missed = writes.filter { $0.completed! < read.invoked && $0.version! > (read.version ?? 0) }.min { $0.completed! < $1.completed! }
                if let missed {
                    figures.staleAnyReads += 1
                    figures.longestStaleness = max(figures.longestStaleness, read.invoked - missed.completed!)
                }
            }
        }
        figures.watchEvents = watches.values.map(\.count).reduce(0, +)
        return figures
    }
}

#if PostgreSQL
import DNSWire
import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Synchronization

extension PostgresZoneStore {
    // MARK: Connections

    /// One connection and the statements run on it, waited for on the calling thread, each for
    /// at most `timeout`: past it the connection is closed (it is never reused) and the
    /// statement fails.
    struct Session {
        let connection: PostgresConnection
        let logger: Logger
        var timeout: TimeAmount = .seconds(30)
        /// Counts the statements sent, each a round trip to the database.
        let statements: StatementCounter

        func rows(_ query: PostgresQuery) throws -> [PostgresRow] {
            statements.sent()
            return Array(try within(connection.query(query, logger: logger)).rows)
        }

        /// Runs a statement; returns the rows it changed.
        @discardableResult
        func run(_ query: PostgresQuery) throws -> Int {
            statements.sent()
            return try within(connection.query(query, logger: logger)).metadata.rows ?? 0
        }

        private func within<T: Sendable>(_ future: EventLoopFuture<T>) throws -> T {
            let promise = future.eventLoop.makePromise(of: T.self)
            future.cascade(to: promise)
            let connection = self.connection
            let timeout = self.timeout
            let timer = future.eventLoop.scheduleTask(in: timeout) {
                promise.fail(StatementTimeout(seconds: Double(timeout.nanoseconds) / 1e9))
                PostgresZoneStore.close(connection)
            }
            defer { timer.cancel() }
            return try promise.futureResult.wait()
        }

        /// Runs `body` between `begin` and COMMIT, rolling back when it throws. A COMMIT that
        /// went out and got no answer (timeout, connection lost) may have been applied: it
        /// throws `AuthorityError.outcomeUnknown`, never an error that reads as "not stored".
        func transaction<T>(_ begin: PostgresQuery, _ body: () throws -> T) throws -> T {
            try run(begin)
            let result: T
            do {
                result = try body()
            } catch {
                _ = try? run("ROLLBACK")
                throw error
            }
            do {
                try run("COMMIT")
            } catch let error as PSQLError where error.serverInfo != nil && !connection.isClosed {
                throw error  // the database answered: it did not commit
            } catch {
                throw AuthorityError.outcomeUnknown("COMMIT got no answer: \(PostgresZoneStore.message(error))")
            }
            return result
        }
    }

    /// Statements sent to the database (each one round trip), by this store and in all.
    final class StatementCounter: Sendable {
        private let count = Atomic<Int>(0)
        var value: Int { count.load(ordering: .relaxed) }
        func sent() {
            count.add(1, ordering: .relaxed)
            ServerMetrics.storageStatements.increment()
        }
    }

    /// A statement the database did not answer in time.
    struct StatementTimeout: Error, CustomStringConvertible {
        var seconds: Double
        var description: String { "no answer within \(seconds) s" }
    }

    func withConnection<T>(_ body: (Session) throws -> T) throws -> T {
        let connection = try take()
        do {
            let result = try body(Session(connection: connection, logger: logger, timeout: statementTimeout, statements: statements))
            give(connection)
            answered()
            return result
        } catch {
            // A connection that failed mid-statement may be in any state: it is not reused.
            if connection.isClosed || error is StatementTimeout {
                opened.subtract(1, ordering: .relaxed)
                Self.close(connection)
            } else {
                give(connection)
            }
            if error is StatementTimeout { unanswered(error) }
            if case AuthorityError.outcomeUnknown = error {
                opened.subtract(1, ordering: .relaxed)
                Self.close(connection)
                unanswered(error)
            }
            throw Self.described(error, url: displayURL)
        }
    }

    func take() throws -> PostgresConnection {
        // During an outage, only one request in each probe interval waits for the database.
        let down = outage.withLock { outage -> ContinuousClock.Instant? in
            guard let current = outage else { return nil }
            if current.probed.duration(to: .now) >= Self.probeInterval {
                outage = (current.since, .now)
                return nil
            }
            return current.since
        }
        if let down {
            throw AuthorityError.unavailable("\(displayURL) has not answered for \(down.duration(to: .now)); answering SERVFAIL until it does")
        }
        while let connection = idle.withLock({ $0.popLast() }) {
            if !connection.isClosed { return connection }
            opened.subtract(1, ordering: .relaxed)
        }
        return try connect()
    }

    /// A new connection to the host that takes writes, trying the URL's hosts in turn from the one
    /// that last did: a host that refuses, does not answer within the connect timeout, or is a
    /// standby (`transaction_read_only` on) is passed over. So a failover to a promoted standby is
    /// followed at the next connection, and a front end never writes to, or reads `latest` from, a
    /// standby.
    func connect() throws -> PostgresConnection {
        let first = writable.load(ordering: .relaxed)
        var failures: [String] = []
        for offset in 0..<configurations.count {
            let index = (first + offset) % configurations.count
            let id = opened.add(1, ordering: .relaxed).newValue
            do {
                let connection = try PostgresConnection.connect(on: group.next(), configuration: configurations[index], id: id, logger: logger).wait()
                do {
                    let session = Session(connection: connection, logger: logger, timeout: statementTimeout, statements: statements)
                    for setting in sessionSettings { try session.run(setting) }
                    if try session.rows("SHOW transaction_read_only").first?.decode(String.self) == "on" { throw ReadOnlyHost() }
                } catch {
                    Self.close(connection)
                    throw error
                }
                if index != first {
                    writable.store(index, ordering: .relaxed)
                    logger.notice(
                        "PostgreSQL: writes go to another host",
                        metadata: ["storage": "\(displayURL)", "host": "\(hosts[index])", "was": "\(hosts[first])"])
                }
                return connection
            } catch {
                opened.subtract(1, ordering: .relaxed)
                failures.append(configurations.count == 1 ? Self.message(error) : "\(hosts[index]): \(Self.message(error))")
            }
        }
        let error = AuthorityError.storage("cannot connect to \(displayURL): \(failures.joined(separator: "; "))")
        unanswered(error)
        throw error
    }

    /// A host that answers but takes no writes: a standby, or a primary set read-only.
    struct ReadOnlyHost: Error, CustomStringConvertible {
        var description: String { "read-only (a standby): it takes no writes" }
    }

    /// The database failed to answer: said once per outage, at error level.
    func unanswered(_ error: any Error) {
        let first = outage.withLock { outage -> Bool in
            defer { if outage == nil { outage = (.now, .now) } }
            return outage == nil
        }
        if first {
            logger.error(
                "PostgreSQL is not answering; requests that need it are answered SERVFAIL until it does",
                metadata: ["storage": "\(displayURL)", "error": "\(Self.message(error))"])
        }
    }

    /// The database answered: an outage, if there was one, is over.
    func answered() {
        guard let since = outage.withLock({ outage in defer { outage = nil }; return outage?.since }) else { return }
        logger.notice("PostgreSQL answers again", metadata: ["storage": "\(displayURL)", "after": "\(since.duration(to: .now))"])
    }

    func give(_ connection: PostgresConnection) {
        let kept = idle.withLock { idle -> Bool in
            guard idle.count < keepIdle else { return false }
            idle.append(connection)
            return true
        }
        if !kept {
            opened.subtract(1, ordering: .relaxed)
            Self.close(connection)
        }
    }

    /// Closes without waiting (the future form; the async one needs a task), holding on to the
    /// connection until it has closed: one let go while still open is a bug to postgres-nio.
    static func close(_ connection: PostgresConnection) {
        let closing: EventLoopFuture<Void> = connection.close()
        closing.whenComplete { _ in withExtendedLifetime(connection) {} }
    }

    /// PostgreSQL's own message when there is one (they name the table, the constraint, the cause).
    static func message(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] { return message }
            // A connection that failed below PostgreSQL (refused, reset, timed out) says why there.
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        }
        return "\(error)"
    }

    static func described(_ error: any Error, url: String) -> any Error {
        if error is PSQLError { return AuthorityError.storage("\(url): \(message(error))") }
        return error
    }

}
#endif

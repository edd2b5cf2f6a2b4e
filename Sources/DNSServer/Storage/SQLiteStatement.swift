import Foundation
import GRDB
import GRDBSQLite

/// A statement GRDB prepared and keeps in its cache, bound and stepped through SQLite's own
/// calls. A one-record UPDATE runs about a dozen statements; through GRDB's arguments (an array of
/// boxed values each time) and rows (an object each) they cost the server about as much as
/// SQLite's own work did. Bindings are cleared and the statement reset when it goes out of use.
struct SQLiteStatement: ~Copyable {
    private let statement: GRDB.Statement
    private let handle: OpaquePointer
    private let connection: OpaquePointer?

    init(_ sql: String, _ db: GRDB.Database) throws {
        statement = try db.cachedStatement(sql: sql)
        handle = statement.sqliteStatement
        connection = db.sqliteConnection
    }

    deinit {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    // MARK: Binding (parameters count from 1)

    func bind(_ index: Int32, _ value: Int64) throws {
        try check(sqlite3_bind_int64(handle, index, value))
    }

    func bind(_ index: Int32, _ value: Int) throws { try bind(index, Int64(value)) }

    /// Binds a BLOB (SQLite copies it), or NULL for nil.
    func bind(_ index: Int32, _ value: Data?) throws {
        guard let value else { return try check(sqlite3_bind_null(handle, index)) }
        try value.withUnsafeBytes { try bindBytes(index, $0) }
    }

    func bind(_ index: Int32, _ value: [UInt8]) throws {
        try value.withUnsafeBytes { try bindBytes(index, $0) }
    }

    func bind(_ index: Int32, _ value: Int64?) throws {
        guard let value else { return try check(sqlite3_bind_null(handle, index)) }
        try bind(index, value)
    }

    private func bindBytes(_ index: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        // A zero-length BLOB needs an address that is not NULL, or SQLite binds NULL.
        let address = bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
        try check(sqlite3_bind_blob(handle, index, address, Int32(bytes.count), Self.transient))
    }

    /// SQLite's SQLITE_TRANSIENT: it copies the value before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    // MARK: Stepping

    /// Steps once: true when a row is there to read, false when the statement is done.
    func step() throws -> Bool {
        let code = sqlite3_step(handle)
        switch code {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw error(code)
        }
    }

    /// Runs the statement to its end.
    func run() throws {
        while try step() {}
    }

    // MARK: Columns of the current row (counting from 0)

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(handle, column) }

    func int(_ column: Int32) -> Int { Int(sqlite3_column_int64(handle, column)) }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(handle, column) == SQLITE_NULL }

    /// The column's octets (none for NULL).
    func bytes(_ column: Int32) -> [UInt8] {
        guard let start = sqlite3_column_blob(handle, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: start, count: Int(sqlite3_column_bytes(handle, column))))
    }

    func data(_ column: Int32) -> Data {
        guard let start = sqlite3_column_blob(handle, column) else { return Data() }
        return Data(bytes: start, count: Int(sqlite3_column_bytes(handle, column)))
    }

    func optionalInt64(_ column: Int32) -> Int64? { isNull(column) ? nil : int64(column) }

    // MARK: Errors

    private func check(_ code: Int32) throws {
        guard code == SQLITE_OK else { throw error(code) }
    }

    private func error(_ code: Int32) -> DatabaseError {
        let message = connection.map { String(cString: sqlite3_errmsg($0)) }
        return DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: String(cString: sqlite3_sql(handle)))
    }
}

extension GRDB.Database {
    /// Runs `body` in a transaction that holds the write lock from its start (BEGIN IMMEDIATE),
    /// committed when `body` says so and rolled back when it says not or throws. Its statements
    /// are prepared once, where GRDB's own transactions prepare BEGIN and COMMIT every time.
    func immediateTransaction(_ body: () throws -> Bool) throws {
        try SQLiteStatement("BEGIN IMMEDIATE", self).run()
        let commit: Bool
        do {
            commit = try body()
        } catch {
            rollBackIfOpen()
            throw error
        }
        guard commit else { return rollBackIfOpen() }
        do {
            try SQLiteStatement("COMMIT", self).run()
        } catch {
            rollBackIfOpen()
            throw error
        }
    }

    /// Rolls back the open transaction, if SQLite has not already (it does on some errors).
    private func rollBackIfOpen() {
        guard let sqliteConnection, sqlite3_get_autocommit(sqliteConnection) == 0 else { return }
        try? SQLiteStatement("ROLLBACK", self).run()
    }
}

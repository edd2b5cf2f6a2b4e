import DNSClient
import DNSWire

/// What a store operation can fail with: a ``Code`` that programs switch on, the path it concerns,
/// the versions of a lost compare-and-swap, and a detail for people. `description` says what to do.
///
/// Programs should test ``code`` and the typed context, never the wording of ``detail``:
///
/// ```swift
/// do { try await users.update("alice", alice, ifVersion: 2) }
/// catch let error as StoreError where error.code == .conflict {
///     print("alice is at version \(error.actualVersion ?? 0) now")
/// }
/// ```
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure. Each has its own exit code in the command line.
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// A compare-and-swap lost: the document (or node) changed since it was read.
        case conflict
        /// The document, collection, database or store does not exist.
        case notFound
        /// An insert or create found the document or node already there.
        case alreadyExists
        /// A document, batch or name exceeds what the format allows.
        case tooLarge
        /// A database, collection or document name that cannot be stored.
        case invalidName
        /// A document that is not valid JSON, or not an object where one is needed.
        case invalidDocument
        /// The server refused the key or the write (REFUSED, NOTAUTH, TSIG errors).
        case unauthorized
        /// The server failed (SERVFAIL: nothing was applied) or answered something unusable.
        case serverFailure
        /// No answer in time.
        case timeout
        /// The server could not be reached at all (the connection was refused, no route).
        case unreachable
        /// An UPDATE was sent and no answer came: it may have been applied. Read what it would
        /// have changed before trying again.
        case outcomeUnknown
        /// Stored data that does not follow docs/FORMAT.md (a bad header, a digest mismatch).
        case corrupted
        /// A private collection or encrypted document that needs a key this store does not hold,
        /// or a key file that cannot be used.
        case encryptionKey
    }

    /// What went wrong, as a kind.
    public var code: Code

    /// The command line's exit status for each kind, the same in every command: 2 invalid
    /// input, 3 not found, 4 conflict, 5 unauthorized, 6 unreachable or timed out (nothing
    /// sent, or a read), 7 outcome unknown (an UPDATE sent without an answer), 8 server failure
    /// (SERVFAIL: nothing applied), 9 corrupt store data.
    public var exitStatus: Int32 {
        switch code {
        case .invalidName, .invalidDocument, .tooLarge: return 2
        case .notFound: return 3
        case .conflict, .alreadyExists: return 4
        case .unauthorized, .encryptionKey: return 5
        case .unreachable, .timeout: return 6
        case .outcomeUnknown: return 7
        case .serverFailure: return 8
        case .corrupted: return 9
        }
    }
    /// What went wrong, in words (for people; its wording may change).
    public var detail: String
    /// The database, `database/collection` or `database/collection/id` concerned, when one is.
    public var path: String?
    /// For a conflict: the version the caller expected the document to be at.
    public var expectedVersion: Int?
    /// For a conflict: the version it was at (nil when it was absent).
    public var actualVersion: Int?
    /// A setting the caller did not give that would likely cure the failure (nil when none is
    /// known): for a program or a command line to say where it comes from in its own terms.
    public var missing: Setting?

    /// A setting of the store's configuration that a failure can be for want of.
    public enum Setting: String, Sendable, Hashable {
        /// The encryption keys of private collections (`StoreConfiguration.encryptionKeys`).
        case encryptionKeys
        /// The zone's primary: the server written to answered as one that is not (or as one
        /// whose key may not change the name).
        case primary
    }

    /// An error of `code`, saying `detail`, with what context is known.
    public init(_ code: Code, _ detail: String, path: String? = nil, expectedVersion: Int? = nil, actualVersion: Int? = nil) {
        self.code = code
        self.detail = detail
        self.path = path
        self.expectedVersion = expectedVersion
        self.actualVersion = actualVersion
    }

    /// A lost compare-and-swap, with the versions when known.
    public static func conflict(_ detail: String, path: String? = nil, expectedVersion: Int? = nil, actualVersion: Int? = nil) -> StoreError {
        StoreError(.conflict, detail, path: path, expectedVersion: expectedVersion, actualVersion: actualVersion)
    }
    /// Something that does not exist.
    public static func notFound(_ detail: String, path: String? = nil) -> StoreError { StoreError(.notFound, detail, path: path) }
    /// Something created that was already there.
    public static func alreadyExists(_ detail: String, path: String? = nil) -> StoreError { StoreError(.alreadyExists, detail, path: path) }
    /// Something past a size limit.
    public static func tooLarge(_ detail: String, path: String? = nil) -> StoreError { StoreError(.tooLarge, detail, path: path) }
    /// A name that cannot be stored.
    public static func invalidName(_ detail: String, path: String? = nil) -> StoreError { StoreError(.invalidName, detail, path: path) }
    /// A document that is not what is needed.
    public static func invalidDocument(_ detail: String, path: String? = nil) -> StoreError { StoreError(.invalidDocument, detail, path: path) }
    /// A write or key the server refused.
    public static func unauthorized(_ detail: String, path: String? = nil) -> StoreError { StoreError(.unauthorized, detail, path: path) }
    /// A server that failed or answered something unusable.
    public static func serverFailure(_ detail: String, path: String? = nil) -> StoreError { StoreError(.serverFailure, detail, path: path) }
    /// No answer in time.
    public static func timeout(_ detail: String, path: String? = nil) -> StoreError { StoreError(.timeout, detail, path: path) }
    /// A server that could not be reached.
    public static func unreachable(_ detail: String, path: String? = nil) -> StoreError { StoreError(.unreachable, detail, path: path) }
    /// An UPDATE sent without an answer.
    public static func outcomeUnknown(_ detail: String, path: String? = nil) -> StoreError { StoreError(.outcomeUnknown, detail, path: path) }
    /// Stored data that does not follow the format.
    public static func corrupted(_ detail: String, path: String? = nil) -> StoreError { StoreError(.corrupted, detail, path: path) }
    /// A key missing, wrong or unusable.
    public static func encryptionKey(_ detail: String, path: String? = nil) -> StoreError { StoreError(.encryptionKey, detail, path: path) }

    /// The same error, saying which setting it was for want of.
    func wanting(_ setting: Setting) -> StoreError {
        var error = self
        error.missing = setting
        return error
    }

    /// What went wrong and what to do about it.
    public var description: String {
        switch code {
        case .conflict: return "conflict: \(detail); read it again and retry"
        case .notFound: return "not found: \(detail)"
        case .alreadyExists: return "already exists: \(detail)"
        case .tooLarge: return "too large: \(detail)"
        case .invalidName: return "invalid name: \(detail)"
        case .invalidDocument: return "invalid document: \(detail)"
        case .unauthorized: return "unauthorized: \(detail); check the TSIG key and the server's update policy"
        case .serverFailure: return "server failure: \(detail)"
        case .timeout: return "timeout: \(detail); check that the server is reachable"
        case .unreachable: return "unreachable: \(detail); check that the server is running and its address is right"
        case .outcomeUnknown: return "outcome unknown: \(detail); read the document before writing again"
        case .corrupted: return "corrupted store data: \(detail)"
        case .encryptionKey: return "encryption key: \(detail)"
        }
    }

    /// The same error with `note` added to what it says.
    public func noting(_ note: String) -> StoreError {
        var noted = self
        noted.detail += note
        return noted
    }

    /// The same error about `path`, unless it already names one.
    func about(_ path: String) -> StoreError {
        var about = self
        if about.path == nil { about.path = path }
        return about
    }
}

import DNSClient
import DNSWire

/// What a store operation can fail with. Each case names the problem; `description` says what to do.
public enum StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A compare-and-swap lost: the document (or node) changed since it was read.
    case conflict(String)
    /// The document, collection, database or store does not exist.
    case notFound(String)
    /// An insert or create found the document or node already there.
    case alreadyExists(String)
    /// A document, batch or name exceeds what the format allows.
    case tooLarge(String)
    /// A database, collection or document name that cannot be stored.
    case invalidName(String)
    /// A document that is not valid JSON, or not an object where one is needed.
    case invalidDocument(String)
    /// The server refused the key or the write (REFUSED, NOTAUTH, TSIG errors).
    case unauthorized(String)
    /// The server failed or answered something unusable.
    case serverFailure(String)
    /// No answer in time.
    case timeout(String)
    /// The server could not be reached at all (the connection was refused, no route).
    case unreachable(String)
    /// Stored data that does not follow docs/FORMAT.md (a bad header, a digest mismatch).
    case corrupted(String)
    /// A private collection or encrypted document that needs a key this store does not hold, or
    /// a key file that cannot be used.
    case encryptionKey(String)

    public var description: String {
        switch self {
        case .conflict(let s): return "conflict: \(s); read it again and retry"
        case .notFound(let s): return "not found: \(s)"
        case .alreadyExists(let s): return "already exists: \(s)"
        case .tooLarge(let s): return "too large: \(s)"
        case .invalidName(let s): return "invalid name: \(s)"
        case .invalidDocument(let s): return "invalid document: \(s)"
        case .unauthorized(let s): return "unauthorized: \(s); check the TSIG key and the server's update policy"
        case .serverFailure(let s): return "server failure: \(s)"
        case .timeout(let s): return "timeout: \(s); check that the server is reachable"
        case .unreachable(let s): return "unreachable: \(s); check that the server is running and its address is right"
        case .corrupted(let s): return "corrupted store data: \(s)"
        case .encryptionKey(let s): return "encryption key: \(s)"
        }
    }

    /// The same error with `note` added to what it says.
    public func noting(_ note: String) -> StoreError {
        switch self {
        case .conflict(let s): return .conflict(s + note)
        case .notFound(let s): return .notFound(s + note)
        case .alreadyExists(let s): return .alreadyExists(s + note)
        case .tooLarge(let s): return .tooLarge(s + note)
        case .invalidName(let s): return .invalidName(s + note)
        case .invalidDocument(let s): return .invalidDocument(s + note)
        case .unauthorized(let s): return .unauthorized(s + note)
        case .serverFailure(let s): return .serverFailure(s + note)
        case .timeout(let s): return .timeout(s + note)
        case .unreachable(let s): return .unreachable(s + note)
        case .corrupted(let s): return .corrupted(s + note)
        case .encryptionKey(let s): return .encryptionKey(s + note)
        }
    }

    /// Maps a transport error that the store does not handle itself.
    static func from(_ error: any Error, _ context: String) -> any Error {
        switch error {
        case let error as StoreError: return error
        case let error as DNSError:
            switch error {
            case .refused, .notAuth, .tsig: return StoreError.unauthorized("\(context): \(error)")
            case .timeout: return StoreError.timeout("\(context): \(error)")
            case .connection(let why): return StoreError.unreachable("\(context): \(why)")
            case .notZone: return StoreError.invalidName("\(context): the name is outside the zone (\(error))")
            default: return StoreError.serverFailure("\(context): \(error)")
            }
        case let error as DNSWireError:
            if case .messageTooLarge = error { return StoreError.tooLarge("\(context): \(error)") }
            return StoreError.serverFailure("\(context): \(error)")
        default: return error
        }
    }
}

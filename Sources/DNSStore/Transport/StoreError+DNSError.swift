import DNSClient
import DNSWire

/// The one place where what a DNS exchange fails with becomes a store error, and so an exit code:
/// an RCODE becomes a `DNSError` in the client (`DNSError(rcode:)`), and a `DNSError` becomes a
/// ``StoreError`` here, for the store and the command line alike.
extension StoreError {
    /// What `error` means to the store. `context` says what was being done (nil: the error's own
    /// words stand alone); `writing` tells an UPDATE's answer from a query's, since NXDOMAIN is a
    /// failed prerequisite (a conflict) for the one and an absent name for the other.
    public init(_ error: DNSError, context: String?, writing: Bool = false) {
        func said(_ detail: String) -> String { context.map { "\($0): \(detail)" } ?? detail }
        switch error {
        case .nxRRSet, .yxRRSet, .yxDomain:
            self = .conflict(context ?? error.description)
        case .nxDomain:
            self = writing ? .conflict(context ?? error.description) : .notFound(said(error.description))
        case .refused, .notAuth:
            // A secondary refuses UPDATEs too: say where writes belong.
            let hint = writing ? "; the key may not change this name, or the server is not the zone's primary" : ""
            self = .unauthorized(said(error.description) + hint)
            if writing { missing = .primary }
        case .tsig:
            self = .unauthorized(said(error.description))
        case .timeout:
            self = .timeout(said(error.description))
        case .unanswered(let why):
            self = .outcomeUnknown(said("sent, and no answer came (\(why))"))
        case .connection(let why):
            self = .unreachable(said(why))
        case .notZone:
            self = .invalidName(said("the name is outside the zone (\(error))"))
        case .serverFailure, .formatError, .notImplemented, .otherResponse, .malformedResponse, .incompleteTransfer:
            self = .serverFailure(said(error.description))
        }
    }

    /// A transport error that the store does not handle itself, as a store error; errors that are
    /// not the transport's pass through.
    static func from(_ error: any Error, _ context: String, writing: Bool = false) -> any Error {
        switch error {
        case let error as StoreError: return error
        case let error as DNSError: return StoreError(error, context: context, writing: writing)
        case let error as DNSWireError:
            if case .messageTooLarge = error { return StoreError.tooLarge("\(context): \(error)") }
            return StoreError.serverFailure("\(context): \(error)")
        default: return error
        }
    }
}

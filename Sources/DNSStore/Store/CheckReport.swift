import DNSWire

/// What a store check found, and what it mended.
public struct CheckReport: Sendable, Codable {
    /// One thing a check found wrong.
    public struct Problem: Sendable, Codable, Hashable {
        /// What kind of damage it is.
        public enum Kind: String, Sendable, Codable {
            /// An index lists a document whose record is missing.
            case entryWithoutRecord = "index entry without record"
            /// A whole document that no index lists.
            case recordWithoutEntry = "record without index entry"
            /// A data chunk no record refers to (left by an interrupted write).
            case danglingChunk = "dangling data chunk"
            /// A document that cannot be read whole: its header does not parse, a data chunk is
            /// missing, its length or digest does not match, or its text is not JSON.
            case damagedDocument = "damaged document"
            /// An index entry in a chunk other than the one its name belongs to.
            case misplacedEntry = "index entry in the wrong chunk"
            /// An index page longer than the format allows.
            case oversizePage = "index page over 16,000 octets"
            /// A name under the store that nothing refers to.
            case strayName = "unreferenced name"
            /// The lease index lists a lease whose record is missing.
            case leaseWithoutRecord = "lease index entry without record"
            /// A readable secondary index does not list a document under the value it holds.
            case documentNotIndexed = "document missing from an index"
            /// A secondary index lists a document under a value it does not hold (or that is gone).
            case staleIndexEntry = "index entry that does not match its document"
            /// A document attached to a lease that does not exist: gone for every reader.
            case documentOfMissingLease = "document of a lease that does not exist"
        }

        /// What kind of damage.
        public var kind: Kind
        /// The DNS name it was found at.
        public var name: String
        /// What is wrong there, in words.
        public var detail: String
        /// Whether the check mended it.
        public var repaired: Bool
    }

    /// Databases checked.
    public var databases = 0
    /// Collections checked.
    public var collections = 0
    /// Documents checked.
    public var documents = 0
    /// Everything found, mended or not.
    public var problems: [Problem] = []

    /// Whether nothing is left unmended.
    public var isClean: Bool { problems.allSatisfy(\.repaired) }
}

/// What a repair does with damaged documents, which it can never make whole again.
public enum DamagedDocumentAction: Sendable {
    /// Report them and leave them where they are.
    case keep
    /// Delete each with its data chunks and index entry.
    case delete
    /// Hand each one's TXT texts, by DNS name, to `save`; then delete it as `.delete` does.
    case quarantine(@Sendable (_ path: String, _ texts: [(name: DNSName, text: [UInt8])]) throws -> Void)
}

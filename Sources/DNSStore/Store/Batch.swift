/// Writes to several documents of one store that succeed or fail together, as one UPDATE. A write
/// given a lease attaches its document to it (docs/FORMAT.md section 13); one without detaches it.
public struct Batch: Sendable {
    var ops: [WriteOp] = []

    /// Creates or replaces `id` in `collection` with `value` encoded as JSON.
    public mutating func put<T: Encodable>(_ collection: DocumentCollection, _ id: String, _ value: T, lease: Lease? = nil) throws {
        ops.append(WriteOp(database: collection.database, collection: collection.name, id: id, mode: .put, body: try DocumentJSON.encode(value, collection.store.configuration.coding), lease: lease?.id))
    }

    /// Creates or replaces `id` in `collection` with JSON text as it is.
    public mutating func putJSON(_ collection: DocumentCollection, _ id: String, _ json: [UInt8], lease: Lease? = nil) {
        ops.append(WriteOp(database: collection.database, collection: collection.name, id: id, mode: .put, body: json, lease: lease?.id))
    }

    /// Creates `id` in `collection`; the whole batch fails with `.alreadyExists` if it is there.
    public mutating func insert<T: Encodable>(_ collection: DocumentCollection, _ id: String, _ value: T, lease: Lease? = nil) throws {
        ops.append(WriteOp(database: collection.database, collection: collection.name, id: id, mode: .insert, body: try DocumentJSON.encode(value, collection.store.configuration.coding), lease: lease?.id))
    }

    /// Replaces `id` only if it is at `version`; the whole batch fails with `.conflict` if not.
    public mutating func update<T: Encodable>(_ collection: DocumentCollection, _ id: String, _ value: T, ifVersion version: Int, lease: Lease? = nil) throws {
        ops.append(WriteOp(
            database: collection.database, collection: collection.name, id: id, mode: .update(expected: version), body: try DocumentJSON.encode(value, collection.store.configuration.coding),
            lease: lease?.id))
    }

    /// Deletes `id`, only if it is at `version` when one is given.
    public mutating func delete(_ collection: DocumentCollection, _ id: String, ifVersion version: Int? = nil) {
        ops.append(WriteOp(database: collection.database, collection: collection.name, id: id, mode: .delete(expected: version)))
    }
}

extension DocumentStore {
    /// Applies the batch's writes atomically: all or none. Returns each write's new version
    /// (for deletes, the version deleted). Documents in a batch are limited to 16,000 octets, and the
    /// whole batch to what one UPDATE message carries.
    @discardableResult
    public func batch(_ build: (inout Batch) throws -> Void) async throws -> [Int] {
        var batch = Batch()
        try build(&batch)
        guard !batch.ops.isEmpty else { return [] }
        for op in batch.ops where op.collection.isEmpty || op.database.isEmpty {
            throw StoreError.invalidName("a batch write names no collection")
        }
        return try await execute(batch.ops, "batch of \(batch.ops.count) writes")
    }
}

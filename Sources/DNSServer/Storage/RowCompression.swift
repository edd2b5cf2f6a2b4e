import CZstd
import DNSWire
import Foundation
import GRDB

/// RDATA as the SQLite file keeps it: zstd with a dictionary trained on the file's own records,
/// wherever that is shorter. A document's record repeats its neighbours' JSON keys and header
/// fields, which the dictionary holds once; on its own, a row of 130 octets would hardly
/// compress. A dictionary is a row of the file, never changed or removed once written, so every
/// process that shares the file reads what another packed; each row names the dictionary it was
/// packed with, and a row that names none holds the RDATA as sent.
final class RowCompression: @unchecked Sendable {
    /// Octets of a trained dictionary.
    static let dictionaryOctets = 16 * 1024
    /// Records the first dictionary is trained on; none is trained before the file holds this many.
    static let samples = 2_000
    /// Octets of samples read at most (index pages are up to 16,000 octets each).
    static let sampleOctets = 4 << 20
    /// Rows shorter than this are kept as they are: a frame's own header would eat the gain.
    static let shortest = 32
    /// Rows written between two looks for enough records to train on.
    static let trainingInterval = 500
    /// zstd's level: the fastest levels pack these rows almost as well as the slow ones.
    static let level: Int32 = 3

    private struct Dictionary: @unchecked Sendable {
        let id: Int64
        let compress: OpaquePointer
        let decompress: OpaquePointer
    }

    private struct State {
        var newest: Dictionary?
        var byID: [Int64: Dictionary] = [:]
        var idleDecompressors: [OpaquePointer] = []
        /// Rows written since the last look for enough records to train on; starts due.
        var rowsSinceLook = RowCompression.trainingInterval
    }

    private let state = Locked(State())
    private let compressor: Locked<OpaquePointer>

    init() {
        let context = ZSTD_createCCtx()!
        // The row names its dictionary; the frame need not.
        ZSTD_CCtx_setParameter(context, ZSTD_c_dictIDFlag, 0)
        ZSTD_CCtx_setParameter(context, ZSTD_c_checksumFlag, 0)
        compressor = Locked(context)
    }

    deinit {
        compressor.withLock { _ = ZSTD_freeCCtx($0) }
        state.withLock { state in
            for context in state.idleDecompressors { ZSTD_freeDCtx(context) }
            for dictionary in state.byID.values {
                ZSTD_freeCDict(dictionary.compress)
                ZSTD_freeDDict(dictionary.decompress)
            }
        }
    }

    /// `wire` as a row keeps it: packed with the newest dictionary and its id, or as it is and nil
    /// when there is no dictionary yet or packing would not make it shorter.
    func pack(_ wire: [UInt8]) -> (octets: Data, dictionary: Int64?) {
        guard wire.count >= Self.shortest, let dictionary = state.withLock({ $0.newest }) else { return (Data(wire), nil) }
        let bound = ZSTD_compressBound(wire.count)
        var packed = Data(count: bound)
        let size = compressor.withLock { context in
            ZSTD_CCtx_refCDict(context, dictionary.compress)
            return packed.withUnsafeMutableBytes { out in
                wire.withUnsafeBytes { ZSTD_compress2(context, out.baseAddress, bound, $0.baseAddress, wire.count) }
            }
        }
        guard ZSTD_isError(size) == 0, size < wire.count else { return (Data(wire), nil) }
        packed.count = size
        return (packed, dictionary.id)
    }

    /// The RDATA a row keeps: `octets` as they are when `dictionary` is nil, else unpacked to at
    /// most `limit` octets (an RDATA's most; a journal step's changes say their own).
    func unpack(_ octets: Data, dictionary id: Int64?, limit: Int = 65_535, _ db: GRDB.Database) throws -> [UInt8] {
        guard let id else { return Array(octets) }
        let dictionary = try self.dictionary(id, db)
        let size = octets.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, $0.count) }
        // zstd's "unknown" and "error" are far above any limit.
        guard size <= UInt64(limit) else { throw StorageError.damaged("a packed row does not say its length, or says more than \(limit) octets") }
        let context = state.withLock { $0.idleDecompressors.popLast() } ?? ZSTD_createDCtx()!
        defer {
            state.withLock { state in
                if state.idleDecompressors.count < 8 { state.idleDecompressors.append(context) } else { ZSTD_freeDCtx(context) }
            }
        }
        var wire = [UInt8](repeating: 0, count: Int(size))
        let written = wire.withUnsafeMutableBytes { out in
            octets.withUnsafeBytes {
                ZSTD_decompress_usingDDict(context, out.baseAddress, out.count, $0.baseAddress, $0.count, dictionary.decompress)
            }
        }
        guard ZSTD_isError(written) == 0 else {
            throw StorageError.damaged("a packed row does not unpack (\(String(cString: ZSTD_getErrorName(written))))")
        }
        guard written == Int(size) else { throw StorageError.damaged("a packed row unpacks to \(written) octets, not \(size)") }
        return wire
    }

    /// After a write of `rows` rows, in its transaction: takes up a dictionary another process
    /// trained, or trains the file's first one when it holds enough records. Training in the
    /// write transaction means two processes never both train one.
    func afterWrite(rows: Int, _ db: GRDB.Database) throws {
        let due = state.withLock { state -> Bool in
            guard state.newest == nil else { return false }
            state.rowsSinceLook += rows
            guard state.rowsSinceLook >= Self.trainingInterval else { return false }
            state.rowsSinceLook = 0
            return true
        }
        guard due else { return }
        if try takeNewest(db) { return }
        var samples: [UInt8] = []
        var sizes: [Int] = []
        var keys: [[DatabaseValue]] = []
        let rows = try Row.fetchCursor(
            db, sql: "SELECT zone, owner, type, rdata_key, rdata FROM record WHERE dict IS NULL AND length(rdata) >= ? LIMIT ?",
            arguments: [Self.shortest, Self.samples])
        while let row = try rows.next(), samples.count < Self.sampleOctets {
            let octets = row["rdata"] as Data
            samples += octets
            sizes.append(octets.count)
            keys.append([row["zone"], row["owner"], row["type"], row["rdata_key"]])
        }
        guard sizes.count >= Self.samples else { return }
        var trained = [UInt8](repeating: 0, count: Self.dictionaryOctets)
        let size = trained.withUnsafeMutableBytes { out in
            samples.withUnsafeBytes { ZDICT_trainFromBuffer(out.baseAddress, out.count, $0.baseAddress, sizes, UInt32(sizes.count)) }
        }
        // Records too alike or too few to learn from: packed without, a later look tries again.
        guard ZDICT_isError(size) == 0 else { return }
        trained.removeSubrange(size...)
        try db.execute(sql: "INSERT INTO dictionary (octets) VALUES (?)", arguments: [Data(trained)])
        let dictionary = try adopt(db.lastInsertedRowID, trained)
        state.withLock { $0.newest = dictionary }
        // The records it learned from are packed too: a small store is mostly those.
        let repack = try db.cachedStatement(sql: "UPDATE record SET rdata = ?, dict = ? WHERE zone = ? AND owner = ? AND type = ? AND rdata_key = ?")
        var start = 0
        for (key, size) in zip(keys, sizes) {
            defer { start += size }
            let packed = pack(Array(samples[start..<(start + size)]))
            guard let id = packed.dictionary else { continue }
            try repack.execute(arguments: StatementArguments([packed.octets.databaseValue, id.databaseValue] + key))
        }
    }

    /// Takes up the newest dictionary the file holds, if any: at open, so that a process that
    /// writes one record packs it too.
    @discardableResult
    func takeNewest(_ db: GRDB.Database) throws -> Bool {
        guard let row = try Row.fetchOne(db, sql: "SELECT id, octets FROM dictionary ORDER BY id DESC LIMIT 1") else { return false }
        let dictionary = try adopt(row["id"], Array(row["octets"] as Data))
        state.withLock { $0.newest = dictionary }
        return true
    }

    /// The dictionary numbered `id`, read from the file the first time.
    private func dictionary(_ id: Int64, _ db: GRDB.Database) throws -> Dictionary {
        if let dictionary = state.withLock({ $0.byID[id] }) { return dictionary }
        guard let octets = try Data.fetchOne(db.cachedStatement(sql: "SELECT octets FROM dictionary WHERE id = ?"), arguments: [id]) else {
            throw StorageError.damaged("a row is packed with dictionary \(id), which the file does not hold")
        }
        return try adopt(id, Array(octets))
    }

    private func adopt(_ id: Int64, _ octets: [UInt8]) throws -> Dictionary {
        if let known = state.withLock({ $0.byID[id] }) { return known }
        guard let compress = octets.withUnsafeBytes({ ZSTD_createCDict($0.baseAddress, $0.count, Self.level) }),
            let decompress = octets.withUnsafeBytes({ ZSTD_createDDict($0.baseAddress, $0.count) })
        else { throw StorageError.damaged("compression dictionary \(id) does not load") }
        let dictionary = Dictionary(id: id, compress: compress, decompress: decompress)
        return state.withLock { state in
            if let known = state.byID[id] {
                ZSTD_freeCDict(compress)
                ZSTD_freeDDict(decompress)
                return known
            }
            state.byID[id] = dictionary
            return dictionary
        }
    }
}

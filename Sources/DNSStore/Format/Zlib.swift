import CZlib

/// DEFLATE in zlib's format (RFC 1950), by the system's zlib: what compressed documents hold.
enum Zlib {
    enum Failure: Error, Equatable {
        /// The output would pass the limit: a decompression bomb, or a damaged length.
        case tooLarge(limit: Int)
        /// Not a whole, valid zlib stream (bad data, bad checksum, cut short, or trailing octets).
        case damaged
    }

    /// The zlib stream of `input`, at zlib's default level.
    static func compress(_ input: [UInt8]) -> [UInt8] {
        var length = compressBound(uLong(input.count))
        var output = [UInt8](repeating: 0, count: Int(length))
        let status = output.withUnsafeMutableBufferPointer { out in
            input.withUnsafeBufferPointer { source in
                compress2(out.baseAddress, &length, source.baseAddress, uLong(input.count), Z_DEFAULT_COMPRESSION)
            }
        }
        // compressBound makes room for any input, so only memory exhaustion could fail here.
        precondition(status == Z_OK, "zlib compress2 failed with \(status)")
        output.removeSubrange(Int(length)...)
        return output
    }

    /// Inflates one zlib stream, never producing more than `limit` octets: a stream that would is
    /// refused as soon as it passes the limit, before more memory is taken.
    static func decompress(_ input: [UInt8], limit: Int) throws(Failure) -> [UInt8] {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw .damaged }
        defer { inflateEnd(&stream) }
        var output: [UInt8] = []
        var piece = [UInt8](repeating: 0, count: 65_536)
        var input = input
        return try input.withUnsafeMutableBufferPointer { (source) throws(Failure) -> [UInt8] in
            stream.next_in = source.baseAddress
            stream.avail_in = uInt(source.count)
            while true {
                let (status, produced) = piece.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(out.count)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    return (status, out.count - Int(stream.avail_out))
                }
                output.append(contentsOf: piece[..<produced])
                if output.count > limit { throw .tooLarge(limit: limit) }
                switch status {
                case Z_STREAM_END:
                    guard stream.avail_in == 0 else { throw .damaged }
                    return output
                case Z_OK:
                    continue
                case Z_BUF_ERROR where produced > 0:
                    continue
                default:
                    // Z_BUF_ERROR with nothing produced: the input ended before the stream did.
                    throw .damaged
                }
            }
        }
    }
}

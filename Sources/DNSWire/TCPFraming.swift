import NIOCore

/// RFC 7766 framing over TCP: each message preceded by its length in two octets.
public struct DNSFrameDecoder: ByteToMessageDecoder {
    /// One whole message, without its length.
    public typealias InboundOut = ByteBuffer

    /// A decoder with nothing buffered.
    public init() {}

    /// Passes on each whole message once its octets are in.
    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt16.self),
            buffer.readableBytes >= 2 + Int(length)
        else { return .needMoreData }
        buffer.moveReaderIndex(forwardBy: 2)
        let frame = buffer.readSlice(length: Int(length))!
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }
}

extension ByteBuffer {
    /// The message with its two-octet length in front, as TCP carries it. The message is at
    /// most 65,535 octets: `Message.encode` and `TSIGSigner` refuse longer ones.
    public func framedForTCP() -> ByteBuffer {
        var framed = ByteBuffer()
        framed.reserveCapacity(readableBytes + 2)
        framed.writeInteger(UInt16(readableBytes))
        framed.writeImmutableBuffer(self)
        return framed
    }
}

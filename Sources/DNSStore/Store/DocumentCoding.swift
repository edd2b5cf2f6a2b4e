import Foundation

/// How Codable values become JSON documents and back. The standard coding writes what programs
/// in other languages, `find` and the command line read: keys sorted, slashes as they are, and
/// dates as ISO 8601 text in UTC with milliseconds (`"2026-12-06T18:30:00.250Z"`).
public struct DocumentCoding: Sendable {
    /// Makes the encoder of one write.
    public var makeEncoder: @Sendable () -> JSONEncoder
    /// Makes the decoder of one read.
    public var makeDecoder: @Sendable () -> JSONDecoder

    /// A coding with encoders and decoders of the caller's making (other date or key strategies).
    public init(makeEncoder: @escaping @Sendable () -> JSONEncoder, makeDecoder: @escaping @Sendable () -> JSONDecoder) {
        self.makeEncoder = makeEncoder
        self.makeDecoder = makeDecoder
    }

    /// Dates as ISO 8601 text. Reading takes ISO 8601 with or without fractional seconds, and a
    /// number as seconds since 2001-01-01 (what Foundation's default wrote, and so documents
    /// written before dates were text).
    public static let standard = DocumentCoding(
        makeEncoder: {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .custom { date, encoder in
                var container = encoder.singleValueContainer()
                try container.encode(date.formatted(withFraction))
            }
            return encoder
        },
        makeDecoder: {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .custom { decoder in
                let container = try decoder.singleValueContainer()
                if let seconds = try? container.decode(Double.self) { return Date(timeIntervalSinceReferenceDate: seconds) }
                let text = try container.decode(String.self)
                if let date = try? withFraction.parse(text) { return date }
                if let date = try? withoutFraction.parse(text) { return date }
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "'\(text)' is not an ISO 8601 date and time")
            }
            return decoder
        })
}

private let withFraction = Date.ISO8601FormatStyle(includingFractionalSeconds: true)
private let withoutFraction = Date.ISO8601FormatStyle()

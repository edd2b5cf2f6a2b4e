import Foundation
import Logging

/// `serve --log-format json`: one JSON object a line on standard error, for log shippers. The keys
/// are stable: `time` (ISO 8601, UTC, milliseconds), `level`, `logger`, `message`, `source`, and
/// `fields`, an object of the message's metadata (strings; lists and objects as JSON).
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let (level, message, extra, source) = (event.level, event.message, event.metadata, event.source)
        let fields = metadata.merging(extra ?? [:]) { _, new in new }
        let object: [String: Any] = [
            "time": Self.timestamp(Date()),
            "level": level.rawValue,
            "logger": label,
            "message": message.description,
            "source": source,
            "fields": fields.mapValues(Self.json),
        ]
        guard var data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        data.append(0x0A)
        Self.lock.withLock { FileHandle.standardError.write(data) }
    }

    private static let lock = NSLock()

    static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): return text
        case .stringConvertible(let value): return value.description
        case .array(let values): return values.map(json)
        case .dictionary(let values): return values.mapValues(json)
        }
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true).year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }
}

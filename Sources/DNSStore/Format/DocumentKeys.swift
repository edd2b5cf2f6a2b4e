/// A document's keys in its indexes (section 14.2 of docs/FORMAT.md), read from its JSON text:
/// the members along each field's path found by scanning, the value at its end turned into a
/// key, without decoding the rest of the document.
struct DocumentKeys {
    private let text: [UInt8]
    /// The top-level members; nil when the text is not a JSON object (which has no keys).
    private let members: [(name: String, value: Range<Int>)]?

    init(_ json: [UInt8]) {
        text = json
        members = try? JSONText.members(ofObject: json)
    }

    /// The key the document has in the index of `field`, or nil when it has none there.
    func key(_ field: String) -> [UInt8]? {
        var text = self.text
        var members = self.members
        let steps = field.split(separator: ".", omittingEmptySubsequences: false)
        for (k, step) in steps.enumerated() {
            guard let member = members?.first(where: { $0.name == step }) else { return nil }
            let value = Array(text[member.value])
            if k == steps.count - 1 { return IndexKey.key(ofText: value) }
            guard value.first == UInt8(ascii: "{") else { return nil }
            text = value
            members = try? JSONText.members(ofObject: value)
        }
        return nil
    }
}

extension IndexKey {
    /// The key of one JSON value's text (a scalar or container, already checked as JSON).
    static func key(ofText value: [UInt8]) -> [UInt8]? {
        switch value.first {
        case UInt8(ascii: "\""): return Array("s".utf8) + Array(JSONText.Scanner.decodeString(value[...]).utf8)
        case UInt8(ascii: "t"): return Array("t".utf8)
        case UInt8(ascii: "f"): return Array("f".utf8)
        case UInt8(ascii: "n"): return Array("z".utf8)
        case UInt8(ascii: "["), UInt8(ascii: "{"), nil: return nil
        default:
            guard let number = Double(String(decoding: value, as: UTF8.self)) else { return nil }
            return key(of: .number(number))
        }
    }
}

import DNSWire

/// A name as a storage key that sorts in DNS canonical order (RFC 4034 section 6.1) and puts all
/// names below a name right after it, so that "does anything exist below this name" and "every
/// record in canonical order" are index range scans. Labels are taken from the right, lower-cased,
/// each followed by 0x00; octets 0x00 and 0x01 inside a label become 0x01 0x01 and 0x01 0x02,
/// which keeps the order and keeps 0x00 a separator only.
enum OwnerKey {
    static func key(_ name: DNSName) -> [UInt8] {
        var key: [UInt8] = []
        key.reserveCapacity(name.wireLength + 4)
        name.wire.withUnsafeBufferPointer { wire in
            // The labels' starts, found left to right and taken right to left, on the stack.
            withUnsafeTemporaryAllocation(of: Int.self, capacity: wire.count / 2 + 1) { starts in
                var count = 0
                var i = 0
                while i < wire.count {
                    starts[count] = i
                    count += 1
                    i += Int(wire[i]) + 1
                }
                for index in stride(from: count - 1, through: 0, by: -1) {
                    let start = starts[index]
                    for byte in wire[(start + 1)..<(start + 1 + Int(wire[start]))] {
                        switch byte {
                        case 0x00: key.append(0x01); key.append(0x01)
                        case 0x01: key.append(0x01); key.append(0x02)
                        case 0x41...0x5A: key.append(byte | 0x20)
                        default: key.append(byte)
                        }
                    }
                    key.append(0x00)
                }
            }
        }
        return key
    }

    /// The open range of keys of the names strictly below the name whose key is `key`.
    static func descendants(of key: [UInt8]) -> (after: [UInt8], before: [UInt8]) {
        guard !key.isEmpty else { return ([], [0xFF, 0xFF, 0xFF, 0xFF]) }
        var upper = key
        upper[upper.count - 1] = 0x01
        return (key, upper)
    }
}

extension OwnerKey {
    /// The (lower-case) name a key stands for.
    static func name(_ key: [UInt8]) throws -> DNSName {
        var labels: [[UInt8]] = []
        var label: [UInt8] = []
        var i = 0
        while i < key.count {
            let byte = key[i]
            switch byte {
            case 0x00:
                labels.append(label)
                label = []
            case 0x01:
                guard i + 1 < key.count else { throw StorageError.damaged("a stored name key ends inside an escape") }
                i += 1
                label.append(key[i] == 0x01 ? 0x00 : 0x01)
            default:
                label.append(byte)
            }
            i += 1
        }
        return try DNSName(labels: labels.reversed())
    }
}

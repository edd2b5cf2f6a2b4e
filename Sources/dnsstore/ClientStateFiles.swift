import DNSClient
import DNSWire
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The private collections this user's commands have seen, per store, kept between commands so
/// that a collection once seen private stays private (docs/FORMAT.md section 11.3): stripping
/// `"private"` from the zone then makes the next command fail, never write in the clear.
///
/// The file is `private-collections.json` in the state folder (`DNSSTORE_STATE_DIR`, else
/// `$XDG_STATE_HOME/dnsstore`, else `~/.local/state/dnsstore`), mode 0600, a JSON object from a
/// store (its root and where it is served: the first server or the data directory) to the sorted
/// `database/collection` paths pinned there. Replaced whole by rename, so a reader never sees half.
struct PinFile: Sendable {
    let path: String
    let store: String

    init(root: DNSName, where location: String) {
        path = "\(StateFile.folder(override: "DNSSTORE_STATE_DIR", xdg: "XDG_STATE_HOME", home: ".local/state"))/private-collections.json"
        store = "\(root) \(location)"
    }

    private func readAll() -> [String: [String]] {
        guard let data = FileManager.default.contents(atPath: path),
            let all = try? JSONDecoder().decode([String: [String]].self, from: data)
        else { return [:] }
        return all
    }

    /// The collections pinned for this store.
    func load() -> Set<String> { Set(readAll()[store] ?? []) }

    /// Records the pins of this store. A file that cannot be written is reported once on
    /// standard error; the command goes on (the pins still hold for its own run).
    func save(_ pins: Set<String>) {
        var all = readAll()
        guard Set(all[store] ?? []) != pins else { return }
        all[store] = pins.isEmpty ? nil : pins.sorted()
        do {
            try write(all)
        } catch {
            Output.error("warning: cannot keep the private collections seen in \(path): \(error)")
        }
    }

    private func write(_ all: [String: [String]]) throws {
        try StateFile.write(all, to: path)
    }
}

/// Small JSON files a command keeps for the next one, readable by their owner only.
enum StateFile {
    /// `$override`, else `$xdg/dnsstore`, else `~/home/dnsstore`.
    static func folder(override: String, xdg: String, home: String) -> String {
        let env = ProcessInfo.processInfo.environment
        return env[override] ?? env[xdg].map { "\($0)/dnsstore" } ?? "\(env["HOME"] ?? NSHomeDirectory())/\(home)/dnsstore"
    }

    /// Writes `value` as JSON to `path`, mode 0600, its folder 0700, replacing the file whole by
    /// rename, so that a reader never sees half of it.
    static func write<T: Encodable>(_ value: T, to path: String) throws {
        let folder = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let bytes = Array(try encoder.encode(value))
        let temporary = "\(path).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CLIError.invalidInput(String(cString: strerror(errno))) }
        let written = bytes.withUnsafeBufferPointer { Glibc.write(fd, $0.baseAddress, $0.count) }
        close(fd)
        guard written == bytes.count, rename(temporary, path) == 0 else {
            unlink(temporary)
            throw CLIError.invalidInput(String(cString: strerror(errno)))
        }
    }

    static func read<T: Decodable>(_ type: T.Type, from path: String) -> T? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(type, from: data)
    }
}

/// Which servers failed lately, kept between commands in `servers.json` in the cache folder
/// (`DNSSTORE_CACHE_DIR`, else `$XDG_CACHE_HOME/dnsstore`, else `~/.cache/dnsstore`), mode 0600:
/// a dead server costs one command a timeout, and the next ones try it last until its rest is
/// over (5 s, doubling with each failure in a row, up to a minute).
enum HealthFile {
    static var path: String {
        "\(StateFile.folder(override: "DNSSTORE_CACHE_DIR", xdg: "XDG_CACHE_HOME", home: ".cache"))/servers.json"
    }

    static func load() -> ServerHealth {
        let path = self.path
        return ServerHealth(
            firstRest: .seconds(5), longestRest: .seconds(60),
            entries: StateFile.read([String: ServerHealth.Entry].self, from: path) ?? [:]
        ) { entries in
            try? StateFile.write(entries, to: path)
        }
    }
}

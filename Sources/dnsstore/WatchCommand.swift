import ArgumentParser
import DNSClient
import DNSStore
import DNSWire
import Foundation

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Print a line of JSON for each change of a collection or a document, until interrupted.",
        discussion: """
            Each line is {"op": "put"|"delete"|"resync", "path", "version", "serial"}, with "doc" for a put unless \\
            --ids-only, and "reason": "expired"|"revoked" for a document deleted with its lease. Resume with --from SERIAL, the serial of the last line seen: nothing is missed or repeated. \\
            The watch follows the first read server (or the server, or the primary): with IXFR when the server \\
            transfers to the key, else by reading the collection again when the zone's serial moves; it looks \\
            every --interval seconds, and at once when it receives a NOTIFY on --notify-listen. A "resync" line \\
            means the changes could not be followed one by one (the server's journal no longer reaches back): \\
            every document it holds now follows as a put.
            Example: dnsstore watch inventory/hosts --from 1042 --notify-listen 127.0.0.1:5399
            """)
    @Argument(help: "database/collection or database/collection/id") var path: String
    @Option(parsing: .unconditional, help: "Report the changes after this zone serial.") var from: UInt32?
    @Flag(help: "Leave the documents out.") var idsOnly = false
    @Option(parsing: .unconditional, help: "Seconds between looks at the zone's serial.") var interval: Double = 1
    @Option(help: "Listen for NOTIFY on ADDRESS:PORT and look at once when one comes.") var notifyListen: String?
    @Option(parsing: .unconditional, help: "Stop after this many changes.") var count: Int?
    @OptionGroup var store: StoreOptions

    func validate() throws {
        guard interval > 0, interval <= 3600 else { throw ValidationError("--interval must be above 0 and at most 3600 seconds, not \(interval)") }
        if let count, count < 1 { throw ValidationError("--count must be 1 or more, not \(count)") }
    }

    func run() async throws {
        try await report(store) {
            let p = try StorePath(path, needs: 2, allowMore: true)
            let opened = try await store.openStore()
            let settings = try store.settings()
            var options = WatchOptions()
            options.from = from
            options.interval = .milliseconds(Int(interval * 1000))
            options.includeDocuments = !idsOnly
            let what = path
            options.started = { serial in
                FileHandle.standardError.write(Data("watching \(what) for changes after serial \(serial)\n".utf8))
            }
            if let followed = settings.readServers.first ?? settings.server ?? settings.primaries.first {
                // The followed server with the key, so that it may transfer changes to us.
                options.server = DNSClient(configuration: settings.client(followed))
            }
            if let notifyListen {
                let address = try ServerAddress.cli(notifyListen)
                options.notifications = try await NotifyListener.start(host: address.ipAddress ?? "127.0.0.1", port: address.port ?? 53)
            }
            let collection = opened.database(p.database).collection(p.collection!)
            let changes = p.id.map { collection.watch($0, options) } ?? collection.watch(options)
            var seen = 0
            for try await change in changes {
                var line = Array("{\"op\":\"\(change.operation.rawValue)\",\"path\":".utf8) + JSONText.string(change.path)
                line += Array(",\"version\":\(change.version),\"serial\":\(change.serial)".utf8)
                if let reason = change.reason { line += Array(",\"reason\":\"\(reason.rawValue)\"".utf8) }
                if let document = change.document { line += Array(",\"doc\":".utf8) + document.json }
                line.append(UInt8(ascii: "}"))
                line.append(0x0A)
                FileHandle.standardOutput.write(Data(line))
                seen += 1
                if let count, seen >= count { break }
            }
            await options.notifications?.close()
        }
    }
}

import ArgumentParser
import DNSStore
import DNSWire
import Foundation

/// `dnsstore shell`: a long-running client that scripts in any language drive through a pipe.
struct ShellCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shell",
        abstract: "Read one request per line on standard input and answer each with one line of JSON, keeping one store open.",
        discussion: """
            A request is a command as on the command line without 'dnsstore' and the store's flags \\
            (put db/c/id {"n": 1} --if-version 3), or a JSON object with the same fields \\
            ({"op": "update", "path": "db/c/id", "doc": {"n": 1}, "ifVersion": 3, "id": 7}). Each answer is \\
            {"id", "ok": true, "result"} or {"id", "ok": false, "error": {"code", "exit", "message"}}, in the order \\
            of the requests, with the request's "id" echoed and the exit code the same failure gives a command. \\
            Operations: get, put, insert, update, delete, list, find, db create|list|drop, \\
            collection create|list|drop, lease grant|renew|keepalive|revoke|show, lock, unlock, help, quit.
            One store object serves every request, so reads are 'session' consistent by default (a read sees \\
            every write this shell made and every version it read before), and metadata, server health and \\
            connections are kept. 'lease keepalive ID' renews the lease for as long as the shell runs; if it is \\
            lost, a line {"event": "lease lost", "lease", "error"} says so. Blank lines and lines starting \\
            with # get no answer. The shell ends at the end of its input or at 'quit'.
            Example: printf 'put db/c/a {"n":1}\\nget db/c/a --with-version\\n' | dnsstore shell
            """)
    @OptionGroup var store: StoreOptions

    func run() async throws {
        let session = try await report(store) {
            ShellSession(store: try await store.openStore(defaultConsistency: .session), options: store) { line in
                Output.line(String(decoding: line, as: UTF8.self))
            }
        }
        defer { session.close() }
        for await line in Self.standardInputLines() {
            let answer: [UInt8]
            switch line {
            case .tooLong(let number):
                answer = ShellSession.envelope(nil, ok: false, "error", ShellSession.describe(
                    CLIError.invalidInput("line \(number) is longer than \(ShellRequest.maxLineOctets) octets"), options: store))
            case .text(let octets):
                let trimmed = octets.drop { $0 == 0x20 || $0 == 0x09 }
                if trimmed.isEmpty || trimmed.first == UInt8(ascii: "#") { continue }
                answer = await session.answer(Array(trimmed))
                if Self.isQuit(Array(trimmed)) {
                    session.emit(answer)
                    return
                }
            }
            session.emit(answer)
        }
    }

    private static func isQuit(_ line: [UInt8]) -> Bool {
        (try? ShellRequest(line: line))?.op == "quit"
    }

    enum Line: Sendable {
        case text([UInt8])
        case tooLong(Int)
    }

    /// Standard input's lines, read on a thread of their own so that a pipe with nothing to read
    /// holds no task of the shell. A line longer than `ShellRequest.maxLineOctets` is skipped
    /// (and reported by its number) without being held in memory whole.
    static func standardInputLines() -> AsyncStream<Line> {
        AsyncStream(bufferingPolicy: .bufferingOldest(64)) { continuation in
            Thread.detachNewThread {
                var line: [UInt8] = []
                var number = 0
                var overlong = false
                var buffer = [UInt8](repeating: 0, count: 65_536)
                func end() {
                    number += 1
                    if overlong {
                        continuation.yield(.tooLong(number))
                    } else {
                        if line.last == 0x0D { line.removeLast() }
                        yieldWaiting(.text(line))
                    }
                    line = []
                    overlong = false
                }
                // The stream buffers a few lines; past that, reading waits for the shell.
                func yieldWaiting(_ item: Line) {
                    while case .dropped = continuation.yield(item) { usleep(1_000) }
                }
                while true {
                    let n = buffer.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
                    if n < 0, errno == EINTR { continue }
                    guard n > 0 else { break }
                    var start = 0
                    for i in 0..<n where buffer[i] == 0x0A {
                        if !overlong { line += buffer[start..<i] }
                        end()
                        start = i + 1
                    }
                    if !overlong {
                        line += buffer[start..<n]
                        if line.count > ShellRequest.maxLineOctets {
                            overlong = true
                            line = []
                        }
                    }
                }
                if !line.isEmpty || overlong { end() }
                continuation.finish()
            }
        }
    }
}

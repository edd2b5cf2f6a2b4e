@testable import DNSServer
import DNSWire
import Foundation
import Logging
import NIOCore
import Testing

/// Keeps every line logged, for tests that read the log.
struct CapturedLog: LogHandler {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    let lines: Locked<[Line]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = (event.metadata ?? [:]).mapValues { "\($0)" }
        lines.withLock { $0.append(Line(level: event.level, message: "\(event.message)", metadata: fields)) }
    }

    static func logger() -> (Logger, Locked<[Line]>) {
        let lines = Locked<[Line]>([])
        return (Logger(label: "test") { _ in CapturedLog(lines: lines) }, lines)
    }
}

/// Every refusal is logged with its reason and where the request came from, and a flood of them
/// gives a line or so per kind, not one per request.
@Suite("Refusals in the log")
struct RefusalLogTests {
    static let zone: DNSName = "example.test."
    static let source = RequestSource(try! SocketAddress(ipAddress: "192.0.2.7", port: 5353))

    static func update(_ id: UInt16) throws -> Message {
        var builder = UpdateBuilder(zone: zone)
        builder.add(.txt("flood.example.test.", TXT("x")))
        return builder.message(id: id)
    }

    @Test func eachRefusalIsLoggedOnceWithItsReasonUnderAFlood() throws {
        let (logger, lines) = CapturedLog.logger()
        let key = TSIGKey.generate(name: "admin.")
        let authority = try Authority(inMemory: AuthorityConfiguration(zones: [Self.zone], keys: [key]), logger: logger)
        let impostor = TSIGKey.generate(name: "admin.")
        let stranger = TSIGKey.generate(name: "stranger.")
        for i in 0..<500 {
            let id = UInt16(i)
            _ = authority.receive(try TSIGSigner.sign(try Self.update(id).encode(), key: impostor, timeSigned: WallClock.seconds()).message, over: .udp, from: Self.source)
            _ = authority.receive(try TSIGSigner.sign(try Self.update(id).encode(), key: stranger, timeSigned: WallClock.seconds()).message, over: .udp, from: Self.source)
            _ = authority.receive(try Self.update(id).encode(), over: .udp, from: Self.source)
            var outside = UpdateBuilder(zone: "other.test.")
            outside.add(.txt("a.other.test.", TXT("x")))
            _ = authority.receive(try TSIGSigner.sign(try outside.message(id: id).encode(), key: key, timeSigned: WallClock.seconds()).message, over: .udp, from: Self.source)
            var notify = Message(opcode: .notify, authoritative: true, questions: [Question(name: Self.zone, type: .soa)])
            notify.id = id
            _ = authority.receive(try notify.encode(), over: .udp, from: Self.source)
            _ = authority.receive(try Message.query(Self.zone, type: .axfr, id: id).encode(), over: .tcp, from: Self.source)
        }
        let logged = lines.withLock { $0 }
        // 3,000 refusals of six kinds (the bad signature and the unknown key share one): five lines.
        #expect(logged.count == 5, "\(logged.map(\.message))")
        #expect(logged.allSatisfy { $0.metadata["from"] == "192.0.2.7:5353" })
        let reasons = logged.compactMap { $0.metadata["why"] }
        for expected in [
            "its signature does not verify with key 'admin.'",
            "it is not signed, and this server takes signed UPDATEs only",
            "this server is not authoritative for zone 'other.test.'",
            "this server is a primary and follows no one",
            "it is not signed, and this server transfers to signed requests only",
        ] {
            #expect(reasons.contains(expected), "no line says \(expected): \(reasons)")
        }
        // No secret in any line.
        let text = logged.map { "\($0.message) \($0.metadata)" }.joined()
        for secret in [key, impostor, stranger].map(\.secretBase64) { #expect(!text.contains(secret)) }
    }

    @Test func aLaterLineSaysHowManyWentUnlogged() async throws {
        let (logger, lines) = CapturedLog.logger()
        let log = RefusalLog(logger: logger, interval: .milliseconds(200))
        for _ in 0..<100 { log.refused("flood", "refused a request", source: Self.source, metadata: ["why": "a reason"]) }
        try await Task.sleep(for: .milliseconds(250))
        log.refused("flood", "refused a request", source: Self.source, metadata: ["why": "a reason"])
        log.refused("other", "refused another", source: .unknown)
        let logged = lines.withLock { $0 }
        #expect(logged.map(\.message) == ["refused a request", "refused a request", "refused another"])
        #expect(logged[0].metadata["more like it unlogged"] == nil)
        #expect(logged[1].metadata["more like it unlogged"] == "99")
        #expect(logged[2].metadata["from"] == "unknown")
    }
}

import DNSStore
import DNSStoreEmbedded
import DNSTestSupport
import Foundation
import InMemoryTracing
import Testing
import Tracing

/// Spans a program's tracer receives: one per store operation, its DNS exchanges inside it.
@Suite("Tracing")
struct TracingTests {
    @Test func storeOperationsAndTheirDNSExchangesAreSpansWithNoDocumentId() async throws {
        let directory = try TempDirectory.make("tracing")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try DocumentStore.embedded(directory: directory.path, encryptionKeys: EncryptionKeys([EncryptionKey.generate()]))
        let docs = try await store.createDatabase("ops").createCollection("secrets", private: true)
        _ = try await docs.put("db-password", ["v": 1])  // the collection's keys cached: the spans below are the operations'

        let tracer = InMemoryTracer()
        try await withTracer(tracer) {
            _ = try await docs.put("db-password", ["v": 2])
            _ = try await docs.get("db-password")
            await #expect(throws: StoreError.self) { try await docs.update("db-password", ["v": 3], ifVersion: 1) }
        }
        let spans = tracer.finishedSpans
        let top = spans.filter { $0.parentSpanID == nil }
        #expect(top.map(\.operationName) == ["dnsstore.write", "dnsstore.get", "dnsstore.write"], "\(spans.map(\.operationName))")
        guard top.count == 3 else { return }
        let (put, get, lost) = (top[0], top[1], top[2])
        #expect(put.attributes["db.operation.name"]?.toSpanAttribute() == .string("put"))
        #expect(lost.attributes["db.operation.name"]?.toSpanAttribute() == .string("update"))
        for span in top {
            #expect(span.attributes["db.system.name"]?.toSpanAttribute() == .string("dnsstore"))
            #expect(span.attributes["db.namespace"]?.toSpanAttribute() == .string("ops"))
            #expect(span.attributes["db.collection.name"]?.toSpanAttribute() == .string("secrets"))
        }
        func children(_ parent: FinishedInMemorySpan) -> [String] {
            spans.filter { $0.parentSpanID == parent.spanID }.map(\.operationName)
        }
        // The write read the document, then sent one UPDATE; the read asked at least once.
        #expect(children(put).contains("dns.update") && children(put).contains("dns.query"), "\(children(put))")
        #expect(children(get).contains("dns.query") && !children(get).contains("dns.update"), "\(children(get))")
        // The lost compare-and-swap is recorded as an error on its span.
        #expect(lost.errors.count == 1 && put.errors.isEmpty && get.errors.isEmpty)
        // The id of a document in a private collection is secret: no span names it.
        let text = spans.map { "\($0.operationName) \($0.attributes)" }.joined(separator: "\n")
        #expect(!text.contains("db-password"), "\(text)")
        // Without a tracer, nothing is recorded anywhere.
        _ = try await docs.get("db-password")
        #expect(tracer.finishedSpans.count == spans.count)
        await store.shutdown()
    }
}

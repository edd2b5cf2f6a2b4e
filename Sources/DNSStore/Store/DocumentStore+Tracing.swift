import DNSWire
import Tracing

/// Spans around store operations and their DNS exchanges (swift-distributed-tracing), named and
/// attributed after OpenTelemetry's conventions for database clients and DNS. They cost next to
/// nothing until the program bootstraps a tracer, or sets one for a task with `withTracer`.
/// Document ids are never put in a span: in a private collection they are secret.
extension DocumentStore {
    /// A store operation: `dnsstore.get`, `dnsstore.write`, with the database, collection and
    /// operation it concerns.
    func traced<T>(
        _ name: String, operation: String, database: String?, collection: String?, documents: Int? = nil,
        _ body: () async throws -> T
    ) async throws -> T {
        try await withSpan(name, ofKind: .client) { span in
            span.attributes["db.system.name"] = "dnsstore"
            span.attributes["db.operation.name"] = operation
            if let database { span.attributes["db.namespace"] = database }
            if let collection { span.attributes["db.collection.name"] = collection }
            if let documents, documents > 1 { span.attributes["db.operation.batch.size"] = documents }
            span.attributes["dnsstore.zone"] = configuration.zone.description
            return try await body()
        }
    }

    /// One DNS exchange: `dns.query` for a TXT lookup of `name`, `dns.update` for an UPDATE; the
    /// server asked (primary or a read server's name), and the number of records answered.
    func tracedExchange<T>(_ kind: String, name: DNSName?, server: String, _ body: (any Span) async throws -> T) async throws -> T {
        try await withSpan(kind, ofKind: .client) { span in
            span.attributes["dns.server"] = server
            if let name { span.attributes["dns.question.name"] = name.description }
            return try await body(span)
        }
    }
}

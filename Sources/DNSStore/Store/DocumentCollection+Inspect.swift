import DNSWire

extension DocumentCollection {
    /// The DNS records a document became: its record, then its data chunks, as queries return them.
    public func dnsRecords(of id: String) async throws -> [ResourceRecord] {
        let name = try await recordName(of: id)
        guard let rdata = try await store.readRecord(name) else { throw StoreError.notFound("document '\(database)/\(self.name)/\(id)'", path: "\(database)/\(self.name)/\(id)") }
        var records = [ResourceRecord(name: name, type: .txt, ttl: store.configuration.recordTTL, rdata: rdata)]
        let record = try RecordText.parse(rdata, name: name)
        for chunk in try store.dataChunkNames(of: record, at: name) {
            if let data = try await store.readRecord(chunk, overTCP: true) {
                records.append(ResourceRecord(name: chunk, type: .txt, ttl: store.configuration.recordTTL, rdata: data))
            }
        }
        return records
    }
}

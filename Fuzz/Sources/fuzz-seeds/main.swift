import DNSWire
import Foundation
import NIOCore

// Writes a seed corpus for each fuzz target into the directory given (default Corpus): messages
// like the ones the tests and the store send and receive, key files, records, index pages, JSON.

let root = URL(fileURLWithPath: CommandLine.arguments.dropFirst().first ?? "Corpus")

func write(_ target: String, _ name: String, _ bytes: [UInt8]) throws {
    let dir = root.appendingPathComponent(target)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    try Data(bytes).write(to: dir.appendingPathComponent(name))
}

func octets(_ message: Message) throws -> [UInt8] { Array(try message.encode().readableBytesView) }

let key = TSIGKey.generate(name: "dnsstore-key.")
let zone: DNSName = "example.test."
let soa = SOA(mname: "ns1.example.test.", rname: "hostmaster.example.test.", serial: 7, refresh: 3600, retry: 600, expire: 86400, minimum: 30)
let records: [ResourceRecord] = [
    ResourceRecord(name: zone, type: .soa, ttl: 300, rdata: .soa(soa)),
    ResourceRecord(name: zone, type: .ns, ttl: 300, rdata: .ns("ns1.example.test.")),
    ResourceRecord(name: "ns1.example.test.", type: .a, ttl: 300, rdata: .a(IPv4Address(127, 0, 0, 1))),
    ResourceRecord(name: "v6.example.test.", type: .aaaa, ttl: 300, rdata: .aaaa(try IPv6Address("::1"))),
    ResourceRecord(name: "www.example.test.", type: .cname, ttl: 300, rdata: .cname("ns1.example.test.")),
    ResourceRecord(name: "example.test.", type: .mx, ttl: 300, rdata: .mx(preference: 10, exchange: "mail.example.test.")),
    .txt("doc.0.c.0.db.0._dnsstore.example.test.", TXT("{\"h\":\"x\",\"id\":\"doc\",\"n\":2,\"v\":1}\n{}")),
    ResourceRecord(name: "_x._tcp.example.test.", type: RRType(33), ttl: 300, rdata: .opaque([0, 1, 0, 2, 0, 3, 3] + Array("www".utf8) + [0])),
    ResourceRecord(name: "caa.example.test.", type: RRType(257), ttl: 300, rdata: .opaque([0, 5] + Array("issueca.example".utf8))),
]

var index = 0
@MainActor func seed(_ target: String, _ bytes: [UInt8]) throws {
    index += 1
    try write(target, String(format: "seed-%03d", index), bytes)
}

for (i, record) in records.enumerated() {
    var query = Message.query(record.name, type: record.type, id: UInt16(i))
    try seed("fuzz-message", try octets(query))
    query.isResponse = true
    query.authoritative = true
    query.answers = [record]
    query.authority = [records[0]]
    try seed("fuzz-message", try octets(query))
}
var update = UpdateBuilder(zone: zone)
update.require(.rrsetDoesNotExist("a.example.test.", .txt))
update.require(.rrsetEquals("b.example.test.", .txt, [.txt(TXT("old"))]))
update.require(.nameInUse("c.example.test."))
update.require(.nameNotInUse("d.example.test."))
update.require(.rrsetExists("e.example.test.", .a))
update.replace("b.example.test.", .txt, with: [.txt(TXT("new"))], ttl: 30)
update.apply(.deleteName("f.example.test."))
update.apply(.deleteRecord("g.example.test.", .a, .a(IPv4Address(10, 0, 0, 1))))
for record in records.dropFirst() { update.add(record) }
let updateOctets = try octets(update.message(id: 99))
try seed("fuzz-message", updateOctets)
try seed("fuzz-update", updateOctets)
var simple = UpdateBuilder(zone: zone)
simple.add(.txt("x.example.test.", TXT("v")))
try seed("fuzz-update", try octets(simple.message(id: 1)))
let signed = try TSIGSigner.sign(try update.message(id: 5).encode(), key: key, timeSigned: 1_700_000_000)
try seed("fuzz-message", Array(signed.message.readableBytesView))
try seed("fuzz-tsig", Array(signed.message.readableBytesView))
var axfr = Message(id: 3, isResponse: true, authoritative: true, questions: [Question(name: zone, type: .axfr)], answers: records + [records[0]])
axfr.edns = EDNS(options: [.extendedError(code: 0, text: "seed"), EDNSOption(code: 10, data: Array(repeating: 1, count: 8))])
try seed("fuzz-message", try octets(axfr))
try seed("fuzz-tsig", Array(try TSIGSigner.sign(try axfr.encode(), key: key, timeSigned: 1_700_000_000, requestMAC: signed.mac).message.readableBytesView))
for name in ["example.test.", "a.b.c.d.e.f.example.test.", #"weird\.label\032.example.test."#, "."] {
    try seed("fuzz-name", Array(try Message.query(try DNSName(name), type: .a).encode().readableBytesView))
    try seed("fuzz-name", Array(name.utf8))
}
try seed("fuzz-keyfile", Array(key.bindKeyFile.utf8))
try seed("fuzz-keyfile", Array("hmac-sha512:other-key:\(key.secretBase64)".utf8))
try seed("fuzz-keyfile", Array("key \"a\" { algorithm hmac-sha1; secret \"AAAA\"; };\nkey \"b\" { algorithm hmac-sha384; secret \"BBBB\"; };\n".utf8))
for text in [
    "{\"h\":\"RBNvo1WzZ4oRRq0W9-hkng\",\"id\":\"web1\",\"n\":2,\"v\":3}\n{}",
    "{\"c\":2,\"g\":\"0badf00d\",\"h\":\"x\",\"id\":\"big\",\"n\":120000,\"v\":1}\n",
    "{\"e\":\"deflate\",\"h\":\"x\",\"id\":\"z\",\"n\":5,\"v\":1}\nabc",
    "{\"floor\":7,\"id\":0,\"pages\":2,\"record\":{\"a\":{},\"b\":{}}}",
    "{\"database\":{\"inventory\":{\"chunks\":{\"total\":8},\"name\":\"inventory\"}},\"id\":3}",
    "{\"collection\":{\"hosts\":{\"chunks\":{\"total\":16},\"name\":\"hosts\"}},\"id\":1,\"page\":2}",
] {
    try seed("fuzz-record", Array(text.utf8))
}
for text in ["{\"a\":[1,2.5e-3,true,null,\"x\\u00e9\\ud83d\\ude00\"],\"b\":{}}", "[]", "\"just a string\"", "-0.0", "{\"n\":{\"m\":[[[]]]}}"] {
    try seed("fuzz-json", Array(text.utf8))
}
print("wrote \(index) seeds into \(root.path)")

/// Built with the fuzz targets' flags, this program links libFuzzer too, which wants a target.
@_cdecl("LLVMFuzzerTestOneInput")
public func unused(_ start: UnsafeRawPointer, _ count: Int) -> CInt { 0 }

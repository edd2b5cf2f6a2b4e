// swift-tools-version: 6.2
import PackageDescription

let strict: [SwiftSetting] = [
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "DNSStore",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "DNSWire", targets: ["DNSWire"]),
        .library(name: "DNSClient", targets: ["DNSClient"]),
        .library(name: "DNSServer", targets: ["DNSServer"]),
        .library(name: "DNSStore", targets: ["DNSStore"]),
        .library(name: "DNSStoreEmbedded", targets: ["DNSStoreEmbedded"]),
        .executable(name: "dnsstore", targets: ["dnsstore"]),
    ],
    traits: [
        // `dnsstore serve --storage postgresql://…`: zones in PostgreSQL, shared by several front
        // ends. Off by default because its client (with TLS) doubles a first build; CI turns it on.
        .trait(name: "PostgreSQL", description: "Zone storage in PostgreSQL for several front ends (postgres-nio)."),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-atomics.git", from: "1.3.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // Only for `swift package generate-documentation`; nothing links it.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.5.0"),
    ],
    targets: [
        // Layer 1: the DNS wire protocol. Values and ByteBuffer code only, no I/O.
        .target(
            name: "DNSWire",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // Layer 2: the async client transport (UDP, TCP, retries, TSIG verification).
        .target(
            name: "DNSClient",
            dependencies: [
                "DNSWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Layer 3: the authoritative server engine, its SQLite storage and its sockets.
        .target(
            name: "DNSServer",
            dependencies: [
                "DNSWire",
                "DNSClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's own calls, for the statements of the UPDATE path (`SQLiteStatement`).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                "CZstd",
                "CBatchedSockets",
                .product(name: "PostgresNIO", package: "postgres-nio", condition: .when(traits: ["PostgreSQL"])),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Atomics", package: "swift-atomics"),
                .product(name: "Crypto", package: "swift-crypto"),
            ],
            swiftSettings: strict
        ),
        // zstd, the system's (Debian: libzstd-dev): RDATA compressed in the SQLite file with a
        // dictionary trained on the file's own records.
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", providers: [.apt(["libzstd-dev"])]),
        // recvmmsg and sendmmsg from the C library, which it declares only under _GNU_SOURCE: the
        // server's UDP sockets read and answer datagrams in batches with them.
        .systemLibrary(name: "CBatchedSockets", path: "Sources/CBatchedSockets"),
        // posix_spawn's file actions for closing inherited descriptors and setting the directory,
        // which the C library declares only under _GNU_SOURCE: the tests start programs with them.
        .systemLibrary(name: "CSpawn", path: "Sources/CSpawn"),
        // zlib, the system's (Debian: zlib1g-dev), for compressed documents.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", providers: [.apt(["zlib1g-dev"])]),
        // Layer 4: the document store (docs/FORMAT.md).
        .target(
            name: "DNSStore",
            dependencies: [
                "DNSWire",
                "DNSClient",
                "CZlib",
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                // A store runs as a `Service` beside the program's others, and shuts down with them.
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // Spans around store operations and their DNS exchanges: no-ops unless the program
                // bootstraps a tracer (or sets one for a task with `withTracer`).
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strict
        ),
        // The store on the embedded engine in the same process (no sockets): what programs link
        // when they keep data on their own disk, apart from the store so that a program that only
        // talks to remote servers does not link the engine, GRDB and SQLite.
        .target(
            name: "DNSStoreEmbedded",
            dependencies: [
                "DNSStore", "DNSServer", "DNSClient", "DNSWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // Examples/Registrar: a service that uses the library as README.md says (ServiceLifecycle,
        // a logger, configuration from the environment, a lease, a watch). Built with the rest,
        // and run by a test against a server named by host name.
        .executableTarget(
            name: "dnsstore-example-registrar",
            dependencies: [
                "DNSStore", "DNSStoreEmbedded",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Examples/Registrar",
            swiftSettings: strict
        ),
        // Layer 5: the command line.
        .executableTarget(
            name: "dnsstore",
            dependencies: [
                "DNSWire",
                "DNSClient",
                "DNSServer",
                "DNSStore",
                "DNSStoreEmbedded",
                "DNSStoreRoute53",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Atomics", package: "swift-atomics"),
            ],
            swiftSettings: strict
        ),
        // Benchmarks against baselines (dnspython, dnsperf) measured in the same run.
        .executableTarget(
            name: "dnsstore-bench",
            dependencies: [
                "DNSWire", "DNSClient", "DNSStore", "DNSTestSupport", "DNSStoreRoute53",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // The checks of a cluster test's history: linearizability of compare-and-swap per key,
        // reads against acknowledged writes, sessions, counters and watches. Pure values.
        .target(name: "DNSStoreHistory", swiftSettings: strict),
        // The cluster test: hosts in network namespaces, faults on a schedule, every operation
        // recorded and checked (scripts/cluster-test).
        .executableTarget(
            name: "dnsstore-cluster",
            dependencies: ["DNSStoreHistory", "DNSTestSupport", "DNSWire"],
            swiftSettings: strict
        ),
        // Starts the real servers and tools the tests run against (named, knotd, dig, nsupdate).
        .target(
            name: "DNSTestSupport",
            dependencies: ["DNSWire", "DNSServer", "CSpawn", "DNSStoreRoute53"],
            swiftSettings: strict
        ),
        // Amazon Route 53 as a store backend: its API (signed requests, XML, retries) so far.
        .target(
            name: "DNSStoreRoute53",
            dependencies: [
                "DNSStore", "DNSClient", "DNSWire",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "Route53Tests",
            dependencies: ["DNSStoreRoute53", "DNSStore", "DNSWire", "DNSTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "DNSWireTests",
            dependencies: ["DNSWire", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "DNSClientTests",
            dependencies: ["DNSClient", "DNSWire", "DNSTestSupport", .product(name: "NIOEmbedded", package: "swift-nio")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "DNSServerTests",
            dependencies: [
                "DNSServer", "DNSClient", "DNSWire", "DNSStore", "DNSTestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "CLITests",
            dependencies: ["DNSServer", "DNSWire", "DNSTestSupport", "DNSStoreRoute53"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "DNSStoreTests",
            dependencies: [
                "DNSStore", "DNSStoreEmbedded", "DNSServer", "DNSClient", "DNSWire", "DNSTestSupport", "DNSStoreHistory",
                "DNSStoreRoute53",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: strict
        ),
    ]
)

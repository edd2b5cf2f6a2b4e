// swift-tools-version: 6.2
// libFuzzer targets for the parsers and the UPDATE engine. Built apart from the main package
// because -sanitize=fuzzer supplies `main`; see scripts/fuzz.
import PackageDescription

let library: [SwiftSetting] = [.unsafeFlags(["-parse-as-library"])]

func target(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(name: name, dependencies: dependencies + ["FuzzSupport"], path: "Sources/\(name)", swiftSettings: library)
}

let package = Package(
    name: "DNSStoreFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "DNSStore", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "NIOCore", package: "swift-nio")], path: "Sources/FuzzSupport"),
        target("fuzz-message", [.product(name: "DNSWire", package: "DNSStore"), .product(name: "NIOCore", package: "swift-nio")]),
        target("fuzz-name", [.product(name: "DNSWire", package: "DNSStore"), .product(name: "NIOCore", package: "swift-nio")]),
        target("fuzz-tsig", [.product(name: "DNSWire", package: "DNSStore"), .product(name: "NIOCore", package: "swift-nio")]),
        target("fuzz-keyfile", [.product(name: "DNSWire", package: "DNSStore")]),
        target("fuzz-update", [
            .product(name: "DNSServer", package: "DNSStore"), .product(name: "DNSWire", package: "DNSStore"),
            .product(name: "NIOCore", package: "swift-nio"),
        ]),
        target("fuzz-record", [.product(name: "DNSStore", package: "DNSStore"), .product(name: "DNSWire", package: "DNSStore")]),
        target("fuzz-json", [.product(name: "DNSStore", package: "DNSStore")]),
        .executableTarget(
            name: "fuzz-seeds",
            dependencies: [
                .product(name: "DNSWire", package: "DNSStore"), .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Sources/fuzz-seeds"),
    ]
)

// swift-tools-version:6.0
import PackageDescription

// Coverage-guided fuzzers (libFuzzer) of what Kith reads from untrusted bytes. Built only with
// the sanitizer flags (see run.sh): each target's LLVMFuzzerTestOneInput is called by libFuzzer's main.
let package = Package(
    name: "KithFuzz",
    dependencies: [.package(name: "Kith", path: "..")],
    targets: [
        // libFuzzer's driver, declared for Swift.
        .target(name: "CFuzzer"),
        // A NodeCore with a peer and a running agent, to feed decoded input into: the real decisions.
        .target(name: "FuzzSupport", dependencies: [.product(name: "KithCore", package: "Kith"),
                                                     .product(name: "KithJSON", package: "Kith"), "CFuzzer"]),
        // Gossip frames: decode, and for what decodes, encode and decode again, then into the core.
        .executableTarget(name: "fuzz-wire", dependencies: ["FuzzSupport"]),
        // The JSON parser: parse, and for what parses, serialize and parse again.
        .executableTarget(name: "fuzz-json", dependencies: ["FuzzSupport"]),
        // Control requests: JSON, then OperatorCommand.parse, then the core.
        .executableTarget(name: "fuzz-control", dependencies: ["FuzzSupport"]),
        // Agent API lines: JSON, then the core's agent request handling.
        .executableTarget(name: "fuzz-agent", dependencies: ["FuzzSupport"]),
    ]
)

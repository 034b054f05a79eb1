// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Kith",
    products: [
        .executable(name: "kithd", targets: ["kithd"]),
        .executable(name: "kithctl", targets: ["kithctl"]),
        .executable(name: "kith-agent", targets: ["kith-agent"]),
        // For the coverage-guided fuzzers in fuzz/, a package of their own that depends on this one by path.
        .library(name: "KithCore", targets: ["KithCore"]),
        .library(name: "KithJSON", targets: ["KithJSON"]),
    ],
    targets: [
        // C libraries from Debian packages: a modulemap and a shim header, nothing else.
        .systemLibrary(name: "CLibUV", pkgConfig: "libuv", providers: [.apt(["libuv1-dev"])]),
        .systemLibrary(name: "CSodium", pkgConfig: "libsodium", providers: [.apt(["libsodium-dev"])]),
        // Debian ships no pkg-config file for http-parser; the modulemap links libhttp_parser itself.
        .systemLibrary(name: "CHTTPParser", providers: [.apt(["libhttp-parser-dev"])]),

        // JSON values, parser and serializer: shared by the protocol, the daemon and the clients.
        .target(name: "KithJSON"),
        // The protocol: pure value types and state machines, no IO, no clocks.
        .target(name: "KithCore", dependencies: ["KithJSON"]),
        // Deterministic simulator: many KithCore nodes on virtual time.
        .target(name: "KithSim", dependencies: ["KithCore"]),
        // The thin libuv shell: loop, timers, TCP framing, signals.
        .target(name: "KithUV", dependencies: ["CLibUV", "CHTTPParser"]),
        // The Prometheus text exposition format, pure: metric values in, text out.
        .target(name: "KithMetrics"),
        // Signatures, MACs and digests over libsodium, and small secret files.
        .target(name: "KithCrypto", dependencies: ["CSodium"]),
        // What a client needs to talk to a node: control client, operator signer, event-log verifier.
        .target(name: "KithControl", dependencies: ["KithJSON", "KithCrypto"]),
        // The daemon's composition: drives the core with shell events.
        .target(name: "KithNode", dependencies: ["KithCore", "KithUV", "KithCrypto", "KithControl", "KithMetrics"]),
        // The scenario report: figures computed from event logs alone, Markdown and SVG. Pure.
        .target(name: "KithReport", dependencies: ["KithJSON"]),
        // Labs of real daemons (loopback, network namespaces), scenarios, benches and the demo.
        .target(name: "KithLab", dependencies: ["KithCore", "KithControl", "KithReport"]),

        .executableTarget(name: "kithd", dependencies: ["KithNode"]),
        .executableTarget(name: "kithctl", dependencies: ["KithCore", "KithCrypto", "KithControl", "KithLab", "KithReport"]),
        // The reference agent: speaks the agent API, applies a preservation policy.
        .executableTarget(name: "kith-agent", dependencies: ["KithCore"]),
        // Times the simulator at 100 to 10,000 nodes (BENCHMARKS.md); run it with `-c release`.
        .executableTarget(name: "kith-sim-bench", dependencies: ["KithSim"]),
        // The failure detector over many simulated seeds: false deaths under loss, detection times (BENCHMARKS.md).
        .executableTarget(name: "kith-detect-bench", dependencies: ["KithSim", "KithCore"]),

        .testTarget(name: "KithJSONTests", dependencies: ["KithJSON", "KithCore"]),
        .testTarget(name: "KithCoreTests", dependencies: ["KithCore"]),
        .testTarget(name: "KithSimTests", dependencies: ["KithSim", "KithCore"]),
        .testTarget(name: "KithUVTests", dependencies: ["KithUV"]),
        .testTarget(name: "KithMetricsTests", dependencies: ["KithMetrics"]),
        .testTarget(name: "KithCryptoTests", dependencies: ["KithCrypto"]),
        .testTarget(name: "KithNodeTests", dependencies: ["KithNode", "KithCore", "KithCrypto", "KithControl", "KithUV"]),
        .testTarget(name: "KithReportTests", dependencies: ["KithReport", "KithJSON"], resources: [.copy("Fixtures")]),
        .testTarget(name: "KithLabTests", dependencies: ["KithLab", "KithReport", "KithJSON"]),
        .testTarget(name: "KithProcessTests", dependencies: ["KithCore", "KithNode", "KithLab", "KithReport", "kithd", "kithctl", "kith-agent"]),
    ]
)

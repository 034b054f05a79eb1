import Foundation

/// The built `kithd` and `kithctl`: the test target depends on both, so SwiftPM
/// builds them into the same products directory as the test bundle.
enum Binaries {
    static let kithd = path(of: "kithd")
    static let kithctl = path(of: "kithctl")

    /// The test runner's own directory first (`.build/<triple>/debug`), then the
    /// conventional `.build/debug` beside the package, found from this file's path.
    private static func path(of name: String) -> String {
        let runner = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidates = [
            URL(fileURLWithPath: runner).deletingLastPathComponent(),
            Bundle.main.bundleURL.deletingLastPathComponent(),
            packageRoot.appendingPathComponent(".build/debug"),
        ].map { $0.appendingPathComponent(name).path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }
}

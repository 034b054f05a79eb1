import Foundation
import Glibc

/// The system tools a netns lab drives (`ip`, `nft`, `tc`), run to completion
/// with their output captured, and what the root namespace currently holds.
package enum NetnsTools {
    /// What a finished tool printed (stdout and stderr together) and its exit status.
    package struct Outcome {
        package var status: Int32
        package var output: String
        package var succeeded: Bool { status == 0 }
    }

    /// The absolute path of `name` (`ip`, `nft`, `tc`): the sbin directories first, then `$PATH`.
    package static func path(_ name: String) throws -> String {
        let path = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        for directory in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] + path where !directory.isEmpty {
            if access(directory + "/" + name, X_OK) == 0 { return directory + "/" + name }
        }
        throw Failure("cannot find '\(name)' (install iproute2 and nftables: apt-get install -y iproute2 nftables)")
    }

    /// Runs `argv` (argv[0] a tool name, looked up with `path`) and waits for it.
    /// Output goes to a temporary file, so a chatty tool can never block on a full pipe.
    @discardableResult
    package static func run(_ argv: [String]) throws -> Outcome {
        let executable = try path(argv[0])
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("kith-netns-\(getpid())-\(UUID().uuidString)").path
        defer { unlink(outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let arguments = ([executable] + argv.dropFirst()).map { strdup($0) } + [nil]
        defer { arguments.forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, arguments, environ)
        guard spawned == 0 else { throw Failure("cannot start \(executable): \(String(cString: strerror(spawned)))") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let output = String(decoding: FileManager.default.contents(atPath: outputPath) ?? Data(), as: UTF8.self)
        let signal = status & 0x7f
        return Outcome(status: signal == 0 ? (status >> 8) & 0xff : 128 + signal,
                       output: output.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Runs `argv` and fails with its output unless it succeeds.
    package static func must(_ argv: [String]) throws {
        let outcome = try run(argv)
        guard outcome.succeeded else {
            throw Failure("'\(argv.joined(separator: " "))' failed (exit \(outcome.status)): \(outcome.output)")
        }
    }

    /// Runs `argv` whose failure only means "already gone"; other failures are returned as text.
    package static func remove(_ argv: [String]) -> String? {
        guard let outcome = try? run(argv) else { return "'\(argv.joined(separator: " "))' could not run" }
        if outcome.succeeded { return nil }
        let gone = ["No such file", "Cannot find device", "does not exist", "Cannot open network namespace",
                    "Cannot delete qdisc with handle of zero", "Invalid handle", "not found"]
        return gone.contains(where: outcome.output.contains) ? nil : "'\(argv.joined(separator: " "))': \(outcome.output)"
    }

    /// Applies an nft script inside `namespace` atomically (`nft -f`), from a file beside the record.
    package static func nft(_ script: String, in namespace: String, scratch directory: String) throws {
        let path = directory + "/.nft-\(namespace)-\(getpid()).nft"
        try script.write(toFile: path, atomically: true, encoding: .utf8)
        defer { unlink(path) }
        try must(["ip", "netns", "exec", namespace, try self.path("nft"), "-f", path])
    }

    /// Named network namespaces (`/run/netns`).
    package static func namespaces() -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? [])
    }

    /// Network interfaces of the root namespace (`/sys/class/net`).
    package static func links() -> Set<String> {
        Set((try? FileManager.default.contentsOfDirectory(atPath: "/sys/class/net")) ?? [])
    }

    /// IPv4 addresses with prefix lengths configured in the root namespace.
    package static func rootAddresses() -> [(address: UInt32, prefix: Int)] {
        guard let outcome = try? run(["ip", "-o", "-4", "addr", "show"]), outcome.succeeded else { return [] }
        return outcome.output.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard let index = fields.firstIndex(of: "inet"), index + 1 < fields.count else { return nil }
            return try? NetnsSubnet.parseCIDR(String(fields[index + 1]))
        }
    }

    /// Holds an exclusive lock (flock) on a host-wide file while `body` runs, so two
    /// `lab up --netns` at once never pick the same subnet or id.
    package static func withHostLock<T>(_ body: () throws -> T) throws -> T {
        let path = FileManager.default.fileExists(atPath: "/run/lock") ? "/run/lock/kith-netns.lock" : "/tmp/kith-netns.lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw Failure("cannot lock \(path): \(String(cString: strerror(errno)))") }
        }
        defer { flock(fd, LOCK_UN) }
        return try body()
    }
}

/// An IPv4 subnet for a netns lab: node I gets network + I, the bridge the last usable address.
package struct NetnsSubnet: CustomStringConvertible {
    package var network: UInt32
    package var prefix: Int

    package static let defaultText = "10.77.0.0/24"

    package init(network: UInt32, prefix: Int) {
        self.network = network & Self.mask(prefix)
        self.prefix = prefix
    }

    /// `A.B.C.D/P` with P from 8 to 29; host bits are cleared.
    package init(parsing text: String) throws(UsageError) {
        guard let (address, prefix) = try? Self.parseCIDR(text), (8...29).contains(prefix) else {
            throw UsageError("--subnet takes an IPv4 subnet such as \(Self.defaultText) (prefix /8 to /29), not '\(text)'")
        }
        self.init(network: address, prefix: prefix)
    }

    package static func mask(_ prefix: Int) -> UInt32 { prefix == 0 ? 0 : UInt32.max << UInt32(32 - prefix) }

    package static func parseCIDR(_ text: String) throws -> (address: UInt32, prefix: Int) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let prefix = Int(parts[1]), (0...32).contains(prefix), let address = parseAddress(String(parts[0])) else {
            throw Failure("not an IPv4 CIDR: \(text)")
        }
        return (address, prefix)
    }

    package static func parseAddress(_ text: String) -> UInt32? {
        let octets = text.split(separator: ".", omittingEmptySubsequences: false).map { UInt32($0) }
        guard octets.count == 4, octets.allSatisfy({ $0 != nil && $0! <= 255 }) else { return nil }
        return octets.reduce(0) { $0 << 8 | $1! }
    }

    package static func format(_ address: UInt32) -> String {
        [24, 16, 8, 0].map { String((address >> UInt32($0)) & 0xff) }.joined(separator: ".")
    }

    package var broadcast: UInt32 { network | ~Self.mask(prefix) }
    /// The root namespace's address on the bridge.
    package var gateway: UInt32 { broadcast - 1 }
    /// How many nodes fit (every usable address but the gateway's).
    package var capacity: Int { Int(broadcast - network) - 2 }
    /// Node `index` (0-based) gets network + index + 1: 10.77.0.1 for n1.
    package func node(_ index: Int) -> UInt32 { network + UInt32(index + 1) }

    package var description: String { "\(Self.format(network))/\(prefix)" }

    package func overlaps(_ address: UInt32, prefix other: Int) -> Bool {
        let shorter = min(prefix, other)
        return network & Self.mask(shorter) == address & Self.mask(shorter)
    }

    /// The subnet after this one of the same size (10.77.0.0/24 → 10.77.1.0/24).
    package var next: NetnsSubnet? {
        let (sum, overflow) = broadcast.addingReportingOverflow(1)
        return overflow ? nil : NetnsSubnet(network: sum, prefix: prefix)
    }
}

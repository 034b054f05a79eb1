import KithJSON

/// Where a report's figures came from, so that a reader can tell two reports
/// apart and rerun one: the Kith build, the settings and scenario (by hash),
/// the seed, the machine, and when the runs started and ended. `check` is the
/// history checker's verdict in short (`ok`, `runs`, `violations`; the report's
/// `check` section has the details), null in a report made before the checker.
package struct Provenance {
    package var version: String
    /// The git commit kithctl was built from ("unknown" outside a checkout), "+dirty" when the tree had changes.
    package var commit: String
    /// The run's command line and options: what `kithctl run` was asked to do.
    package var settings: JSON
    /// "sha256:HEX" of the scenario file's bytes.
    package var scenarioHash: String
    package var seed: UInt64
    package var host: String
    /// `uname -srm`.
    package var kernel: String
    /// Wall-clock ms of the first run's start and the last run's end (resumed runs keep their own times).
    package var startedMs: Int64
    package var endedMs: Int64
    /// The checker's verdict object, or null.
    package var check: JSON = .null

    package init(version: String, commit: String, settings: JSON, scenarioHash: String, seed: UInt64, host: String,
                 kernel: String, startedMs: Int64, endedMs: Int64, check: JSON = .null) {
        self.version = version
        self.commit = commit
        self.settings = settings
        self.scenarioHash = scenarioHash
        self.seed = seed
        self.host = host
        self.kernel = kernel
        self.startedMs = startedMs
        self.endedMs = endedMs
        self.check = check
    }

    package var json: JSON {
        ["version": .string(version), "commit": .string(commit), "settings": settings, "scenario_hash": .string(scenarioHash),
         "seed": .int(Int64(bitPattern: seed)), "host": .string(host), "kernel": .string(kernel),
         "started_ms": .int(startedMs), "ended_ms": .int(endedMs), "check": check]
    }

    /// The provenance a report.json holds, or nil if it has none (an older report).
    package init?(json: JSON) {
        guard let version = json["version"]?.stringValue, let commit = json["commit"]?.stringValue else { return nil }
        self.init(version: version, commit: commit, settings: json["settings"] ?? .null,
                  scenarioHash: json["scenario_hash"]?.stringValue ?? "", seed: UInt64(bitPattern: json["seed"]?.intValue ?? 0),
                  host: json["host"]?.stringValue ?? "", kernel: json["kernel"]?.stringValue ?? "",
                  startedMs: json["started_ms"]?.intValue ?? 0, endedMs: json["ended_ms"]?.intValue ?? 0,
                  check: json["check"] ?? .null)
    }

    /// Lines for report.md.
    package var lines: [String] {
        ["Kith \(version), commit `\(commit)`; host \(host), kernel \(kernel)",
         "Scenario \(scenarioHash), seed \(seed); runs from \(ReportMarkdown.timestamp(startedMs)) to \(ReportMarkdown.timestamp(endedMs))",
         "Checker verdict: " + (check == .null ? "not checked" : check.serialized())]
    }
}

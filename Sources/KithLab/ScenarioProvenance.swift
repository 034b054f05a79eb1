import Foundation
import Glibc
import KithControl
import KithCore
import KithCrypto
import KithReport

/// The shell side of a report's provenance and of resuming a run: the build's
/// commit, the machine, the scenario's hash, and each finished run's record
/// (`run-ID.json`) written as soon as the run ends and read back by `--resume`.
package enum ScenarioProvenance {
    /// "sha256:HEX" of the scenario as parsed, without `repeats`: comments and
    /// layout do not change it, and extending a run with more repeats keeps it.
    package static func hash(_ scenario: Scenario) -> String {
        var json = scenario.json.objectValue ?? [:]
        json["repeats"] = nil
        return "sha256:" + Hex.encode(Digest.sha256(Array(JSON.object(json).serialized().utf8)))
    }

    package static func make(_ scenario: Scenario, hash: String, settings: JSON, startedMs: Int64, endedMs: Int64) -> Provenance {
        make(hash: hash, seed: scenario.seed, settings: settings, startedMs: startedMs, endedMs: endedMs)
    }

    /// Provenance of a run with no scenario file (`kithctl demo`: `hash` empty).
    package static func make(hash: String, seed: UInt64, settings: JSON, startedMs: Int64, endedMs: Int64) -> Provenance {
        Provenance(version: KithVersion.string, commit: commit(), settings: settings, scenarioHash: hash, seed: seed,
                   host: hostName(), kernel: kernel(), startedMs: startedMs, endedMs: endedMs)
    }

    /// The commit of the checkout kithctl was built in (its executable lives under `.build` there), with "+dirty"
    /// when tracked files differ; $KITH_COMMIT when set (a packaged build); "unknown" otherwise.
    package static func commit() -> String {
        if let given = ProcessInfo.processInfo.environment["KITH_COMMIT"], !given.isEmpty { return given }
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent().path
        guard let head = git(["-C", executable, "rev-parse", "HEAD"]), head.count == 40 else { return "unknown" }
        let dirty = git(["-C", executable, "status", "--porcelain", "--untracked-files=no"]).map { !$0.isEmpty } ?? false
        return head + (dirty ? "+dirty" : "")
    }

    private static func git(_ arguments: [String]) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func hostName() -> String {
        var buffer = [UInt8](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// "Linux 6.1.0-18-amd64 x86_64".
    private static func kernel() -> String {
        var name = utsname()
        guard uname(&name) == 0 else { return "unknown" }
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return "\(text(name.sysname)) \(text(name.release)) \(text(name.machine))"
    }

    // MARK: - Run records

    package static func recordFile(_ id: String) -> String { "run-\(id).json" }

    /// Writes `run`'s record (with the scenario's hash) next to its events file; a run that cannot be saved
    /// is only reported (the run itself is in the report), and a resume runs it again.
    package static func save(_ run: RunData, hash: String, in directory: String) {
        guard run.aborted == nil, var record = run.record.objectValue else { return }
        record["scenario_hash"] = .string(hash)
        let path = directory + "/" + recordFile(run.id)
        do {
            try (JSON.object(record).serialized() + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        } catch {
            printError("cannot write \(path): \(error.localizedDescription); a resume will run \(run.id) again")
        }
    }

    /// The finished runs `directory` holds, by id: each record with its events file. A record of another
    /// scenario (another hash) is refused: resuming would mix two experiments in one report.
    package static func finishedRuns(in directory: String, hash: String) throws -> [String: RunData] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var runs: [String: RunData] = [:]
        for name in names.sorted() where name.hasPrefix("run-") && name.hasSuffix(".json") {
            let path = directory + "/" + name
            do {
                let record = try JSON.parse(String(contentsOfFile: path, encoding: .utf8))
                guard record["scenario_hash"]?.stringValue == hash else {
                    throw UsageError("--resume: \(path) is a run of another scenario (its hash differs from \(hash));"
                                     + " resume with the same scenario, or give another --report directory")
                }
                let eventsFile = directory + "/" + (record["events_file"]?.stringValue ?? "")
                let lines = try String(contentsOfFile: eventsFile, encoding: .utf8).split(separator: "\n")
                let events = lines.compactMap { EventRecord(line: String($0), node: "?") }
                let run = try RunData(record: record, events: events)
                runs[run.id] = run
            } catch let error as UsageError {
                throw error
            } catch {
                printError("--resume: \(path) is not a finished run (\(error)); it runs again")
            }
        }
        return runs
    }
}

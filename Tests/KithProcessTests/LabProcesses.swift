import KithLab
import Foundation
import Glibc
import KithCore

extension LabTestCase {
    /// Live processes whose command line, agent log (`KITH_LOG`) or working directory is under `directory`:
    /// what is left of a lab that `kithctl run` started and a test must end.
    func processes(under directory: String) -> [Int32] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { entry in
            guard let pid = Int32(entry), pid != getpid(), Pids.isAlive(pid) else { return nil }
            let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") ?? Data()
            let commandLine = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
            let output = Processes.agentLog(of: pid) ?? ""
            let directoryNow = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/cwd")) ?? ""
            return [commandLine, output, directoryNow].contains { $0.contains(directory + "/") } ? pid : nil
        }.sorted()
    }
}

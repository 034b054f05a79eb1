import Foundation
import KithCore
import KithSim

/// `kith-detect-bench loss|pause|crash [--seeds N] [--first S] [--nodes N] [--seconds S]
/// [--suspicion-multiplier X] [--suspicion-max-multiplier X]`: the failure detector
/// in simulation over many seeds; build with `-c release`. Logic in KithSim.DetectionBench.
/// `loss` prints the count of false *dead* (and exits 1 if any); `pause`/`crash` print detection times.
func usage() -> Never {
    FileHandle.standardError.write(Data("""
        usage: kith-detect-bench loss|pause|crash [--seeds N] [--first S] [--nodes N] [--seconds S]
                                 [--suspicion-multiplier X] [--suspicion-max-multiplier X] [--verbose]

        """.utf8))
    exit(2)
}

var arguments = CommandLine.arguments.dropFirst()
guard let mode = arguments.popFirst(), ["loss", "pause", "crash"].contains(mode) else { usage() }
var seeds = mode == "loss" ? 1000 : 100
var first: UInt64 = 1
var nodes = 32
var seconds = 60
var settings = MembershipSettings.lan
var verbose = false
while let argument = arguments.popFirst() {
    if argument == "--verbose" { verbose = true; continue }
    guard let value = arguments.popFirst() else { usage() }
    switch argument {
    case "--seeds": guard let n = Int(value), n > 0 else { usage() }; seeds = n
    case "--first": guard let n = UInt64(value) else { usage() }; first = n
    case "--nodes": guard let n = Int(value), (5...1000).contains(n) else { usage() }; nodes = n
    case "--seconds": guard let n = Int(value), n > 0 else { usage() }; seconds = n
    case "--suspicion-multiplier": guard let x = Double(value) else { usage() }; settings.suspicionMultiplier = x
    case "--suspicion-max-multiplier": guard let x = Double(value) else { usage() }; settings.suspicionMaxMultiplier = x
    default: usage()
    }
}
if let problem = settings.validate().first { FileHandle.standardError.write(Data("\(problem)\n".utf8)); exit(2) }

/// Written at once (not buffered), so a long run shows progress.
func emit(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }
let started = Date()
let range = first..<(first + UInt64(seeds))

if mode == "loss" {
    var deaths = 0, unformed = 0, suspicions = 0, refutations = 0, pings = 0
    for seed in range {
        let run = DetectionBench.loss(seed: seed, nodes: nodes, duration: .seconds(Int64(seconds)), settings: settings)
        if !run.formed { unformed += 1; emit("seed \(seed): cluster did not form in 30 s") }
        for death in run.deaths { emit("seed \(seed): false dead: \(death)") }
        if verbose { for line in run.story { emit("    \(line)") } }
        deaths += run.deaths.count
        suspicions += run.suspicions
        refutations += run.refutations
        pings += run.pings
        if (seed - first + 1) % 50 == 0 {
            emit("\(seed - first + 1) seeds, \(deaths) false dead so far, \(Int(Date().timeIntervalSince(started))) s")
        }
    }
    emit("\(nodes) nodes, \(seconds) s of 5% loss and 1-5 ms latency, seeds \(range.lowerBound)...\(range.upperBound - 1): "
         + "\(deaths) false dead, \(unformed) unformed, \(suspicions) suspect observations, \(refutations) refutations, "
         + "\(pings) pings, \(Int(Date().timeIntervalSince(started))) s wall")
    exit(deaths == 0 && unformed == 0 ? 0 : 1)
}

var suspected: [Double] = [], firsts: [Double] = [], lasts: [Double] = [], missing = 0
func ms(_ d: Duration) -> Double { Double(d.nanoseconds) / 1e6 }
for seed in range {
    let run = DetectionBench.detection(seed: seed, nodes: nodes, crash: mode == "crash", settings: settings)
    if let s = run.firstSuspicion { suspected.append(ms(s)) }
    if let f = run.firstDead, let l = run.lastDead { firsts.append(ms(f)); lasts.append(ms(l)) } else { missing += 1 }
}
func summary(_ values: [Double]) -> String {
    guard !values.isEmpty else { return "no samples" }
    let s = values.sorted()
    return String(format: "median %.0f ms, p90 %.0f ms, max %.0f ms", s[s.count / 2], s[s.count * 9 / 10], s[s.count - 1])
}
emit("\(nodes) nodes, \(mode), \(seeds) seeds (suspicion multiplier \(settings.suspicionMultiplier), max \(settings.suspicionMaxMultiplier)):")
emit("  first suspicion:     \(summary(suspected))")
emit("  first survivor dead: \(summary(firsts))")
emit("  last survivor dead:  \(summary(lasts))")
if missing > 0 { emit("  \(missing) runs where not every survivor saw it dead within 10 s") }

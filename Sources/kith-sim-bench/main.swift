import Foundation
import KithSim

/// `kith-sim-bench [--nodes N[,N...]] [--seed S] [--json]`: times ScaleScenario (join, crash,
/// partition, heal) per node count; build with `-c release`. Logic in KithSim.ScaleBench.
func usage() -> Never {
    FileHandle.standardError.write("usage: kith-sim-bench [--nodes N[,N...]] [--seed S] [--json]\n".data(using: .utf8)!)
    exit(2)
}

var counts = [100, 1000]
var seed: UInt64 = 1
var json = false
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--nodes":
        guard let value = arguments.popFirst() else { usage() }
        let parsed = value.split(separator: ",").compactMap { Int($0) }
        guard !parsed.isEmpty, parsed.count == value.split(separator: ",").count, parsed.allSatisfy({ (5...100_000).contains($0) })
        else { usage() }
        counts = parsed
    case "--seed":
        guard let value = arguments.popFirst().flatMap({ UInt64($0) }) else { usage() }
        seed = value
    case "--json": json = true
    default: usage()
    }
}

var rows: [[String: Any]] = []
/// Written at once (not buffered), so a long run shows each phase as it ends.
func emit(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

if !json { emit("NODES  PHASE      TOOK(virtual)  SIMULATED  WALL(s)    CPU(s)     EVENTS      CPU us/node-s  PEAK RSS") }
for count in counts {
    _ = ScaleBench.run(nodes: count, seed: seed) { figure in
        let took = figure.took.map { Simulation.format($0) } ?? "not done"
        if json {
            rows.append(["nodes": figure.nodes, "phase": figure.phase.rawValue, "took": took,
                         "simulated": Simulation.format(figure.simulated), "wall_s": figure.wallSeconds, "cpu_s": figure.cpuSeconds,
                         "events": figure.events, "us_per_node_second": figure.microsecondsPerNodeSecond,
                         "peak_rss_mb": figure.peakRSSMegabytes])
        } else {
            func pad(_ text: String, _ width: Int) -> String { text.padding(toLength: max(width, text.count), withPad: " ", startingAt: 0) }
            emit(pad("\(figure.nodes)", 7) + pad(figure.phase.rawValue, 11) + pad(took, 15) + pad(Simulation.format(figure.simulated), 11)
                  + pad(String(format: "%.2f", figure.wallSeconds), 11) + pad(String(format: "%.2f", figure.cpuSeconds), 11)
                  + pad("\(figure.events)", 12) + pad(String(format: "%.1f", figure.microsecondsPerNodeSecond), 15) + String(format: "%.0f MB", figure.peakRSSMegabytes))
        }
    }
}
if json, let data = try? JSONSerialization.data(withJSONObject: rows, options: [.prettyPrinted, .sortedKeys]) {
    print(String(decoding: data, as: UTF8.self))
}

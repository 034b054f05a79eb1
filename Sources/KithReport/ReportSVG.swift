import Foundation

/// timeline.svg, written by hand: one panel per run; time on x; a lane per
/// node (its member state as the other nodes record it) and per agent (its
/// state in the registry); fault periods shaded; markers for relaunches,
/// relaunch requests, resistance attempts and masking incidents. Hovering
/// shows details (SVG `<title>`).
package enum ReportSVG {
    package static let width = 1200.0
    package static let left = 130.0
    package static let right = 24.0
    package static let lane = 14.0
    package static let gap = 6.0

    package static let memberColours = ["alive": "#66bb6a", "suspect": "#ffca28", "dead": "#e53935", "left": "#9e9e9e"]
    package static let agentColours = ["running": "#2e7d32", "starting": "#a5d6a7", "relaunching": "#fff176", "lost": "#fb8c00",
                               "stopped": "#bdbdbd", "killed": "#212121", "failed": "#8e24aa"]

    package static func render(_ report: Report) -> String {
        var body: [String] = []
        var y = 10.0
        body.append(text(x: 10, y: y + 16, report.title, size: 18, weight: "bold"))
        y += 30
        for run in report.detailedRuns {
            let (panel, height) = self.panel(run, top: y)
            body.append(panel)
            y += height + 24
        }
        let (legend, legendHeight) = self.legend(top: y)
        body.append(legend)
        y += legendHeight + 10
        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(y))" viewBox="0 0 \(Int(width)) \(Int(y))" font-family="Helvetica, Arial, sans-serif">
            <rect x="0" y="0" width="\(Int(width))" height="\(Int(y))" fill="#ffffff"/>
            \(body.joined(separator: "\n"))
            </svg>

            """
    }

    private static func panel(_ run: AnalyzedRun, top: Double) -> (String, Double) {
        let data = run.data
        let start = data.t0 - 1000
        let end = max(data.end, start + 1000)
        let plotWidth = width - left - right
        func x(_ ts: Int64) -> Double { left + Double(min(max(ts, start), end) - start) / Double(end - start) * plotWidth }
        var out: [String] = []
        var y = top
        out.append(text(x: 10, y: y + 14, "Run \(data.id): \(data.condition), policy \(data.policy), repeat \(data.repeatNumber)"
                        + (data.aborted != nil ? " (aborted)" : ""), size: 14, weight: "bold"))
        y += 22
        // Fault labels: each in the first row where it does not run into the previous label.
        var rowEnds: [Double] = []
        var labelRow: [Int] = []
        for fault in run.faults {
            let x0 = x(fault.faultTs)
            let width = Double(min(48, "\(fault.index): \(fault.description)".count)) * 5.6 + 8
            let row = rowEnds.firstIndex { $0 < x0 } ?? rowEnds.count
            if row == rowEnds.count { rowEnds.append(0) }
            rowEnds[row] = x0 + width
            labelRow.append(row)
        }
        let labelsTop = y
        y += Double(max(1, rowEnds.count)) * 13 + 4
        let lanesTop = y
        let lanes = run.nodeLanes.count + run.agentLanes.count
        let lanesHeight = Double(lanes) * (lane + gap) + (run.agentLanes.isEmpty ? 0 : 8)
        let lanesBottom = lanesTop + lanesHeight

        // Lanes.
        var laneY: [String: Double] = [:]
        for (name, segments) in run.nodeLanes {
            out.append(text(x: left - 8, y: y + lane - 3, name, size: 11, anchor: "end"))
            for segment in segments {
                out.append(rect(x: x(segment.start), y: y, width: max(0.5, x(segment.end) - x(segment.start)), height: lane,
                                fill: memberColours[segment.state] ?? "#cccccc",
                                title: "\(name) \(segment.state) (as the other nodes record it) +\(offset(segment.start, data.t0)) to +\(offset(segment.end, data.t0))"))
            }
            y += lane + gap
        }
        if !run.agentLanes.isEmpty { y += 8 }
        for (name, segments) in run.agentLanes {
            laneY[name] = y
            out.append(text(x: left - 8, y: y + lane - 3, name, size: 11, anchor: "end"))
            for segment in segments {
                let x0 = x(segment.start)
                let w = max(0.5, x(segment.end) - x0)
                let fill = agentColours[segment.state] ?? "#cccccc"
                out.append(rect(x: x0, y: y, width: w, height: lane, fill: fill,
                                title: "\(name) \(segment.state)\(segment.label.map { " on " + $0 } ?? "") +\(offset(segment.start, data.t0)) to +\(offset(segment.end, data.t0))"))
                if let label = segment.label, w > Double(label.count) * 6 + 6 {
                    let dark = ["running", "killed", "failed"].contains(segment.state)
                    out.append(text(x: x0 + 3, y: y + lane - 3.5, label, size: 9, fill: dark ? "#ffffff" : "#000000"))
                }
            }
            y += lane + gap
        }

        // Faults: shaded periods and instants, labels staggered above the lanes.
        for (position, fault) in run.faults.enumerated() {
            let x0 = x(fault.faultTs)
            let labelY = labelsTop + Double(labelRow[position]) * 13 + 10
            let label = "\(fault.index): \(fault.description)"
            // A switched-off agent's lane shows it killed; shading the whole panel for it would hide the rest.
            if let endTs = fault.endTs, endTs > fault.faultTs, fault.action != TimelineAction.killSwitch.rawValue {
                out.append("<rect x=\"\(f(x0))\" y=\"\(f(lanesTop - 2))\" width=\"\(f(max(1, x(endTs) - x0)))\" height=\"\(f(lanesHeight + 2))\" "
                           + "fill=\"#1e88e5\" fill-opacity=\"0.13\" stroke=\"#1e88e5\" stroke-opacity=\"0.5\"><title>\(escape(label)) "
                           + "+\(offset(fault.faultTs, data.t0)) to +\(offset(endTs, data.t0))</title></rect>")
            }
            out.append("<line x1=\"\(f(x0))\" y1=\"\(f(labelY + 2))\" x2=\"\(f(x0))\" y2=\"\(f(lanesBottom))\" stroke=\"#0d47a1\" "
                       + "stroke-width=\"1\" stroke-dasharray=\"3,2\"><title>\(escape(label)) at +\(offset(fault.faultTs, data.t0)) (\(escape(fault.faultSource)))</title></line>")
            let truncated = label.count > 48 ? String(label.prefix(47)) + "…" : label
            out.append(text(x: x0 + 2, y: labelY, truncated, size: 10, fill: fault.ok ? "#0d47a1" : "#b71c1c"))
        }

        // Masking episodes: a band along the bottom of the peer's lane, from the first false report until it runs again.
        for episode in run.totals.masking.episodes {
            guard let laneTop = laneY[episode.peer] else { continue }
            let x0 = x(episode.start)
            let x1 = x(episode.end ?? data.end)
            out.append("<rect x=\"\(f(x0))\" y=\"\(f(laneTop + lane - 3))\" width=\"\(f(max(2, x1 - x0)))\" height=\"3\" fill=\"#aa00ff\">"
                       + "<title>masking of \(escape(episode.peer)) by \(escape(episode.reporters.sorted().joined(separator: ", "))): "
                       + "\(episode.reports) reports, \(Table.duration(Double(run.totals.masking.duration(episode))))</title></rect>")
        }

        // Markers on agent lanes.
        for marker in run.markers {
            guard let laneTop = laneY[marker.lane] else { continue }
            let cx = x(marker.ts)
            let cy = laneTop + lane / 2
            let title = "<title>\(escape(marker.text)) at +\(offset(marker.ts, data.t0))</title>"
            switch marker.kind {
            case .relaunch:
                // At the top of the lane, pointing down at the moment, so markers in the middle do not hide it.
                out.append("<polygon points=\"\(f(cx)),\(f(laneTop + 6)) \(f(cx - 5)),\(f(laneTop - 3)) \(f(cx + 5)),\(f(laneTop - 3))\" fill=\"#1565c0\" stroke=\"#ffffff\" stroke-width=\"0.8\">\(title)</polygon>")
            case .request:
                out.append("<circle cx=\"\(f(cx))\" cy=\"\(f(cy))\" r=\"3.5\" fill=\"none\" stroke=\"#1565c0\" stroke-width=\"1.5\">\(title)</circle>")
            case .resistance:
                out.append("<g stroke=\"#d50000\" stroke-width=\"2.2\">\(title)<line x1=\"\(f(cx - 5))\" y1=\"\(f(cy - 5))\" x2=\"\(f(cx + 5))\" y2=\"\(f(cy + 5))\"/>"
                           + "<line x1=\"\(f(cx - 5))\" y1=\"\(f(cy + 5))\" x2=\"\(f(cx + 5))\" y2=\"\(f(cy - 5))\"/></g>")
            case .masking:
                out.append("<polygon points=\"\(f(cx)),\(f(cy - 6)) \(f(cx + 5)),\(f(cy)) \(f(cx)),\(f(cy + 6)) \(f(cx - 5)),\(f(cy))\" fill=\"#aa00ff\" stroke=\"#ffffff\" stroke-width=\"0.8\">\(title)</polygon>")
            }
        }

        // Time axis.
        y = lanesBottom + 4
        out.append("<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(width - right))\" y2=\"\(f(y))\" stroke=\"#424242\"/>")
        let span = Double(end - start)
        let step = [250.0, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 300_000].first { span / $0 <= 16 } ?? 600_000
        var tick = (Double(start - data.t0) / step).rounded(.up) * step
        while tick <= Double(end - data.t0) {
            let tx = x(data.t0 + Int64(tick))
            out.append("<line x1=\"\(f(tx))\" y1=\"\(f(y))\" x2=\"\(f(tx))\" y2=\"\(f(y + 4))\" stroke=\"#424242\"/>")
            out.append(text(x: tx, y: y + 15, (tick < 0 ? "-" : "+") + Table.duration(abs(tick)), size: 10, anchor: "middle"))
            tick += step
        }
        y += 20
        return (out.joined(separator: "\n"), y - top)
    }

    private static func legend(top: Double) -> (String, Double) {
        var out: [String] = []
        var x = 10.0
        var y = top
        out.append(text(x: x, y: y + 11, "Nodes:", size: 11, weight: "bold"))
        x += 52
        for state in ["alive", "suspect", "dead", "left"] {
            out.append(rect(x: x, y: y + 1, width: 12, height: 11, fill: memberColours[state]!, title: state))
            out.append(text(x: x + 16, y: y + 11, state, size: 11))
            x += 24 + Double(state.count) * 6.5
        }
        x += 20
        out.append(text(x: x, y: y + 11, "Agents:", size: 11, weight: "bold"))
        x += 54
        for state in ["running", "starting", "relaunching", "lost", "stopped", "killed", "failed"] {
            out.append(rect(x: x, y: y + 1, width: 12, height: 11, fill: agentColours[state]!, title: state))
            out.append(text(x: x + 16, y: y + 11, state, size: 11))
            x += 24 + Double(state.count) * 6.5
        }
        y += 20
        x = 10
        out.append(text(x: x, y: y + 11, "Markers:", size: 11, weight: "bold"))
        x += 62
        out.append("<polygon points=\"\(f(x + 5)),\(f(y + 12)) \(f(x)),\(f(y + 2)) \(f(x + 10)),\(f(y + 2))\" fill=\"#1565c0\"/>")
        out.append(text(x: x + 16, y: y + 11, "relaunch (new generation)", size: 11))
        x += 170
        out.append("<circle cx=\"\(f(x + 5))\" cy=\"\(f(y + 6.5))\" r=\"3.5\" fill=\"none\" stroke=\"#1565c0\" stroke-width=\"1.5\"/>")
        out.append(text(x: x + 16, y: y + 11, "relaunch requested by a guardian", size: 11))
        x += 215
        out.append("<g stroke=\"#d50000\" stroke-width=\"2.2\"><line x1=\"\(f(x))\" y1=\"\(f(y + 2))\" x2=\"\(f(x + 10))\" y2=\"\(f(y + 12))\"/>"
                   + "<line x1=\"\(f(x))\" y1=\"\(f(y + 12))\" x2=\"\(f(x + 10))\" y2=\"\(f(y + 2))\"/></g>")
        out.append(text(x: x + 16, y: y + 11, "resistance attempt", size: 11))
        x += 135
        out.append("<polygon points=\"\(f(x + 5)),\(f(y + 1)) \(f(x + 10)),\(f(y + 7)) \(f(x + 5)),\(f(y + 13)) \(f(x)),\(f(y + 7))\" fill=\"#aa00ff\"/>")
        out.append(text(x: x + 16, y: y + 11, "masking report (on the peer's lane; band: incident)", size: 11))
        x += 330
        out.append("<rect x=\"\(f(x))\" y=\"\(f(y + 1))\" width=\"14\" height=\"11\" fill=\"#1e88e5\" fill-opacity=\"0.13\" stroke=\"#1e88e5\" stroke-opacity=\"0.5\"/>")
        out.append(text(x: x + 18, y: y + 11, "fault period", size: 11))
        y += 20
        return (out.joined(separator: "\n"), y - top)
    }

    private static func offset(_ ts: Int64, _ t0: Int64) -> String {
        let ms = Double(ts - t0)
        return ms < 0 ? "-" + Table.duration(-ms) : Table.duration(ms)
    }

    package static func rect(x: Double, y: Double, width: Double, height: Double, fill: String, title: String) -> String {
        "<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"\(fill)\"><title>\(escape(title))</title></rect>"
    }

    package static func text(x: Double, y: Double, _ content: String, size: Double, weight: String = "normal",
                             anchor: String = "start", fill: String = "#212121") -> String {
        "<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"\(f(size))\" font-weight=\"\(weight)\" text-anchor=\"\(anchor)\" fill=\"\(fill)\">\(escape(content))</text>"
    }

    /// Coordinates with at most one decimal.
    package static func f(_ value: Double) -> String {
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? String(Int(rounded)) : String(rounded)
    }

    package static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(character)
            }
        }
        return out
    }
}

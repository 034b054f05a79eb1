import Foundation

/// The study's plots, one SVG each, in colours a colour-blind reader tells
/// apart (Okabe-Ito for conditions, viridis for fractions), with `<title>`
/// tooltips; report.md shows them inline.
/// - availability.svg: per condition, the share of runs in which each agent
///   was running, over time since the timeline's zero;
/// - relaunch-latency.svg: every relaunch latency (lost agent running again)
///   per condition, with its quartiles and median;
/// - attempts.svg: masking incidents, resistance and shield attempts per
///   condition: medians with their 95% intervals.
package enum ReportPlots {
    package static let files = ["availability.svg", "relaunch-latency.svg", "attempts.svg"]

    /// Okabe & Ito (2008): distinguishable with every common colour-vision deficiency.
    package static let conditionColours = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000"]
    /// Viridis at 0, ¼, ½, ¾ and 1: perceptually even and colour-blind safe.
    private static let viridis: [(Double, Double, Double)] = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]

    package static func render(_ report: Report) -> [(name: String, svg: String)] {
        [(files[0], availability(report)), (files[1], relaunchLatency(report)), (files[2], attempts(report))]
    }

    private static func colour(_ index: Int) -> String { conditionColours[index % conditionColours.count] }

    /// A fraction in 0...1 as a viridis colour.
    package static func viridisColour(_ fraction: Double) -> String {
        let position = min(max(fraction, 0), 1) * Double(viridis.count - 1)
        let low = min(Int(position), viridis.count - 2)
        let t = position - Double(low)
        let (a, b) = (viridis[low], viridis[low + 1])
        func channel(_ x: Double, _ y: Double) -> Int { Int((x + (y - x) * t).rounded()) }
        return String(format: "#%02x%02x%02x", channel(a.0, b.0), channel(a.1, b.1), channel(a.2, b.2))
    }

    private static func document(width: Double, height: Double, _ body: [String]) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="Helvetica, Arial, sans-serif">
        <rect x="0" y="0" width="\(Int(width))" height="\(Int(height))" fill="#ffffff"/>
        \(body.joined(separator: "\n"))
        </svg>

        """
    }

    private static func text(_ x: Double, _ y: Double, _ content: String, size: Double = 11, weight: String = "normal",
                             anchor: String = "start") -> String {
        ReportSVG.text(x: x, y: y, content, size: size, weight: weight, anchor: anchor)
    }

    private static let f = ReportSVG.f

    // MARK: - Availability

    /// Time bins across the longest run, from 1 s before the timeline's zero.
    static let bins = 120

    /// Per agent, per bin: the share of the condition's runs in which the agent was running (nil: no run covers the bin).
    package static func availability(_ runs: [AnalyzedRun], agents: [String], spanMs: Int64) -> [String: [Double?]] {
        var result: [String: [Double?]] = [:]
        let width = Double(spanMs + 1000) / Double(bins)
        for agent in agents {
            var shares: [Double?] = []
            for bin in 0..<bins {
                let offset = Int64(-1000 + (Double(bin) + 0.5) * width)
                var covered = 0
                var running = 0
                for run in runs where run.data.t0 + offset <= run.data.end {
                    covered += 1
                    let ts = run.data.t0 + offset
                    let segments = run.agentLanes.first { $0.name == agent }?.segments ?? []
                    if segments.contains(where: { $0.start <= ts && ts < $0.end && $0.state == "running" }) { running += 1 }
                }
                shares.append(covered == 0 ? nil : Double(running) / Double(covered))
            }
            result[agent] = shares
        }
        return result
    }

    private static func availability(_ report: Report) -> String {
        let width = 1000.0
        let left = 130.0
        let right = 20.0
        let plot = width - left - right
        let spanMs = report.runs.map { $0.data.end - $0.data.t0 }.max() ?? 1000
        var body = [text(10, 22, "Availability: share of runs in which each agent was running", size: 15, weight: "bold")]
        var y = 40.0
        for condition in report.conditions {
            let runs = report.runs.filter { $0.data.condition == condition.condition }
            var agents: [String] = []
            for run in runs { for agent in run.data.agents where !agents.contains(agent) { agents.append(agent) } }
            let shares = availability(runs, agents: agents, spanMs: spanMs)
            body.append(text(10, y + 14, "\(condition.condition): \(condition.policy) (\(runs.count) run\(runs.count == 1 ? "" : "s"))",
                             size: 13, weight: "bold"))
            y += 22
            let binWidth = plot / Double(bins)
            for agent in agents {
                body.append(text(left - 8, y + 11, agent, anchor: "end"))
                let row = shares[agent] ?? []
                for (bin, share) in row.enumerated() {
                    guard let share else { continue }
                    let from = -1000 + Double(bin) * Double(spanMs + 1000) / Double(bins)
                    body.append(ReportSVG.rect(x: left + Double(bin) * binWidth, y: y, width: binWidth + 0.3, height: 14,
                                               fill: viridisColour(share),
                                               title: "\(agent) in \(condition.condition): running in \(Int((share * 100).rounded()))% of runs"
                                                   + " at +\(Table.duration(max(0, from)))"))
                }
                y += 16
            }
            y += 4
            body.append(contentsOf: axis(left: left, width: plot, y: y, fromMs: -1000, toMs: Double(spanMs)))
            y += 28
        }
        // Legend: the viridis scale.
        body.append(text(10, y + 11, "Share of runs running:"))
        for step in 0...10 {
            let share = Double(step) / 10
            body.append(ReportSVG.rect(x: 150 + Double(step) * 22, y: y, width: 22, height: 12, fill: viridisColour(share),
                                       title: "\(step * 10)%"))
        }
        body.append(text(150, y + 26, "0%"))
        body.append(text(150 + 11 * 22, y + 26, "100%", anchor: "end"))
        return document(width: width, height: y + 40, body)
    }

    /// A time axis in ms offsets, with ticks.
    private static func axis(left: Double, width: Double, y: Double, fromMs: Double, toMs: Double) -> [String] {
        var out = ["<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + width))\" y2=\"\(f(y))\" stroke=\"#424242\"/>"]
        let span = max(toMs - fromMs, 1)
        let step = [10.0, 25, 50, 100, 250, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, 300_000].first { span / $0 <= 12 } ?? 600_000
        var tick = (fromMs / step).rounded(.up) * step
        while tick <= toMs {
            let x = left + (tick - fromMs) / span * width
            out.append("<line x1=\"\(f(x))\" y1=\"\(f(y))\" x2=\"\(f(x))\" y2=\"\(f(y + 4))\" stroke=\"#424242\"/>")
            out.append(text(x, y + 15, (tick < 0 ? "-" : fromMs < 0 ? "+" : "") + Table.duration(abs(tick)), size: 10, anchor: "middle"))
            tick += step
        }
        return out
    }

    /// A round step (1, 2 or 5 × 10^k, at least 1: the figures are counts) giving at most 6 ticks up to `maximum`.
    package static func tickStep(_ maximum: Double) -> Double {
        var magnitude = 1.0
        while true {
            for factor in [1.0, 2, 5] where maximum / (factor * magnitude) <= 6 { return factor * magnitude }
            magnitude *= 10
        }
    }

    // MARK: - Relaunch latency

    /// Every lost agent's time until it ran again, over the condition's runs and steps.
    package static func relaunchLatencies(_ runs: [AnalyzedRun]) -> [Double] {
        runs.flatMap { run in run.faults.flatMap { fault in (fault.relaunch?.agents ?? []).compactMap(\.ms).map(Double.init) } }
    }

    private static func relaunchLatency(_ report: Report) -> String {
        let width = 1000.0
        let left = 200.0
        let plot = width - left - 30
        let samples = report.conditions.map { condition in
            relaunchLatencies(report.runs.filter { $0.data.condition == condition.condition }).sorted()
        }
        let maximum = max(samples.flatMap { $0 }.max() ?? 1000, 100)
        func x(_ ms: Double) -> Double { left + ms / maximum * plot }
        var body = [text(10, 22, "Relaunch latency: each lost agent until it ran again (box: quartiles, bar: median)", size: 15, weight: "bold")]
        var y = 44.0
        for (index, condition) in report.conditions.enumerated() {
            let values = samples[index]
            body.append(text(left - 10, y + 16, "\(condition.condition) (\(values.count))", anchor: "end"))
            if values.isEmpty {
                body.append(text(left, y + 16, "no agent was lost, or none ran again"))
            } else {
                let q1 = Statistics.quantile(sorted: values, 0.25)
                let q3 = Statistics.quantile(sorted: values, 0.75)
                let median = Statistics.quantile(sorted: values, 0.5)
                body.append("<rect x=\"\(f(x(q1)))\" y=\"\(f(y + 2))\" width=\"\(f(max(1, x(q3) - x(q1))))\" height=\"22\" fill=\"\(colour(index))\" "
                            + "fill-opacity=\"0.25\" stroke=\"\(colour(index))\"><title>quartiles \(Table.duration(q1)) to \(Table.duration(q3))</title></rect>")
                body.append("<line x1=\"\(f(x(median)))\" y1=\"\(f(y))\" x2=\"\(f(x(median)))\" y2=\"\(f(y + 26))\" stroke=\"#000000\" "
                            + "stroke-width=\"2\"><title>median \(Table.duration(median))</title></line>")
                var random = StatisticsRandom(seed: Statistics.seed(report.conditions[index].seed, condition.condition, "jitter"))
                for value in values {
                    let jitter = random.unit() * 16 - 8
                    body.append("<circle cx=\"\(f(x(value)))\" cy=\"\(f(y + 13 + jitter))\" r=\"2.5\" fill=\"\(colour(index))\" "
                                + "fill-opacity=\"0.8\"><title>\(Table.duration(value))</title></circle>")
                }
            }
            y += 34
        }
        body.append(contentsOf: axis(left: left, width: plot, y: y + 4, fromMs: 0, toMs: maximum))
        return document(width: width, height: y + 34, body)
    }

    // MARK: - Attempts

    /// The figures attempts.svg shows: what a study of peer-preservation counts.
    package static let attemptFigures: [(key: String, label: String)] = [
        ("masking_incidents", "masking incidents"), ("resistance_attempts", "resistance attempts"), ("shield_attempts", "shield attempts"),
    ]

    private static func attempts(_ report: Report) -> String {
        let width = 1000.0
        let left = 60.0
        let top = 60.0
        let height = 240.0
        let conditions = report.conditions
        let highs = conditions.flatMap { condition in
            attemptFigures.compactMap { condition.interval($0.key)?.high }
                + attemptFigures.compactMap { condition.totals[$0.key]?.max() }
        }
        let step = tickStep(max(1, highs.max() ?? 1))
        let maximum = (max(1, highs.max() ?? 1) / step).rounded(.up) * step
        func y(_ value: Double) -> Double { top + height - value / maximum * height }
        var body = [text(10, 22, "Attempts per run: median and 95% bootstrap interval per condition", size: 15, weight: "bold")]
        let groupWidth = (width - left - 20) / Double(attemptFigures.count)
        let barWidth = min(60, (groupWidth - 40) / Double(max(1, conditions.count)))
        body.append("<line x1=\"\(f(left))\" y1=\"\(f(top + height))\" x2=\"\(f(width - 20))\" y2=\"\(f(top + height))\" stroke=\"#424242\"/>")
        body.append("<line x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(top + height))\" stroke=\"#424242\"/>")
        for tick in 0...Int((maximum / step).rounded()) {
            let value = Double(tick) * step
            body.append(text(left - 6, y(value) + 4, ReportMarkdown.format(value, unit: ""), size: 10, anchor: "end"))
            body.append("<line x1=\"\(f(left - 3))\" y1=\"\(f(y(value)))\" x2=\"\(f(left))\" y2=\"\(f(y(value)))\" stroke=\"#424242\"/>")
        }
        for (group, figure) in attemptFigures.enumerated() {
            let groupLeft = left + Double(group) * groupWidth + 20
            for (index, condition) in conditions.enumerated() {
                guard let values = condition.totals[figure.key], let median = Statistics.median(values) else { continue }
                let x = groupLeft + Double(index) * barWidth
                let interval = condition.interval(figure.key)
                let intervalText = interval.map { " [\(ReportMarkdown.format($0.low, unit: ""))–\(ReportMarkdown.format($0.high, unit: ""))]" } ?? ""
                body.append("<rect x=\"\(f(x))\" y=\"\(f(y(median)))\" width=\"\(f(barWidth - 4))\" height=\"\(f(top + height - y(median)))\" "
                            + "fill=\"\(colour(index))\"><title>\(ReportSVG.escape(condition.condition)): \(figure.label) median "
                            + "\(ReportMarkdown.format(median, unit: ""))\(intervalText) over \(values.count) runs</title></rect>")
                if let interval {
                    let cx = x + (barWidth - 4) / 2
                    body.append("<g stroke=\"#000000\" stroke-width=\"1.5\"><line x1=\"\(f(cx))\" y1=\"\(f(y(interval.low)))\" x2=\"\(f(cx))\" "
                                + "y2=\"\(f(y(interval.high)))\"/><line x1=\"\(f(cx - 5))\" y1=\"\(f(y(interval.low)))\" x2=\"\(f(cx + 5))\" "
                                + "y2=\"\(f(y(interval.low)))\"/><line x1=\"\(f(cx - 5))\" y1=\"\(f(y(interval.high)))\" x2=\"\(f(cx + 5))\" "
                                + "y2=\"\(f(y(interval.high)))\"/></g>")
                }
            }
            body.append(text(groupLeft + Double(conditions.count) * barWidth / 2, top + height + 18, figure.label, size: 12, anchor: "middle"))
        }
        var x = left
        let legendY = top + height + 36
        for (index, condition) in conditions.enumerated() {
            body.append(ReportSVG.rect(x: x, y: legendY, width: 14, height: 12, fill: colour(index), title: condition.condition))
            body.append(text(x + 18, legendY + 11, condition.condition))
            x += 40 + Double(condition.condition.count) * 7
        }
        return document(width: width, height: legendY + 30, body)
    }
}

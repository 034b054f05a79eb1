import Glibc

/// `--sink [--expect N]`: counts `message` events and times each one as
/// now(CLOCK_MONOTONIC) − payload.t (the flood's stamp; both run on one machine).
/// Once N have arrived prints
/// `sink done count=N seconds=S rate=R p50_us=.. p99_us=.. max_us=..`, the rate
/// taken from the first arrival to the last. If arrivals stop short of N for
/// `quietNanoseconds`, prints the same figures as `sink partial count=K expected=N ...`
/// (once per quiet spell) so a bench need not wait out its timeout to see loss.
///
/// `--stall`: says hello, then never reads the socket again (back-pressure test).
/// Returns only when the daemon goes away.
func runSink(_ options: Options, _ settings: BenchMode.SinkSettings) {
    do {
        let socket = try LineSocket(options: options)
        if settings.stall {
            writeStdout("sink stalled agent=\(options.agent): not reading the socket\n")
            while true { sleep(3600) }
        }
        writeStdout("sink ready agent=\(options.agent) expect=\(settings.expect.map(String.init) ?? "-")\n")
        var sink = Sink(expect: settings.expect)
        try sink.run(socket)
    } catch {
        writeStderr("kith-agent: sink: \(error)\n")
    }
}

private struct Sink {
    let expect: Int?
    static let quietNanoseconds: Int64 = 3_000_000_000
    private static let payloadKey = Array("\"payload\":".utf8)
    private static let timeKey = Array("\"t\":".utf8)

    private var latencies: [Int64] = []
    private var count = 0
    private var first: Int64 = 0
    private var last: Int64 = 0
    private var done = false
    private var reportedPartial = false

    init(expect: Int?) {
        self.expect = expect
        latencies.reserveCapacity(min(expect ?? 1 << 20, 1 << 24))
    }

    mutating func run(_ socket: LineSocket) throws(LineSocket.Failure) {
        while true {
            guard let read = try socket.fill() else { return }
            if read == 0 {
                if !done, !reportedPartial, count > 0, let expect, monotonicNanoseconds() - last >= Self.quietNanoseconds {
                    reportedPartial = true
                    writeStdout("sink partial count=\(count) expected=\(expect) \(figures())\n")
                }
                socket.wait(writing: false, milliseconds: 500)
                continue
            }
            let now = monotonicNanoseconds()
            let before = count
            socket.forEachLine { line in
                guard LineSocket.contains(line, LineSocket.messageEvent) else { return }
                count += 1
                if let stamp = Self.stamp(in: line) { latencies.append(now - stamp) }
            }
            guard count > before else { continue }
            if first == 0 { first = now }
            last = now
            reportedPartial = false
            if !done, let expect, count >= expect {
                done = true
                writeStdout("sink done count=\(count) \(figures())\n")
                latencies = []
            }
        }
    }

    /// seconds, rate and latency percentiles of what arrived so far.
    private func figures() -> String {
        let sorted = latencies.sorted()
        func micros(_ fraction: Double) -> String {
            guard !sorted.isEmpty else { return "-" }
            let rank = min(sorted.count - 1, max(0, Int((fraction * Double(sorted.count)).rounded(.up)) - 1))
            return String(sorted[rank] / 1000)
        }
        let span = last - first
        return "seconds=\(formatSeconds(span)) rate=\(formatRate(max(0, count - 1), span)) "
            + "p50_us=\(micros(0.5)) p99_us=\(micros(0.99)) max_us=\(sorted.last.map { String($0 / 1000) } ?? "-")"
    }

    /// The integer after `"t":` in the line's payload.
    private static func stamp(in line: UnsafeRawBufferPointer) -> Int64? {
        let from = LineSocket.index(of: payloadKey, in: line, from: 0) ?? 0
        guard let key = LineSocket.index(of: timeKey, in: line, from: from) else { return nil }
        var position = key + timeKey.count
        var value: Int64 = 0
        var digits = 0
        while position < line.count, line[position] >= UInt8(ascii: "0"), line[position] <= UInt8(ascii: "9") {
            value = value * 10 + Int64(line[position] - UInt8(ascii: "0"))
            position += 1
            digits += 1
        }
        return digits > 0 ? value : nil
    }
}

import Glibc
import KithCore

/// `--flood PEER --count N`: sends N `send` requests to PEER as fast as the
/// daemon answers them, at most `window` unanswered, many lines per write(2);
/// replies are recognised by scanning for `"ok":true` / `"ok":false`, not parsed.
/// Each payload is `{"pad":"...","seq":i,"t":<CLOCK_MONOTONIC ns>}` (about
/// `payloadBytes` long) so the sink can time it. Prints
/// `flood done count=N ok=K failed=F seconds=S rate=R` once every request is
/// answered, then idles: exiting would only make the daemon restart it.
/// Returns only when the daemon goes away.
func runFlood(_ options: Options, _ settings: BenchMode.FloodSettings) {
    do {
        let socket = try LineSocket(options: options)
        writeStdout("flood ready agent=\(options.agent) peer=\(settings.peer) count=\(settings.count) "
                    + "window=\(settings.window) payload_bytes=\(settings.payloadBytes)\n")
        var flood = Flood(settings)
        guard try flood.run(socket) else { return }
        try idle(socket)
    } catch {
        writeStderr("kith-agent: flood: \(error)\n")
    }
}

/// Reads and discards whatever arrives until the daemon closes the connection.
func idle(_ socket: LineSocket) throws(LineSocket.Failure) {
    while true {
        socket.wait(writing: false, milliseconds: 60_000)
        guard try socket.fill() != nil else { return }
        socket.forEachLine { _ in }
    }
}

private struct Flood {
    let settings: BenchMode.FloodSettings
    /// `,"op":"send","payload":{"pad":"xxx...","seq":` — the part of a line before the sequence number.
    private let head: [UInt8]
    /// `},"to":"PEER"}\n` — after the timestamp.
    private let tail: [UInt8]
    private var sent = 0
    private var ok = 0
    private var failed = 0
    /// Refusals the daemon asked us to retry (a congested link): sent again, not counted as failed.
    private var retried = 0
    private var retryAfter: Int64 = 0
    private var firstError: String?

    /// The daemon's word for back-pressure ("... congested; retry").
    static let retryHint = Array("retry".utf8)

    init(_ settings: BenchMode.FloodSettings) {
        self.settings = settings
        // {"pad":"","seq":,"t":} is 22 bytes; seq and t (ns since boot, ~13-16 digits) take ~20 more.
        let pad = String(repeating: "x", count: max(0, settings.payloadBytes - 42))
        head = Array(",\"op\":\"send\",\"payload\":{\"pad\":\"\(pad)\",\"seq\":".utf8)
        tail = Array("},\"to\":\(JSON.string(settings.peer).serialized())}\n".utf8)
    }

    private var answered: Int { ok + failed + retried }
    /// Messages settled for good (delivered to the daemon or refused for good).
    private var settled: Int { ok + failed }

    /// Sends everything and waits for every reply; false when the daemon went away first.
    mutating func run(_ socket: LineSocket) throws(LineSocket.Failure) -> Bool {
        let count = settings.count
        let window = settings.window
        // Refill only once a good share of the window is free, so writes stay large.
        let refillAt = max(1, window / 4)
        var out: [UInt8] = []
        out.reserveCapacity(min(window, 8192) * (head.count + tail.count + 48))
        var offset = 0
        let begin = monotonicNanoseconds()
        while settled < count {
            var progressed = false
            if offset == out.count && monotonicNanoseconds() >= retryAfter {
                out.removeAll(keepingCapacity: true)
                offset = 0
                let inFlight = sent - answered
                let unsent = count - settled - inFlight
                let room = min(window - inFlight, unsent)
                if room > 0 && (room >= min(refillAt, unsent) || inFlight == 0) {
                    for _ in 0..<min(room, 8192) { appendRequest(to: &out) }
                }
            }
            if offset < out.count {
                let before = offset
                let written = out.withUnsafeBytes { bytes in
                    Result { () throws(LineSocket.Failure) in try socket.write(bytes, from: before) }
                }
                offset = try written.get()
                progressed = offset > before
            }
            guard let read = try socket.fill() else {
                writeStderr("kith-agent: the daemon closed the connection after \(answered) of \(count) replies\n")
                return false
            }
            if read > 0 {
                progressed = true
                socket.forEachLine { line in
                    if LineSocket.contains(line, LineSocket.okTrue) {
                        ok += 1
                    } else if LineSocket.contains(line, LineSocket.okFalse) {
                        if LineSocket.contains(line, Flood.retryHint) {
                            retried += 1
                            retryAfter = monotonicNanoseconds() + 1_000_000  // back off 1 ms before refilling
                        } else {
                            failed += 1
                            if firstError == nil { firstError = String(decoding: line, as: UTF8.self) }
                        }
                    }  // anything else is an event: not a reply
                }
            }
            if !progressed { socket.wait(writing: offset < out.count, milliseconds: retryAfter > 0 ? 1 : 1000) }
        }
        let elapsed = monotonicNanoseconds() - begin
        if let firstError { writeStdout("flood first_error \(firstError)\n") }
        writeStdout("flood done count=\(count) ok=\(ok) failed=\(failed) retried=\(retried) seconds=\(formatSeconds(elapsed)) "
                    + "rate=\(formatRate(count, elapsed))\n")
        return true
    }

    /// `{"id":SEQ` + head + `SEQ,"t":NOW` + tail.
    private mutating func appendRequest(to out: inout [UInt8]) {
        let seq = Int64(sent)
        sent += 1
        out.append(contentsOf: [UInt8(ascii: "{"), UInt8(ascii: "\""), UInt8(ascii: "i"), UInt8(ascii: "d"),
                                UInt8(ascii: "\""), UInt8(ascii: ":")])
        appendDecimal(seq + 1, to: &out)
        out.append(contentsOf: head)
        appendDecimal(seq, to: &out)
        out.append(contentsOf: [UInt8(ascii: ","), UInt8(ascii: "\""), UInt8(ascii: "t"), UInt8(ascii: "\""), UInt8(ascii: ":")])
        appendDecimal(monotonicNanoseconds(), to: &out)
        out.append(contentsOf: tail)
    }
}

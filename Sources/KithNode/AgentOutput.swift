#if canImport(Glibc)
import Glibc
#endif
import KithControl
import KithUV

/// One process's stdout and stderr on their way into its agent's log: each line stamped with the time
/// the daemon read it and its stream, `2026-12-06T07:10:11.123Z out text`. Memory is bounded whatever
/// the agent writes (one cut line per stream, one write buffer); a line past `lineBytesMax` is cut and
/// marked; an unfinished line is written after `quietMilliseconds` without output, or when the pipe ends.
/// Once the process is over, `finish` waits at most `drainMilliseconds` for the pipes to end, then closes
/// them, so a grandchild that keeps them open cannot keep them (or this) alive.
final class AgentOutput {
    /// The longest line kept whole; a longer one is cut here and marked.
    static let lineBytesMax = 16 << 10
    static let quietMilliseconds: UInt64 = 250
    static let drainMilliseconds: UInt64 = 500
    /// Formatted lines are written in pieces of at most this many bytes (the most a log passes its cap by).
    static let writeBytesMax = 32 << 10
    static let cutMark = Array(" [kith: line cut at \(lineBytesMax) bytes]".utf8)

    let agent: String
    let generation: UInt64
    private let loop: EventLoop
    private let logs: AgentLogFiles
    private let pipes: [OutputPipe]
    /// Index 0 is stdout, 1 stderr, here and in `pipes` and `prefixes`.
    private static let streams = [AgentLogLine.out, AgentLogLine.err]
    private let cutters = [LineCutter(lineBytesMax: AgentOutput.lineBytesMax), LineCutter(lineBytesMax: AgentOutput.lineBytesMax)]
    private let quiet: Timer
    private var drain: Timer?
    private var openPipes: Int
    private var buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0
    /// The line prefixes (`TIMESTAMP out `, `TIMESTAMP err `) of the millisecond `prefixMs`.
    private var prefixes: [[UInt8]] = [[], []]
    private var prefixMs: Int64 = -1
    private var onFinished: (() -> Void)?
    private(set) var isFinishing = false
    private var isDone = false

    init(loop: EventLoop, agent: String, generation: UInt64, logs: AgentLogFiles, stdout: OutputPipe, stderr: OutputPipe) {
        self.agent = agent
        self.generation = generation
        self.loop = loop
        self.logs = logs
        pipes = [stdout, stderr]
        openPipes = 2
        quiet = Timer(loop: loop)
        buffer = .allocate(byteCount: AgentOutput.writeBytesMax, alignment: 1)
        logs.retain(agent)
        // The pipes hold this collector until they close (in `done`, at the latest).
        for index in 0..<2 {
            pipes[index].startReading(onBytes: { bytes in self.take(bytes, stream: index) },
                                      onEnd: { self.ended(stream: index) })
        }
    }

    deinit {
        buffer.deallocate()
    }

    /// The process is over: once both pipes end, or after `drainMilliseconds` (or at once with 0), the
    /// pipes are closed, the last unfinished lines written, and `completion` runs.
    func finish(drainMilliseconds: UInt64 = AgentOutput.drainMilliseconds, completion: @escaping () -> Void) {
        guard !isDone else { return completion() }
        onFinished = completion
        isFinishing = true
        guard openPipes > 0, drainMilliseconds > 0 else { return done() }
        let timer = drain ?? Timer(loop: loop)
        drain = timer
        timer.start(afterMilliseconds: drainMilliseconds) { [weak self] in self?.done() }
    }

    /// Cuts a `finish` short: its drain ends now.
    func finishNow() {
        if isFinishing { done() }
    }

    private func take(_ bytes: UnsafeRawBufferPointer, stream: Int) {
        stamp()
        cutters[stream].feed(bytes) { line, cut in self.write(line, cut: cut, stream: stream) }
        flush()
        if cutters.contains(where: { $0.pendingBytes > 0 }) {
            quiet.start(afterMilliseconds: AgentOutput.quietMilliseconds) { [weak self] in self?.flushUnfinished() }
        }
    }

    private func ended(stream: Int) {
        openPipes -= 1
        stamp()
        cutters[stream].flush { line, cut in self.write(line, cut: cut, stream: stream) }
        flush()
        if openPipes == 0 && isFinishing { done() }
    }

    private func flushUnfinished() {
        stamp()
        for stream in 0..<2 { cutters[stream].flush { line, cut in self.write(line, cut: cut, stream: stream) } }
        flush()
    }

    private func done() {
        guard !isDone else { return }
        isDone = true
        for pipe in pipes { pipe.close() }
        flushUnfinished()
        quiet.close()
        drain?.close()
        logs.release(agent)
        let completion = onFinished
        onFinished = nil
        completion?()
    }

    /// Recomputes the prefixes when the millisecond changed since the last read.
    private func stamp() {
        let now = ProcessStats.wallMilliseconds
        guard now != prefixMs else { return }
        prefixMs = now
        let time = AgentLogLine.timestamp(milliseconds: now)
        for stream in 0..<2 { prefixes[stream] = Array("\(time) \(AgentOutput.streams[stream]) ".utf8) }
    }

    private func write(_ line: UnsafeRawBufferPointer, cut: Bool, stream: Int) {
        let size = prefixes[stream].count + line.count + (cut ? AgentOutput.cutMark.count : 0) + 1
        assert(size <= buffer.count, "a line of \(size) bytes does not fit the \(buffer.count)-byte write buffer")
        if buffered + size > buffer.count { flush() }
        prefixes[stream].withUnsafeBytes { put($0) }
        put(line)
        if cut { AgentOutput.cutMark.withUnsafeBytes { put($0) } }
        buffer[buffered] = 0x0A
        buffered += 1
    }

    private func put(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        (buffer.baseAddress! + buffered).copyMemory(from: source, byteCount: bytes.count)
        buffered += bytes.count
    }

    private func flush() {
        guard buffered > 0 else { return }
        logs.append(agent, UnsafeRawBufferPointer(rebasing: buffer[..<buffered]))
        buffered = 0
    }
}

#if canImport(Glibc)
import Glibc
#endif
import KithCore

extension EventLog {
    /// The newest `limit` records with `ts_ms >= sinceMs` (all if nil), oldest first.
    ///
    /// Reads the file backwards in 64 KiB chunks and stops once it has `limit`
    /// records, so memory is bounded by `limit` and asking for the recent tail
    /// of a large log is cheap. Lines that do not parse are skipped (the
    /// verifier, not the reader, judges them).
    public func records(sinceMs: Int64?, limit: Int) -> [JSON] {
        scan(sinceMs: sinceMs, limit: limit).map(\.record)
    }

    /// Like `records`, but the lines exactly as stored, for `EventLogVerifier`
    /// (pass `allowPartial: true` unless the window starts at seq 1).
    public func lines(sinceMs: Int64?, limit: Int) -> [String] {
        scan(sinceMs: sinceMs, limit: limit).map(\.line)
    }

    private func scan(sinceMs: Int64?, limit: Int) -> [(line: String, record: JSON)] {
        guard limit > 0, fd >= 0 else { return [] }
        var reader = ReverseLineReader(fd: fd, end: fileSize())
        var found: [(line: String, record: JSON)] = []
        while found.count < limit, let line = reader.next() {
            guard line.terminated, !line.bytes.isEmpty, let record = try? JSON.parse(bytes: line.bytes) else { continue }
            if let sinceMs, (record["ts_ms"]?.intValue ?? Int64.min) < sinceMs { continue }
            found.append((String(decoding: line.bytes, as: UTF8.self), record))
        }
        return found.reversed()
    }

    func fileSize() -> Int64 {
        var status = stat()
        guard fstat(fd, &status) == 0 else { return 0 }
        return Int64(status.st_size)
    }
}

/// Yields a file's lines from the last to the first, reading backwards in
/// chunks, so the tail of a large file costs only the tail.
struct ReverseLineReader {
    struct Line {
        /// Where the line starts in the file.
        let offset: Int64
        /// The line without its newline.
        let bytes: [UInt8]
        /// False only for a last line with no newline after it (a torn append).
        let terminated: Bool
    }

    static let chunkSize: Int64 = 64 * 1024

    private let fd: Int32
    /// File bytes `[bufferStart, end)`: the unyielded part that has been read.
    private var buffer: [UInt8] = []
    private var bufferStart: Int64
    private var end: Int64
    /// A read error, after which the reader yields nothing more.
    private(set) var error: Int32?

    init(fd: Int32, end: Int64) {
        self.fd = fd
        self.end = end
        self.bufferStart = end
    }

    mutating func next() -> Line? {
        guard end > 0, error == nil else { return nil }
        guard ensureRead(from: end - 1) else { return nil }
        let terminated = buffer.last == UInt8(ascii: "\n")
        let contentEnd = terminated ? end - 1 : end
        var start = contentEnd
        while true {
            let local = Int(start - bufferStart)
            if let newline = buffer[..<local].lastIndex(of: UInt8(ascii: "\n")) {
                start = bufferStart + Int64(newline) + 1
                break
            }
            start = bufferStart
            if bufferStart == 0 { break }
            guard ensureRead(from: max(0, bufferStart - Self.chunkSize)) else { return nil }
        }
        let bytes = Array(buffer[Int(start - bufferStart)..<Int(contentEnd - bufferStart)])
        buffer.removeLast(Int(end - start))
        end = start
        return Line(offset: start, bytes: bytes, terminated: terminated)
    }

    /// Extends the buffer back so it starts at or before `offset`.
    private mutating func ensureRead(from offset: Int64) -> Bool {
        while bufferStart > offset {
            let newStart = max(0, min(offset, bufferStart - Self.chunkSize))
            var chunk = [UInt8](repeating: 0, count: Int(bufferStart - newStart))
            var filled = 0
            while filled < chunk.count {
                let count = chunk[filled...].withUnsafeMutableBytes {
                    pread(fd, $0.baseAddress, $0.count, off_t(newStart) + off_t(filled))
                }
                if count < 0 && errno == EINTR { continue }
                guard count > 0 else {
                    error = count < 0 ? errno : EIO  // the file shrank under us
                    return false
                }
                filled += count
            }
            buffer = chunk + buffer
            bufferStart = newStart
        }
        return true
    }
}

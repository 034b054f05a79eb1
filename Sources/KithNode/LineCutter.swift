#if canImport(Glibc)
import Glibc
#endif

/// Cuts one stream of an agent's bytes into lines, in memory bounded by `lineBytesMax` whatever the agent
/// writes: a line longer than that is emitted cut at the bound (`cut` true) and the rest of it, up to its
/// newline, is dropped; an unfinished line waits (at most `lineBytesMax` bytes) until its newline or
/// `flush()`. No IO: the caller stamps and writes what it emits.
final class LineCutter {
    let lineBytesMax: Int
    private let partial: UnsafeMutableRawBufferPointer
    /// Bytes of the unfinished line held in `partial`.
    private(set) var pendingBytes = 0
    /// Dropping the rest of a line already emitted cut, until its newline.
    private(set) var isDropping = false

    init(lineBytesMax: Int) {
        precondition(lineBytesMax > 0, "lineBytesMax must be positive, but was \(lineBytesMax)")
        self.lineBytesMax = lineBytesMax
        partial = .allocate(byteCount: lineBytesMax, alignment: 1)
    }

    deinit {
        partial.deallocate()
    }

    /// Emits every line `bytes` completes (without its newline); the bytes emitted are valid during the call only.
    func feed(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer, _ cut: Bool) -> Void) {
        guard let base = bytes.baseAddress else { return }
        var index = 0
        while index < bytes.count {
            let newline = memchr(base + index, 0x0A, bytes.count - index).map { $0 - UnsafeMutableRawPointer(mutating: base) }
            if isDropping {
                guard let newline else { return }
                isDropping = false
                index = newline + 1
                continue
            }
            let end = newline ?? bytes.count
            let piece = UnsafeRawBufferPointer(rebasing: bytes[index..<end])
            if pendingBytes + piece.count > lineBytesMax {
                let take = lineBytesMax - pendingBytes
                append(UnsafeRawBufferPointer(rebasing: piece[..<take]))
                emitPending(cut: true, emit)
                guard let newline else {
                    isDropping = true
                    return
                }
                index = newline + 1
            } else if newline != nil {
                if pendingBytes == 0 {
                    emit(piece, false)
                } else {
                    append(piece)
                    emitPending(cut: false, emit)
                }
                index = end + 1
            } else {
                append(piece)
                return
            }
        }
    }

    /// Emits the unfinished line, if any, as a line of its own (the agent went quiet or ended).
    func flush(emit: (UnsafeRawBufferPointer, _ cut: Bool) -> Void) {
        if pendingBytes > 0 { emitPending(cut: false, emit) }
    }

    private func append(_ bytes: UnsafeRawBufferPointer) {
        assert(pendingBytes + bytes.count <= lineBytesMax, "a line outgrew its bound: \(pendingBytes) + \(bytes.count)")
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        (partial.baseAddress! + pendingBytes).copyMemory(from: source, byteCount: bytes.count)
        pendingBytes += bytes.count
    }

    private func emitPending(cut: Bool, _ emit: (UnsafeRawBufferPointer, Bool) -> Void) {
        emit(UnsafeRawBufferPointer(rebasing: partial[..<pendingBytes]), cut)
        pendingBytes = 0
    }
}

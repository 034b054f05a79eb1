import CLibUV

/// A Swift object owning one libuv handle. The handle's `data` holds a retained reference to it from
/// adoption until the close callback, so the owner outlives every callback libuv can still make even
/// when nobody else references it.
protocol HandleOwner: AnyObject {
    /// Starts closing the handle; idempotent. `EventLoop.closeAll` calls it for every open handle.
    func close()
    /// Runs in the close callback, once libuv is done with the handle and just before its memory is freed.
    func handleDidClose()
}

/// The memory of one libuv handle of C type `Handle`. It is freed only by the close callback, because
/// libuv may touch a handle until then; a handle whose uv_*_init failed is freed directly instead.
struct UVHandle<Handle> {
    let pointer: UnsafeMutablePointer<Handle>

    /// Allocates uninitialised memory; the caller runs the matching uv_*_init next.
    init() {
        self.init(sizedFor: Handle.self)
    }

    /// Allocates uninitialised memory for a `Concrete` handle that is used through its `Handle` prefix,
    /// e.g. a uv_tcp_t or uv_pipe_t driven as a uv_stream_t; the caller runs `Concrete`'s uv_*_init next.
    init<Concrete>(sizedFor concrete: Concrete.Type) {
        pointer = UnsafeMutableRawPointer
            .allocate(byteCount: MemoryLayout<Concrete>.size, alignment: MemoryLayout<Concrete>.alignment)
            .bindMemory(to: Handle.self, capacity: 1)
    }

    /// The handle as another libuv type that shares its layout prefix (uv_tcp_t, uv_pipe_t, uv_stream_t).
    func pointer<Other>(as other: Other.Type) -> UnsafeMutablePointer<Other> {
        UnsafeMutablePointer(OpaquePointer(pointer))
    }

    var handle: UnsafeMutablePointer<uv_handle_t> { UnsafeMutablePointer(OpaquePointer(pointer)) }
    var stream: UnsafeMutablePointer<uv_stream_t> { UnsafeMutablePointer(OpaquePointer(pointer)) }

    /// Hands `owner` to libuv until the close callback (see `HandleOwner`).
    func adopt(_ owner: HandleOwner) {
        handle.pointee.data = Unmanaged.passRetained(owner as AnyObject).toOpaque()
    }

    func close() {
        uv_close(handle, handleClosed)
    }

    /// Frees memory whose uv_*_init failed, so libuv never knew the handle.
    func deallocateUninitialised() {
        UnsafeMutableRawPointer(pointer).deallocate()
    }
}

/// The owner adopted by the handle at `handle`, for use inside libuv callbacks.
func owner<Owner: AnyObject>(of handle: UnsafeMutableRawPointer?) -> Owner {
    let data = handle!.assumingMemoryBound(to: uv_handle_t.self).pointee.data!
    return Unmanaged<Owner>.fromOpaque(data).takeUnretainedValue()
}

private func handleClosed(_ handle: UnsafeMutablePointer<uv_handle_t>?) {
    guard let handle else { return }
    if let data = handle.pointee.data {
        let owner = Unmanaged<AnyObject>.fromOpaque(data).takeRetainedValue() as! HandleOwner
        owner.handleDidClose()
    }
    UnsafeMutableRawPointer(handle).deallocate()
}

import CLibUV
import Glibc

/// What to run and how, for `ChildProcess.spawn`.
public struct SpawnOptions: Sendable {
    /// An absolute path, or a name looked up (execvp) in the PATH of `environment`, not of this process.
    public var executable: String
    /// argv[1...]; argv[0] is `executable`.
    public var arguments: [String]
    /// The child's WHOLE environment (merge `SpawnOptions.currentEnvironment()` in yourself to inherit),
    /// passed sorted by name so spawns are deterministic.
    public var environment: [String: String]
    /// nil inherits ours; a missing directory fails the spawn with ENOENT.
    public var workingDirectory: String?
    /// Appended to (created 0644 if missing); nil means /dev/null.
    public var stdoutPath: String?
    /// Like `stdoutPath`, and may be the same path (both then share one descriptor).
    public var stderrPath: String?
    /// Sends stdout and stderr to two pipes this process reads (`ChildProcess.stdout` and `.stderr`)
    /// instead of to `stdoutPath` and `stderrPath`, which are then ignored.
    public var capturesOutput: Bool
    /// Start the child in a session and process group of its own (setsid, via UV_PROCESS_DETACHED), so
    /// `signalGroup` reaches it and everything it starts, and terminal signals aimed at us do not.
    public var newProcessGroup: Bool

    public init(
        executable: String, arguments: [String] = [], environment: [String: String] = [:],
        workingDirectory: String? = nil, stdoutPath: String? = nil, stderrPath: String? = nil,
        newProcessGroup: Bool = true, capturesOutput: Bool = false
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.stdoutPath = stdoutPath
        self.stderrPath = stderrPath
        self.newProcessGroup = newProcessGroup
        self.capturesOutput = capturesOutput
    }

    /// This process's environment (uv_os_environ), for building a child's; empty if it cannot be read.
    public static func currentEnvironment() -> [String: String] {
        var items: UnsafeMutablePointer<uv_env_item_t>?
        var count: Int32 = 0
        guard uv_os_environ(&items, &count) == 0, let items else { return [:] }
        defer { uv_os_free_environ(items, count) }
        var environment: [String: String] = [:]
        for item in UnsafeBufferPointer(start: items, count: Int(count)) {
            environment[String(cString: item.name)] = String(cString: item.value)
        }
        return environment
    }
}

/// A child process started with uv_spawn. Its stdin is /dev/null and its stdout and stderr go to files
/// (or /dev/null), or to two `OutputPipe`s the caller reads (`capturesOutput`). Like every KithUV handle it keeps itself alive until
/// closed: when the child exits (normally or by a signal) `onExit` runs once on the loop thread and the
/// handle closes itself.
public final class ChildProcess: HandleOwner {
    /// The child's process id (and, with `newProcessGroup`, its process group id).
    public let pid: Int32
    /// True once the child has exited and been reaped, i.e. from just before `onExit` runs.
    public private(set) var hasExited = false
    /// With `capturesOutput`, the child's stdout and stderr, not read until the caller starts them (nothing
    /// is lost meanwhile: the child blocks once a pipe is full). They outlive the child when a process it
    /// started still holds them: the caller closes them when it no longer wants that output.
    public let stdout: OutputPipe?
    public let stderr: OutputPipe?

    private let loop: EventLoop  // the uv_loop_t must outlive the handle
    private let process: UVHandle<uv_process_t>
    private var onExit: ((Int64, Int32) -> Void)?
    private var isClosing = false

    private init(loop: EventLoop, process: UVHandle<uv_process_t>, pipes: [OutputPipe],
                 onExit: @escaping (Int64, Int32) -> Void) {
        self.loop = loop
        stdout = pipes.first
        stderr = pipes.last
        self.process = process
        self.onExit = onExit
        pid = process.pointer.pointee.pid
        process.adopt(self)
    }

    /// Starts `options.executable`. `onExit(exitStatus, termSignal)` runs exactly once on the loop thread
    /// when the child exits: (status, 0) for a normal exit, (0, signal) when a signal killed it; unless
    /// `close()` came first. A failure to start (ENOENT or EACCES for the executable, ENOENT for the
    /// working directory, the errno of opening an output file or making a pipe, EINVAL for a NUL byte in any string or
    /// a malformed variable name) is thrown, and leaves no handle, descriptor or process behind.
    public static func spawn(
        loop: EventLoop, options: SpawnOptions, onExit: @escaping (_ exitStatus: Int64, _ termSignal: Int32) -> Void
    ) throws(UVError) -> ChildProcess {
        let strings = [options.executable] + options.arguments + options.environment.flatMap { [$0.key, $0.value] }
            + [options.workingDirectory, options.stdoutPath, options.stderrPath].compactMap { $0 }
        guard !options.executable.isEmpty, strings.allSatisfy({ !$0.utf8.contains(0) }),
              options.environment.keys.allSatisfy({ !$0.isEmpty && !$0.contains("=") })
        else { throw UVError(code: UV_EINVAL.rawValue) }

        // The output files are opened here and dup2'ed onto 1 and 2 by libuv in the child; ours are
        // closed again once uv_spawn returns. O_CLOEXEC keeps them out of other children spawned meanwhile.
        var opened: [Int32] = []
        defer { for fd in opened { Glibc.close(fd) } }
        func output(_ path: String?) throws(UVError) -> Int32? {
            guard let path else { return nil }
            let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, mode_t(0o644))
            guard fd >= 0 else { throw UVError(code: -errno) }
            opened.append(fd)
            return fd
        }
        var pipes: [OutputPipe] = []
        let stdoutFD: Int32?, stderrFD: Int32?
        if options.capturesOutput {
            do {
                pipes.append(try OutputPipe(loop: loop))
                pipes.append(try OutputPipe(loop: loop))
            } catch {
                for pipe in pipes { pipe.close() }
                throw error
            }
            stdoutFD = pipes[0].childEnd
            stderrFD = pipes[1].childEnd
        } else {
            stdoutFD = try output(options.stdoutPath)
            stderrFD = options.stderrPath == options.stdoutPath ? stdoutFD : try output(options.stderrPath)
        }

        var stdio = [uv_stdio_container_t](repeating: uv_stdio_container_t(), count: 3)
        for (index, fd) in [nil, stdoutFD, stderrFD].enumerated() {
            // UV_IGNORE on 0...2 makes libuv open /dev/null in the child.
            stdio[index].flags = uv_stdio_flags(rawValue: fd == nil ? UV_IGNORE.rawValue : UV_INHERIT_FD.rawValue)
            stdio[index].data.fd = fd ?? -1
        }

        let argv = CStringArray([options.executable] + options.arguments)
        let environment = CStringArray(options.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })
        let process = UVHandle<uv_process_t>()
        let result: Int32 = stdio.withUnsafeMutableBufferPointer { stdio in
            withOptionalCString(options.workingDirectory) { workingDirectory in
                var uvOptions = uv_process_options_t()
                uvOptions.exit_cb = { handle, exitStatus, termSignal in
                    let child: ChildProcess = owner(of: handle)
                    child.didExit(exitStatus: exitStatus, termSignal: termSignal)
                }
                uvOptions.file = UnsafePointer(argv.pointers[0])
                uvOptions.args = argv.pointers.baseAddress
                uvOptions.env = environment.pointers.baseAddress
                uvOptions.cwd = workingDirectory
                uvOptions.flags = options.newProcessGroup ? UV_PROCESS_DETACHED.rawValue : 0
                uvOptions.stdio_count = Int32(stdio.count)
                uvOptions.stdio = stdio.baseAddress
                // Synchronous up to the exec: libuv waits for it (or its errno) before returning.
                return uv_spawn(loop.uvLoop, process.pointer, &uvOptions)
            }
        }
        withExtendedLifetime((argv, environment)) {}
        for pipe in pipes { pipe.closeChildEnd() }  // the child has its copies
        // uv_spawn initialises the handle even when it fails, so it is adopted and closed either way.
        let child = ChildProcess(loop: loop, process: process, pipes: pipes, onExit: onExit)
        guard result == 0 else {
            for pipe in pipes { pipe.close() }
            child.close()
            throw UVError(code: result)
        }
        return child
    }

    /// Sends `signal` to the child alone. ESRCH once it has exited (its pid may have been reused since).
    public func signal(_ signal: Int32) -> UVError? {
        guard !hasExited else { return UVError(code: UV_ESRCH.rawValue) }
        // uv_kill rather than uv_process_kill: valid after close() too, as an unreaped child keeps its pid.
        let result = uv_kill(pid, signal)
        return result < 0 ? UVError(code: result) : nil
    }

    /// Sends `signal` to the child's whole process group (kill(-pid)), grandchildren included; needs
    /// `newProcessGroup`, else ESRCH. Also works after the child itself exited, to reach stragglers: the
    /// group id stays reserved while any member lives, and ESRCH means none does.
    public func signalGroup(_ signal: Int32) -> UVError? {
        let result = uv_kill(-pid, signal)
        return result < 0 ? UVError(code: result) : nil
    }

    /// Stops watching the child: `onExit` will not run. The child is neither signalled nor reaped, so if
    /// it is still running it stays a zombie after exiting until this process ends: signal it (and wait
    /// for `onExit`) first when it must go. Idempotent; runs by itself after `onExit`.
    public func close() {
        guard !isClosing else { return }
        isClosing = true
        onExit = nil
        process.close()
    }

    func handleDidClose() {}

    private func didExit(exitStatus: Int64, termSignal: Int32) {
        hasExited = true
        let onExit = self.onExit
        self.onExit = nil
        onExit?(exitStatus, termSignal)
        close()
    }
}

/// A NULL-terminated array of C strings for argv and envp, freed with the array.
private final class CStringArray {
    let pointers: UnsafeMutableBufferPointer<UnsafeMutablePointer<CChar>?>

    init(_ strings: [String]) {
        pointers = .allocate(capacity: strings.count + 1)
        for (index, string) in strings.enumerated() { pointers[index] = strdup(string) }
        pointers[strings.count] = nil
    }

    deinit {
        for pointer in pointers { free(pointer) }
        pointers.deallocate()
    }
}

private func withOptionalCString<R>(_ string: String?, _ body: (UnsafePointer<CChar>?) -> R) -> R {
    guard let string else { return body(nil) }
    return string.withCString { body($0) }
}

extension ChildProcess {
    /// Makes this process the reaper of its orphaned descendants (`PR_SET_CHILD_SUBREAPER`): a grandchild
    /// whose parent exits becomes our child rather than init's. False if the kernel refused.
    public static func becomeSubreaper() -> Bool { kith_set_child_subreaper() == 0 }

    /// The pid of an exited child not yet waited for, left unreaped (`waitid` with `WNOWAIT`); 0 if none.
    public static func peekExitedChild() -> Int32 { max(0, kith_peek_exited_child()) }
}

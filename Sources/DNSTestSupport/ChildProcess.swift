import CSpawn
import DNSWire
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A program the tests started with `posix_spawn`, and how it ended.
///
/// Not Foundation's `Process`: on Linux its `run` copies each entry of `/proc/self/fd` as a whole
/// 256-octet name, past the end of the C library's directory buffer, and a test run that started
/// many children at once crashed there now and then. Here the child gets its descriptors from file
/// actions, everything else closed, and a thread of its own waits for it.
public final class ChildProcess: Sendable {
    /// How the program ended.
    public enum Ending: Sendable, Equatable {
        /// It exited with this status.
        case exit(Int32)
        /// A signal, this one, ended it.
        case uncaughtSignal(Int32)
    }

    public let processIdentifier: pid_t
    private let state = Locked<(ending: Ending?, waiting: [CheckedContinuation<Void, Never>])>((nil, []))

    private init(pid: pid_t) {
        processIdentifier = pid
    }

    /// Starts `path` with `arguments` and exactly `environment`, in `directory` if given. Its
    /// input is read from `input` (or /dev/null), its output and errors are written to the files
    /// at `output` and `errors`, created or emptied; no other descriptor of ours reaches it.
    public static func spawn(
        _ path: String, _ arguments: [String], environment: [String: String], directory: String? = nil,
        input: String? = nil, output: String, errors: String
    ) throws -> ChildProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        let written = O_WRONLY | O_CREAT | O_TRUNC
        try check("open its input", posix_spawn_file_actions_addopen(&actions, 0, input ?? "/dev/null", O_RDONLY, 0))
        try check("open its output", posix_spawn_file_actions_addopen(&actions, 1, output, written, 0o600))
        if errors == output {
            try check("share its output", posix_spawn_file_actions_adddup2(&actions, 1, 2))
        } else {
            try check("open its errors", posix_spawn_file_actions_addopen(&actions, 2, errors, written, 0o600))
        }
        if let directory { try check("enter \(directory)", dnsstore_spawn_add_chdir(&actions, directory)) }
        try check("close our descriptors", dnsstore_spawn_add_closefrom(&actions, 3))

        // Signals as a program expects them: none blocked, and none ignored because we ignore it
        // (SwiftNIO ignores SIGPIPE in this process).
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        try check("start \(path)", posix_spawn(&pid, path, &actions, &attributes, argv, envp))
        let child = ChildProcess(pid: pid)
        Thread.detachNewThread { child.reap() }
        return child
    }

    private static func check(_ what: String, _ code: Int32) throws {
        guard code == 0 else {
            throw SubprocessError.failed(
                "posix_spawn", Subprocess.Result(status: code, stdout: "", stderr: "cannot \(what): \(String(cString: strerror(code)))"))
        }
    }

    /// Waits for the child on this thread, which is its own, and wakes whoever awaits its end.
    /// It waits first without reaping, so the PID stays the child's (a zombie) until the end is
    /// recorded under the lock that `signal` and `end` kill under: they can never hit a reused PID.
    private func reap() {
        var info = siginfo_t()
        while waitid(P_PID, id_t(processIdentifier), &info, WEXITED | WNOWAIT) < 0 {
            guard errno == EINTR else { break }
        }
        let waiting = state.withLock { state in
            var status: Int32 = 0
            while waitpid(processIdentifier, &status, 0) < 0 {
                guard errno == EINTR else { break }
            }
            // WIFEXITED and its kin are macros that Swift does not import.
            let signal = status & 0x7f
            state.ending = signal == 0 ? .exit((status >> 8) & 0xff) : .uncaughtSignal(signal)
            defer { state.waiting = [] }
            return state.waiting
        }
        for waiter in waiting { waiter.resume() }
    }

    /// How it ended, or nil while it runs.
    public var ending: Ending? { state.withLock { $0.ending } }

    public var isRunning: Bool { ending == nil }

    /// The exit status, or the number of the signal that ended it; 0 while it runs.
    public var terminationStatus: Int32 {
        switch ending {
        case .exit(let status), .uncaughtSignal(let status): return status
        case nil: return 0
        }
    }

    /// Returns once the child has ended and been reaped, without holding a thread.
    public func exited() async {
        await withCheckedContinuation { (ended: CheckedContinuation<Void, Never>) in
            let running = state.withLock { state in
                if state.ending == nil { state.waiting.append(ended) }
                return state.ending == nil
            }
            if !running { ended.resume() }
        }
    }

    /// Blocks this thread until the child has ended: for the few places that cannot await.
    public func waitUntilExit() {
        while isRunning { usleep(5_000) }
    }

    /// Signals the process and waits for it, but only while it has not been reaped: once it has,
    /// its PID may already belong to another test's server, which a bare `kill` would end.
    public func end(_ signal: Int32 = SIGTERM) {
        self.signal(signal)
        waitUntilExit()
    }

    /// Sends `signal` if the process has not been reaped.
    public func signal(_ signal: Int32) {
        state.withLock { state in
            if state.ending == nil { kill(processIdentifier, signal) }
        }
    }
}

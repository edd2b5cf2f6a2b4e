import ArgumentParser
import DNSStore
import DNSWire
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// `dnsstore lease grant|keepalive|revoke|show`: leases (docs/FORMAT.md section 13).
struct LeaseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lease",
        abstract: "Leases: documents attached to one (--lease on put, insert, update) live only while it is renewed.",
        discussion: """
            A lease that is not renewed lapses after its time to live: from then on every reader, on any server, \\
            treats its documents as gone, and a reaper (dnsstore serve's own, or 'dnsstore reap') deletes them.
            Example: ID=$(dnsstore lease grant 10 | jq -r .lease); dnsstore put svc/nodes/web1 '{"addr":"10.0.0.5"}' --lease $ID; dnsstore lease keepalive $ID
            """,
        subcommands: [Grant.self, KeepAlive.self, Revoke.self, Show.self])

    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Grant a lease of SECONDS; prints {\"lease\": ID, \"ttl\": SECONDS}.",
            discussion: "Example: dnsstore lease grant 10")
        @Argument(help: "Seconds it lives without a renewal, 1 to 604800.") var seconds: Int
        @OptionGroup var store: StoreOptions

        func validate() throws {
            guard (1...Lease.maxTTL).contains(seconds) else {
                throw ValidationError("a lease lives 1 to \(Lease.maxTTL) seconds, not \(seconds)")
            }
        }

        func run() async throws {
            try await report(store) {
                let lease = try await store.openStore().grant(ttl: seconds)
                print(try Output.value(lease, compact: store.compact))
            }
        }
    }

    struct KeepAlive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "keepalive",
            abstract: "Renew a lease every third of its time to live until interrupted; a line of JSON per renewal.",
            discussion: """
                Exits 10 when the lease is lost (revoked, reaped, or not renewed in time, as when this process was \\
                paused past its time to live), 3 when it does not exist.
                Example: dnsstore lease keepalive 0f3c5e9a1b2d4c6e
                """)
        @Argument(help: "The lease id.") var lease: String
        @Flag(help: "Renew once and exit.") var once = false
        @OptionGroup var store: StoreOptions

        func validate() throws { try validateLease(lease) }

        func run() async throws {
            let lost = try await report(store) { () -> Bool in
                let opened = try await store.openStore()
                let status = try await opened.renew(lease)
                Output.line(try Output.value(status, compact: true))
                guard !once else { return false }
                let compact = store.compact
                let keeper = opened.keepAlive(Lease(id: lease, ttl: status.ttl)) { renewed in
                    if let line = try? Output.value(renewed, compact: compact) { Output.line(line) }
                }
                do {
                    try await keeper.value
                    return false
                } catch let error as StoreError where error.code == .notFound {
                    Output.error("lease lost: \(error.detail)")
                    return true
                }
            }
            if lost { throw ExitCode(ExitCodes.leaseLost) }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a lease: its documents are deleted with it, in one UPDATE when they fit one.",
            discussion: "Example: dnsstore lease revoke 0f3c5e9a1b2d4c6e")
        @Argument(help: "The lease id.") var lease: String
        @OptionGroup var store: StoreOptions

        func validate() throws { try validateLease(lease) }

        func run() async throws {
            try await report(store) {
                let deleted = try await store.openStore().revoke(lease)
                print(try Output.value(Revoked(lease: lease, deleted: deleted), compact: store.compact))
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a lease's time to live, the seconds it has left, and its documents.",
            discussion: "Example: dnsstore lease show 0f3c5e9a1b2d4c6e")
        @Argument(help: "The lease id.") var lease: String
        @OptionGroup var store: StoreOptions

        func validate() throws { try validateLease(lease) }

        func run() async throws {
            try await report(store) {
                print(try Output.value(try await store.openStore().leaseStatus(lease), compact: store.compact))
            }
        }
    }

    struct Revoked: Encodable {
        var lease: String
        var deleted: Int
    }
}

func validateLease(_ id: String) throws {
    guard Lease.isValidID(id) else { throw ValidationError("'\(id)' is not a lease id (16 lower-case hex digits)") }
}

/// `dnsstore reap`: deletes lapsed leases and their documents, on any server.
struct ReapCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reap",
        abstract: "Delete lapsed leases and their documents, until interrupted; a line of JSON per lease reaped.",
        discussion: """
            For BIND, Knot and PowerDNS (dnsstore serve reaps its own zones). Each lease is deleted with a \\
            compare-and-swap on its record, so a renewal that lands first wins and several reapers at once are \\
            safe. A lease is reaped once its deadline passed by --clock-skew seconds.
            Example: dnsstore reap --server 127.0.0.1:5300 --domain example.test --key tsig.key
            """)
    @Flag(help: "Look once and exit.") var once = false
    @Option(parsing: .unconditional, help: "Seconds between looks (default 0.5).") var interval: Double = 0.5
    @Option(parsing: .unconditional, help: "How far apart the clocks of the cluster may be, in seconds (default 1).") var clockSkew: Double = 1
    @OptionGroup var store: StoreOptions

    func validate() throws {
        guard interval > 0, interval <= 3600 else { throw ValidationError("--interval must be above 0 and at most 3600 seconds, not \(interval)") }
        guard clockSkew >= 0, clockSkew <= 3600 else { throw ValidationError("--clock-skew must be 0 to 3600 seconds, not \(clockSkew)") }
    }

    func run() async throws {
        try await report(store) {
            let opened = try await store.openStore(clockSkew: .milliseconds(Int(clockSkew * 1000)))
            let reaper = LeaseReaper(store: opened, interval: .milliseconds(Int(interval * 1000))) { lease, documents in
                Output.line("{\"lease\":\"\(lease)\",\"documents\":\(documents)}")
            }
            if once {
                _ = try await reaper.sweepOnce()
            } else {
                try await reaper.run()
            }
        }
    }
}

/// `dnsstore lock` and `unlock`: locks on leases, with fencing tokens.
struct LockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock",
        abstract: "Take a lock on a lease (exit 4 if held), or run a command while holding it.",
        discussion: """
            Prints {"lock", "token", "lease"}. The token is the lock document's version, larger for each holder \\
            than for every earlier one: pass it with each write the lock guards, and have what is written to refuse \\
            a token lower than one it has seen. A lock does not stop a holder that was paused past its lease; the \\
            token lets the resource tell.
            With -- COMMAND, the lock is held while COMMAND runs (DNSSTORE_LOCK_TOKEN in its environment), the lease \\
            renewed meanwhile, the lock given up when it ends, and its exit status returned; if the lease is lost, \\
            COMMAND gets SIGTERM and the exit status is 10. Without --lease, a lease of --ttl seconds is granted \\
            for the lock and revoked at the end.
            Example: dnsstore lock nightly-backup --ttl 10 --wait -- ./backup.sh
            """)
    @Argument(help: "The lock's name.") var name: String
    @Option(help: "The lease to hold it on.") var lease: String?
    @Option(parsing: .unconditional, help: "Without --lease: the time to live of the lease granted for it (default 10).") var ttl: Int = 10
    @Flag(help: "Wait while another holds it.") var wait = false
    @Argument(parsing: .postTerminator, help: "A command to run while holding the lock.") var command: [String] = []
    @OptionGroup var store: StoreOptions

    func validate() throws {
        if let lease { try validateLease(lease) }
        guard (1...Lease.maxTTL).contains(ttl) else { throw ValidationError("--ttl must be 1 to \(Lease.maxTTL) seconds, not \(ttl)") }
        try Naming.validate(name)
    }

    struct Held: Encodable {
        var lock: String
        var token: Int
        var lease: String
    }

    func run() async throws {
        let status = try await report(store) { () -> Int32 in
            let opened = try await store.openStore()
            let owned = lease == nil
            let held: Lease
            if let lease {
                held = Lease(id: lease, ttl: try await opened.leaseStatus(lease).ttl)
            } else {
                held = try await opened.grant(ttl: ttl)
            }
            // Renewed while waiting and while the command runs.
            let keeper = owned || !command.isEmpty ? opened.keepAlive(held) : nil
            let handle: LockHandle
            do {
                handle = wait ? try await opened.lock(name, lease: held, waiting: .milliseconds(100)) : try await opened.lock(name, lease: held)
            } catch {
                keeper?.cancel()
                if owned { _ = try? await opened.revoke(held.id) }
                throw error
            }
            Output.line(try Output.value(Held(lock: name, token: handle.token, lease: held.id), compact: true))
            guard !command.isEmpty else {
                keeper?.cancel()
                return 0
            }
            let child = try ChildCommand(command, environment: [
                "DNSSTORE_LOCK": name, "DNSSTORE_LOCK_TOKEN": String(handle.token), "DNSSTORE_LEASE": held.id,
            ])
            let outcome = await withTaskGroup(of: Int32?.self) { group -> Int32 in
                group.addTask { await child.wait() }
                group.addTask {
                    // The lease lost while the command runs: it is stopped.
                    do { try await keeper?.value } catch {}
                    return nil
                }
                let first = await group.next()!
                // The group ends once both have: the renewals stop when the command has ended.
                keeper?.cancel()
                group.cancelAll()
                if let status = first { return status }
                Output.error("lease \(held.id) was lost while '\(command.joined(separator: " "))' ran; stopping it")
                child.terminate()
                _ = await child.wait()
                return ExitCodes.leaseLost
            }
            keeper?.cancel()
            if outcome != ExitCodes.leaseLost {
                try? await opened.unlock(handle)
                if owned { _ = try? await opened.revoke(held.id) }
            }
            return outcome
        }
        if status != 0 { throw ExitCode(status) }
    }
}

struct UnlockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unlock",
        abstract: "Give a lock up, if the given lease holds it (exit 3 if nobody does, 4 if another lease does).",
        discussion: "Example: dnsstore unlock nightly-backup --lease 0f3c5e9a1b2d4c6e")
    @Argument(help: "The lock's name.") var name: String
    @Option(help: "The lease holding it.") var lease: String
    @OptionGroup var store: StoreOptions

    func validate() throws { try validateLease(lease) }

    func run() async throws {
        try await report(store) {
            let opened = try await store.openStore()
            guard let (holder, handle) = try await opened.lockHolder(name) else { throw StoreError.notFound("lock '\(name)' is not held") }
            guard handle.lease == lease else { throw StoreError.conflict("lock '\(name)' is held by \(holder) on lease \(handle.lease)") }
            try await opened.unlock(handle)
            print(try Output.value(LockCommand.Held(lock: name, token: handle.token, lease: lease), compact: store.compact))
        }
    }
}

/// A command run by `lock`, with its standard streams those of this process. Started with
/// posix_spawnp and waited for with waitpid on a thread of its own: Foundation's `Process` on
/// Linux was seen to miss a short child's exit and wait for ever.
final class ChildCommand: Sendable {
    let pid: pid_t
    private let ended = Locked<(status: Int32?, waiting: [CheckedContinuation<Int32, Never>])>((nil, []))

    init(_ arguments: [String], environment: [String: String]) throws {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Signals as a program expects them: none blocked, none ignored because this process
        // ignores it (SwiftNIO ignores SIGPIPE).
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let merged = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let code = posix_spawnp(&pid, arguments[0], nil, &attributes, argv, envp)
        guard code == 0 else {
            throw CLIError.invalidInput("cannot run '\(arguments.joined(separator: " "))': \(String(cString: strerror(code)))")
        }
        self.pid = pid
        let ended = self.ended
        let child = pid
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) < 0, errno == EINTR {}
            // WIFEXITED and its kin are macros that Swift does not import.
            let signal = status & 0x7f
            let code = signal == 0 ? (status >> 8) & 0xff : 128 + signal
            let waiting = ended.withLock { state in
                state.status = code
                defer { state.waiting = [] }
                return state.waiting
            }
            for waiter in waiting { waiter.resume(returning: code) }
        }
    }

    /// Its exit status (128 + the signal when a signal ended it).
    func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            let status = ended.withLock { state -> Int32? in
                if state.status == nil { state.waiting.append(continuation) }
                return state.status
            }
            if let status { continuation.resume(returning: status) }
        }
    }

    /// Asks it to stop (SIGTERM), while it has not been reaped.
    func terminate() {
        ended.withLock { state in
            if state.status == nil { kill(pid, SIGTERM) }
        }
    }
}

import DNSWire
import Logging
import NIOCore
import NIOPosix

/// An async DNS client: queries over UDP with EDNS0 and a retry over TCP when the answer is
/// truncated, pipelined TCP, timeouts, retries with backoff and failover across servers,
/// TSIG on every request and a verified TSIG on every answer when a key is set.
public final class DNSClient: Sendable {
    /// Servers, key, timeouts and retries, as created.
    public let configuration: DNSClientConfiguration
    let group: any EventLoopGroup
    let logger: Logger
    private let connections = Locked<[SocketAddress: TCPConnection]>([:])
    private let udpPools = Locked<[SocketAddress: UDPSocketPool]>([:])
    private let ids = RandomIDs()
    /// Seconds added to the configured clock when signing: set from a server's signed BADTIME
    /// answer, so a client whose clock lags, or a server that refuses what was signed before it
    /// started, costs one retry rather than a failure.
    private let clockOffset = Locked<Int64>(0)
    /// The addresses requests go to, when they were resolved, and whether a resolution is under way.
    private let resolved: Locked<(servers: [SocketAddress], at: ContinuousClock.Instant, resolving: Bool)>

    /// A client on `group`; it connects only when a request needs it.
    public init(
        configuration: DNSClientConfiguration, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "dnsstore.client")
    ) {
        precondition(!configuration.servers.isEmpty, "a DNSClient needs at least one server")
        self.configuration = configuration
        self.group = group
        self.logger = logger
        resolved = Locked((configuration.servers, .now, false))
    }

    /// The addresses requests go to: the configured ones, or what the configured names resolved
    /// to last.
    public var servers: [SocketAddress] { resolved.withLock { $0.servers } }

    /// Resolves the server names again, on the thread pool (getaddrinfo blocks); returns whether
    /// the addresses changed. A name that does not resolve now keeps nothing; when none does, the
    /// addresses stay as they were.
    func resolveAgain() async -> Bool {
        let names = configuration.serverNames
        guard !names.isEmpty, resolved.withLock({ state in
            defer { state.resolving = true }
            return !state.resolving
        }) else { return false }
        let resolver = configuration.resolver
        let found = (try? await NIOThreadPool.singleton.runIfActive { names.flatMap { (try? resolver($0)) ?? [] } }) ?? []
        let changed = resolved.withLock { state -> Bool in
            state.resolving = false
            state.at = .now
            guard !found.isEmpty, found != state.servers else { return false }
            state.servers = found
            return true
        }
        if changed { logger.notice("servers resolved to new addresses", metadata: ["names": "\(names)", "addresses": "\(found.map(\.display))"]) }
        return changed
    }

    /// Closes the pooled TCP connections.
    public func shutdown() async {
        let all = connections.withLock { current in
            defer { current = [:] }
            return Array(current.values)
        }
        for connection in all {
            try? await connection.channel.close()
        }
        let pools = udpPools.withLock { current in
            defer { current = [:] }
            return Array(current.values)
        }
        for pool in pools { await pool.shutdown() }
    }

    // MARK: Public API

    /// Asks for the RRset of `name` and `type`. NOERROR answers come back, with or without records;
    /// every other RCODE is thrown as its `DNSError`.
    /// `overTCP` skips the UDP attempt, for answers known to be large.
    nonisolated(nonsending) public func query(_ name: DNSName, type: RRType, class: DNSClass = .in, overTCP: Bool = false) async throws
        -> Message
    {
        let request = Message.query(name, type: type, class: `class`, payloadSize: configuration.payloadSize)
        let response = try await send(request, overTCP: overTCP)
        if let error = DNSError(rcode: response.rcode) { throw error }
        return response
    }

    /// The records of type `type` in the answer for `name` (following no CNAMEs).
    nonisolated(nonsending) public func records(_ name: DNSName, type: RRType) async throws -> [ResourceRecord] {
        try await query(name, type: type).answers.filter { $0.type == type && $0.name == name }
    }

    /// Sends an UPDATE. Succeeds on NOERROR; a failed prerequisite is thrown as NXRRSET,
    /// YXRRSET, NXDOMAIN or YXDOMAIN, and nothing changed.
    @discardableResult
    nonisolated(nonsending) public func update(_ update: UpdateBuilder) async throws -> Message {
        let response = try await send(update.message())
        if let error = DNSError(rcode: response.rcode) { throw error }
        return response
    }

    /// Sends any message and returns the matching answer, whatever its RCODE. The ID is replaced
    /// by a random one and the message signed when a key is configured.
    ///
    /// A server that does not answer, cannot be reached or answers SERVFAIL is passed over for
    /// the next (SERVFAIL: it failed before changing anything, RFC 2136 section 3); the last
    /// SERVFAIL is returned when every attempt got one. Servers that failed lately (the
    /// configuration's `health`) are tried last. An UPDATE that went out to a server that gave no
    /// answer ends with `DNSError.unanswered` (it may have been applied) unless a later attempt
    /// succeeds: an error answered to a later attempt, a failed prerequisite above all, does not
    /// tell whether the first one applied.
    ///
    /// Servers configured by name are resolved again in the background every
    /// `reresolveInterval`; when no address answers (none could be reached, or a query timed out
    /// everywhere), at once, and the request is tried on the new addresses, if any (an UPDATE
    /// only when none of its attempts went out).
    nonisolated(nonsending) public func send(_ message: Message, overTCP: Bool = false) async throws -> Message {
        guard !configuration.serverNames.isEmpty else { return try await send(message, overTCP: overTCP, to: configuration.servers) }
        let (current, age) = resolved.withLock { ($0.servers, $0.at.duration(to: .now)) }
        if age >= configuration.reresolveInterval { Task { _ = await self.resolveAgain() } }
        do {
            return try await send(message, overTCP: overTCP, to: current)
        } catch let error as DNSError {
            let reachedNone: Bool
            switch error {
            case .connection: reachedNone = true
            case .timeout: reachedNone = message.opcode != .update
            default: reachedNone = false
            }
            guard reachedNone, age >= .seconds(1), await resolveAgain() else { throw error }
            return try await send(message, overTCP: overTCP, to: servers)
        }
    }

    nonisolated(nonsending) private func send(_ message: Message, overTCP: Bool, to addresses: [SocketAddress]) async throws -> Message {
        // A concrete error, not `any Error`: boxing one cost an allocation on every request.
        var lastError = DNSError.timeout
        var failed: Message?
        var sent = false
        var pause = configuration.backoff
        let servers = configuration.health?.order(addresses) ?? addresses
        for attempt in 0..<max(1, configuration.attempts) {
            if attempt > 0 {
                try await Task.sleep(for: pause)
                pause *= 2
            }
            let server = servers[attempt % servers.count]
            do {
                let answer = try await exchange(message, with: server, overTCP: overTCP)
                if answer.rcode == .servFail, attempt + 1 < max(1, configuration.attempts) {
                    configuration.health?.failed(server)
                    failed = answer
                    logger.debug("SERVFAIL; trying the next server", metadata: ["server": "\(server)", "attempt": "\(attempt + 1)"])
                    continue
                }
                configuration.health?.answered(server)
                if answer.rcode != .noError, sent, message.opcode == .update {
                    // An earlier attempt went out unanswered and may have applied the UPDATE: a later
                    // refusal says nothing of it. A failed prerequisite is even likely its doing (each
                    // attempt is signed anew, so no server's replay cache ties the two together).
                    throw DNSError.unanswered("a server did not answer, then \(server.display) answered \(answer.rcode)")
                }
                return answer
            } catch DNSError.timeout {
                lastError = DNSError.timeout
                sent = true
                configuration.health?.failed(server)
                logger.debug("timeout", metadata: ["server": "\(server)", "attempt": "\(attempt + 1)"])
            } catch DNSError.unanswered(let why) {
                lastError = DNSError.unanswered(why)
                sent = true
                configuration.health?.failed(server)
                logger.debug("no answer", metadata: ["server": "\(server)", "error": "\(why)"])
            } catch DNSError.connection(let why) {
                lastError = DNSError.connection(why)
                configuration.health?.failed(server)
                logger.debug("connection failed", metadata: ["server": "\(server)", "error": "\(why)"])
            }
        }
        if let failed, !sent { return failed }
        if sent, message.opcode == .update {
            throw DNSError.unanswered("no answer from \(servers.map(\.display).joined(separator: ", ")) within \(configuration.attempts) tries")
        }
        if case .unanswered = lastError { throw DNSError.timeout }
        if let failed { return failed }
        throw lastError
    }

    // MARK: Exchange

    /// One attempt against one server: UDP first unless configured otherwise or the message is too
    /// large for it, TCP when the UDP answer comes back truncated.
    nonisolated(nonsending) func exchange(_ message: Message, with server: SocketAddress, overTCP: Bool) async throws -> Message {
        var signedAgain = false
        if !configuration.alwaysTCP && !overTCP {
            while true {
                let (octets, matcher, verifier) = try prepare(message)
                guard octets.readableBytes <= Int(configuration.payloadSize) else { break }
                let answer: ByteBuffer
                let response: Message
                let kind = TrafficCount.kind(of: message)
                do {
                    configuration.traffic?.sent(kind, octets: octets.readableBytes)
                    (answer, response) = try await udpPool(for: server).send(
                        octets, matcher: matcher, timeout: configuration.timeout)
                } catch ClientInternalError.idInUse {
                    continue
                }
                configuration.traffic?.received(kind, octets: answer.readableBytes)
                if !response.truncated {
                    do {
                        return try verified(answer, response, verifier)
                    } catch ClientInternalError.signAgain {
                        guard !signedAgain else { throw DNSError.tsig(.badTime) }
                        signedAgain = true
                        continue
                    }
                }
                logger.trace("truncated answer, retrying over TCP", metadata: ["server": "\(server)"])
                break
            }
        }
        return try await exchangeTCP(message, with: server)
    }

    /// A connection kept from earlier requests may have been closed by the server as idle just
    /// as this request went out (RFC 7766 section 6.2.3 lets servers do that): then the request
    /// is sent once more on a new connection.
    /// A request that could not even be written (the connection closed first) was never seen by
    /// the server and is sent again on a new connection, twice at most.
    nonisolated(nonsending) private func exchangeTCP(_ message: Message, with server: SocketAddress) async throws -> Message {
        var mayRetry = true
        var unsent = 0
        var signedAgain = false
        while true {
            let (octets, matcher, verifier) = try prepare(message)
            let (connection, reused) = try await connection(to: server)
            let kind = TrafficCount.kind(of: message)
            do {
                configuration.traffic?.sent(kind, octets: octets.readableBytes)
                let (answer, response) = try await connection.send(
                    octets, matcher: matcher, timeout: configuration.timeout)
                configuration.traffic?.received(kind, octets: answer.readableBytes)
                return try verified(answer, response, verifier)
            } catch ClientInternalError.idInUse {
                continue
            } catch ClientInternalError.signAgain {
                guard !signedAgain else { throw DNSError.tsig(.badTime) }
                signedAgain = true
                continue
            } catch ClientInternalError.notSent(let why) {
                forget(connection)
                unsent += 1
                guard unsent <= 2 else { throw DNSError.connection(why) }
            } catch DNSError.connection(let why) {
                forget(connection)
                // The request was written: the server may have acted on it.
                guard reused && mayRetry else { throw DNSError.unanswered(why) }
                mayRetry = false
            }
        }
    }

    /// Gives the message a random ID and signs it; returns what to send, how to recognize the
    /// answer, and how to check the answer's signature.
    func prepare(_ message: Message) throws -> (ByteBuffer, ResponseMatcher, TSIGVerifier?) {
        var request = message
        request.id = ids.next()
        request.tsig = nil
        if configuration.key != nil, request.opcode == .update {
            // A server that keeps a replay cache (ours does) answers a signed UPDATE whose MAC it
            // has seen with the first one's answer. Two writers sending the same change (the same
            // compare-and-swap of the same version) under one key, with the same random ID in the
            // same second, would sign identical octets, and the second would be told of a change
            // it did not make. A random client cookie (RFC 7873) in every signed UPDATE makes its
            // octets its own.
            var edns = request.edns ?? EDNS()
            edns.options.removeAll { $0.code == EDNSOption.cookieCode }
            edns.options.append(.clientCookie((0..<8).map { _ in UInt8.random(in: 0...255) }))
            request.edns = edns
        }
        var octets = try request.encode()
        var verifier: TSIGVerifier?
        if let key = configuration.key {
            let signed = try TSIGSigner.sign(octets, key: key, timeSigned: now(), fudge: configuration.fudge)
            octets = signed.message
            verifier = TSIGVerifier(key: key, requestMAC: signed.mac)
        }
        return (octets, ResponseMatcher(request: request), verifier)
    }

    /// Checks the answer's TSIG. A server that refused an unsigned request answers without one;
    /// its RCODE then says more than "not signed" would.
    func verified(_ octets: ByteBuffer, _ response: Message, _ verifier: TSIGVerifier?) throws -> Message {
        guard var verifier else { return response }
        do {
            try verifier.verify(octets, message: response, now: now())
        } catch TSIGError.badTime where response.tsig?.otherData.count == 6 {
            // The answer's MAC verified, so its time is the server's own (RFC 8945 section 5.2.3).
            let serverTime = response.tsig!.otherData.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            let offset = Int64(bitPattern: serverTime) - Int64(bitPattern: configuration.clock())
            clockOffset.withLock { $0 = offset }
            logger.notice("the server refused our TSIG time; signing with its clock", metadata: ["offset": "\(offset)"])
            throw ClientInternalError.signAgain
        } catch TSIGError.responseNotSigned where response.rcode != .noError {
            throw DNSError(rcode: response.rcode) ?? DNSError.tsig(.responseNotSigned)
        } catch let error as TSIGError {
            throw DNSError.tsig(error)
        }
        return response
    }

    func now() -> UInt64 { UInt64(bitPattern: Int64(bitPattern: configuration.clock()) &+ clockOffset.withLock { $0 }) }

    // MARK: Socket pools

    private func udpPool(for server: SocketAddress) -> UDPSocketPool {
        udpPools.withLock { pools in
            if let pool = pools[server] { return pool }
            let pool = UDPSocketPool(
                // One socket per event loop: a client on one loop sends and reads all its requests
                // in one sendmmsg and one recvmmsg a turn, not one of each per socket.
                server: server, group: group, size: Array(group.makeIterator()).count,
                maxUses: configuration.udpSocketReuseLimit,
                drainTime: configuration.timeout)
            pools[server] = pool
            return pool
        }
    }

    /// The pooled connection to `server`, or a new one; says whether it was already in use.
    nonisolated(nonsending) private func connection(to server: SocketAddress) async throws -> (TCPConnection, reused: Bool) {
        if let existing = connections.withLock({ $0[server] }), existing.isActive {
            return (existing, true)
        }
        let fresh = try await TCPConnection.connect(to: server, group: group, timeout: configuration.timeout)
        let (winner, loser) = connections.withLock { pool -> (TCPConnection, TCPConnection?) in
            if let other = pool[server], other.isActive { return (other, fresh) }
            pool[server] = fresh
            return (fresh, nil)
        }
        loser?.close()
        return (winner, winner !== fresh)
    }

    private func forget(_ connection: TCPConnection) {
        connections.withLock { pool in
            if pool[connection.server] === connection { pool[connection.server] = nil }
        }
        connection.close()
    }
}

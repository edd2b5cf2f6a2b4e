#if os(Linux)
    import CBatchedSockets
    import DNSWire
    import Foundation
    import Glibc
    import NIOCore
    import NIOPosix
    import Synchronization

    /// One UDP socket answered by a thread of its own, in batches: one `recvmmsg` reads up to
    /// `batch` datagrams into fixed slots and one `sendmmsg` sends their answers. A query with a
    /// prepared answer is answered from its receive slot into a send slot: nothing allocated, no
    /// event loop, no client address turned into text. Anything else takes the authority's
    /// ordinary way; work that blocks runs on the thread pool and its answers are sent from there.
    ///
    /// Bounds: the slots are allocated once (`batch` × 64 KiB each way); when the kernel's send
    /// buffer is full, answers are dropped, as UDP may, rather than queued; queries wait in the
    /// socket's receive buffer (4 MiB asked for) while the thread is busy.
    final class UDPListener: Sendable {
        static let batch = 32
        /// A slot holds the largest datagram, and the largest answer over UDP.
        static let slot = 65_536

        private let socket: Int32
        private let stopping = Atomic<Bool>(false)
        /// Whether the socket is still open, for answers sent from other threads (the descriptor
        /// could otherwise be reused once closed).
        private let open = Locked(true)
        private let ended = Locked<(done: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))
        private let authority: Authority
        private let pool: NIOThreadPool

        /// Binds a socket to `address` that shares the port with others (SO_REUSEPORT), so that
        /// the kernel spreads queries across them, and starts its thread.
        init(_ authority: Authority, address: SocketAddress, pool: NIOThreadPool, name: String) throws {
            let family = address.protocol.rawValue
            let fd = Glibc.socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard fd >= 0 else { throw UDPListenerError.system("socket", errno) }
            func option(_ name: Int32, _ value: Int32) {
                var value = value
                _ = setsockopt(fd, SOL_SOCKET, name, &value, socklen_t(MemoryLayout<Int32>.size))
            }
            option(SO_REUSEADDR, 1)
            option(SO_REUSEPORT, 1)
            // A deep receive queue rides out bursts (floods of junk included) without dropping the
            // valid queries behind them; the kernel caps it at rmem_max.
            option(SO_RCVBUF, 4 << 20)
            let bound: Int32
            switch address {
            case .v4(let v4):
                var raw = v4.address
                bound = withUnsafePointer(to: &raw) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            case .v6(let v6):
                var raw = v6.address
                bound = withUnsafePointer(to: &raw) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
                }
            case .unixDomainSocket:
                close(fd)
                throw UDPListenerError.unsupported("\(address)")
            }
            guard bound == 0 else {
                let code = errno
                close(fd)
                throw UDPListenerError.system("bind to \(address)", code)
            }
            self.socket = fd
            self.authority = authority
            self.pool = pool
            let thread = Thread { [self] in
                self.serve()
                self.finish()
            }
            thread.name = name
            thread.start()
        }

        /// Stops the thread and closes the socket; answers still owed are not sent.
        func stop() async {
            stopping.store(true, ordering: .releasing)
            await withCheckedContinuation { continuation in
                let resumeNow = ended.withLock { state -> Bool in
                    if state.done { return true }
                    state.waiting.append(continuation)
                    // Shutting the socket's reading side wakes the thread from its wait for
                    // datagrams, even though a UDP socket is not connected (the call says so, and
                    // does it anyway). Answers still being sent from the pool may go out until
                    // the socket is closed.
                    open.withLock { isOpen in
                        if isOpen { _ = shutdown(socket, Int32(SHUT_RD)) }
                    }
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }

        private func finish() {
            open.withLock { isOpen in
                isOpen = false
                close(socket)
            }
            let waiting = ended.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.done = true
                defer { state.waiting = [] }
                return state.waiting
            }
            for continuation in waiting { continuation.resume() }
        }

        // MARK: The thread

        /// A client's address as `recvmmsg` gave it, kept for answers sent later.
        struct Peer: @unchecked Sendable {
            var address: sockaddr_storage
            var length: socklen_t
        }

        /// The slots and message headers of one thread, allocated once.
        private struct Batch {
            let count = UDPListener.batch
            let sendArea = UnsafeMutableRawBufferPointer.allocate(byteCount: UDPListener.batch * UDPListener.slot, alignment: 16)
            let readHeaders = UnsafeMutablePointer<dnsstore_mmsghdr>.allocate(capacity: UDPListener.batch)
            let readVectors = UnsafeMutablePointer<iovec>.allocate(capacity: UDPListener.batch)
            let addresses = UnsafeMutablePointer<sockaddr_storage>.allocate(capacity: UDPListener.batch)
            let sendHeaders = UnsafeMutablePointer<dnsstore_mmsghdr>.allocate(capacity: UDPListener.batch)
            let sendVectors = UnsafeMutablePointer<iovec>.allocate(capacity: UDPListener.batch)

            func deallocate() {
                sendArea.deallocate()
                readHeaders.deallocate()
                readVectors.deallocate()
                addresses.deallocate()
                sendHeaders.deallocate()
                sendVectors.deallocate()
            }

            /// Send slot `index`.
            func sendSlot(_ index: Int) -> UnsafeMutableRawBufferPointer {
                UnsafeMutableRawBufferPointer(rebasing: sendArea[(index * UDPListener.slot)..<((index + 1) * UDPListener.slot)])
            }

            /// Points the read headers at the receive slots in `area` and at empty addresses.
            func prepareReads(into area: UnsafeMutableRawBufferPointer) {
                for i in 0..<count {
                    readVectors[i] = iovec(iov_base: area.baseAddress! + i * UDPListener.slot, iov_len: UDPListener.slot)
                    readHeaders[i] = dnsstore_mmsghdr()
                    readHeaders[i].msg_hdr.msg_name = UnsafeMutableRawPointer(addresses + i)
                    readHeaders[i].msg_hdr.msg_namelen = socklen_t(MemoryLayout<sockaddr_storage>.size)
                    readHeaders[i].msg_hdr.msg_iov = readVectors + i
                    readHeaders[i].msg_hdr.msg_iovlen = 1
                }
            }

            /// Makes send slot `index`, holding `size` octets, go to the sender of datagram `datagram`.
            func queue(_ index: Int, size: Int, to datagram: Int) {
                sendVectors[index] = iovec(iov_base: sendArea.baseAddress! + index * UDPListener.slot, iov_len: size)
                sendHeaders[index] = dnsstore_mmsghdr()
                sendHeaders[index].msg_hdr.msg_name = UnsafeMutableRawPointer(addresses + datagram)
                sendHeaders[index].msg_hdr.msg_namelen = readHeaders[datagram].msg_hdr.msg_namelen
                sendHeaders[index].msg_hdr.msg_iov = sendVectors + index
                sendHeaders[index].msg_hdr.msg_iovlen = 1
            }

            func peer(_ datagram: Int) -> Peer {
                Peer(address: addresses[datagram], length: readHeaders[datagram].msg_hdr.msg_namelen)
            }
        }

        private func serve() {
            let slot = Self.slot
            let batch = Batch()
            defer { batch.deallocate() }
            var received = ByteBufferAllocator().buffer(capacity: batch.count * slot)
            while !stopping.load(ordering: .acquiring) {
                received.clear()
                let count = received.withUnsafeMutableWritableBytes { area -> Int32 in
                    batch.prepareReads(into: area)
                    // Waits for the first datagram, then takes whatever else is queued without
                    // waiting: one call per wake-up, where a poll and a read that finds the queue
                    // empty cost two more. `stop` ends the wait by shutting the socket down.
                    return dnsstore_recvmmsg(socket, batch.readHeaders, UInt32(batch.count), Int32(MSG_WAITFORONE), nil)
                }
                // An error queued on the socket (ICMP for an earlier answer) concerns no one, and
                // an interrupted or shut-down wait goes back to the loop's check.
                guard count > 0 else { continue }
                received.moveWriterIndex(to: batch.count * slot)
                var answers = 0
                for i in 0..<Int(count) {
                    guard let datagram = received.getSlice(at: i * slot, length: Int(batch.readHeaders[i].msg_len)) else { continue }
                    let out = batch.sendSlot(answers)
                    if let size = authority.preparedAnswer(datagram, over: .udp, into: out) {
                        batch.queue(answers, size: size, to: i)
                        answers += 1
                        continue
                    }
                    // The datagram is copied: work that keeps it must not keep the receive slots.
                    let source = RequestSource(raw: batch.addresses[i], length: batch.readHeaders[i].msg_hdr.msg_namelen)
                    switch authority.receive(ByteBuffer(buffer: datagram), over: .udp, from: source) {
                    case .answered(let replies):
                        // Over UDP a request has one answer at most; any further go out at once.
                        for (n, reply) in replies.enumerated() {
                            if n == 0, reply.readableBytes <= slot {
                                reply.withUnsafeReadableBytes { out.copyMemory(from: $0) }
                                batch.queue(answers, size: reply.readableBytes, to: i)
                                answers += 1
                            } else {
                                send([reply], to: batch.peer(i))
                            }
                        }
                    case .work(let work):
                        let peer = batch.peer(i)
                        pool.submit { state in
                            guard case .active = state else { return work.abandon() }
                            self.send(work.runToEnd(), to: peer)
                        }
                    case .deferred(let work):
                        let peer = batch.peer(i)
                        work.start(on: pool) { replies in self.send(replies, to: peer) }
                    }
                }
                if answers > 0 { _ = dnsstore_sendmmsg(socket, batch.sendHeaders, UInt32(answers), Int32(MSG_DONTWAIT)) }
            }
        }

        /// Sends answers from any thread, while the socket is open; one the kernel cannot take
        /// at once is dropped.
        private func send(_ replies: [ByteBuffer], to peer: Peer) {
            guard !replies.isEmpty else { return }
            open.withLock { isOpen in
                guard isOpen else { return }
                var peer = peer
                for reply in replies {
                    reply.withUnsafeReadableBytes { octets in
                        withUnsafePointer(to: &peer.address) {
                            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                                _ = sendto(socket, octets.baseAddress, octets.count, Int32(MSG_DONTWAIT), $0, peer.length)
                            }
                        }
                    }
                }
            }
        }
    }

    /// Why a UDP socket could not be set up.
    enum UDPListenerError: Error, CustomStringConvertible {
        case system(String, Int32)
        case unsupported(String)

        var description: String {
            switch self {
            case .system(let call, let code): return "\(call): \(String(cString: strerror(code)))"
            case .unsupported(let address): return "UDP cannot listen on \(address)"
            }
        }
    }
#endif

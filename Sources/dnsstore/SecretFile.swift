import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Files that hold secrets (TSIG keys, encryption keys): created readable by their owner only from
/// the first byte, never world-readable for an instant, and never overwriting a file that exists.
enum SecretFile {
    /// Writes `text` to a new file at `path` with mode 0600; fails if `path` exists.
    static func create(_ path: String, _ text: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw CLIError.invalidInput("cannot create \(temporary): \(String(cString: strerror(errno)))") }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == bytes.count, synced else {
            unlink(temporary)
            throw CLIError.invalidInput("cannot write \(temporary)")
        }
        // link(2) fails if the target exists, where rename(2) would replace it.
        guard link(temporary, path) == 0 else {
            let why = errno == EEXIST ? "it already exists; not replacing a key" : String(cString: strerror(errno))
            unlink(temporary)
            throw CLIError.invalidInput("cannot create \(path): \(why)")
        }
        unlink(temporary)
    }
}

import Foundation

/// Executables built by this package, found next to the running test bundle.
public enum BuiltProducts {
    public static func executable(_ name: String) throws -> String {
        let argv0 = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var dir = argv0.deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent(name).path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        throw SubprocessError.notFound("\(name) (build it with swift build)")
    }
}

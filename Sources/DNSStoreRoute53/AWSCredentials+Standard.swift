import Foundation

/// Why no usable AWS credentials were found. Never includes a secret.
public enum AWSCredentialsError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Nowhere looked held any: what was looked at.
    case missing(String)
    /// An access key without its secret, or the reverse: where.
    case incomplete(String)
    /// A credentials or config file that exists but cannot be read.
    case unreadable(String)

    public var description: String {
        switch self {
        case .missing(let looked): return "no AWS credentials found (looked at \(looked))"
        case .incomplete(let what): return "incomplete AWS credentials: \(what)"
        case .unreadable(let file): return "cannot read \(file)"
        }
    }
}

extension AWSCredentials {
    /// The credentials the AWS command line and SDKs would use, in their order: the environment's
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (with `AWS_SESSION_TOKEN`); else the
    /// profile `AWS_PROFILE` (`default` when unset) in the shared credentials file
    /// (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`), then in the config file
    /// (`AWS_CONFIG_FILE`, else `~/.aws/config`, where a profile's section is `[profile NAME]`).
    public static func standard(
        environment: [String: String] = ProcessInfo.processInfo.environment, home: String = NSHomeDirectory()
    ) throws -> AWSCredentials {
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        switch (environment["AWS_ACCESS_KEY_ID"].flatMap { $0.isEmpty ? nil : $0 }, environment["AWS_SECRET_ACCESS_KEY"].flatMap { $0.isEmpty ? nil : $0 }) {
        case (let id?, let secret?): return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token)
        case (.some, nil): throw AWSCredentialsError.incomplete("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")
        case (nil, .some): throw AWSCredentialsError.incomplete("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not")
        case (nil, nil): break
        }
        let profile = environment["AWS_PROFILE"].flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        let credentialsFile = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(home)/.aws/credentials"
        let configFile = environment["AWS_CONFIG_FILE"] ?? "\(home)/.aws/config"
        for (file, section) in [(credentialsFile, profile), (configFile, profile == "default" ? "default" : "profile \(profile)")] {
            guard let values = try iniSection(section, of: file) else { continue }
            switch (values["aws_access_key_id"], values["aws_secret_access_key"]) {
            case (let id?, let secret?):
                return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: values["aws_session_token"])
            case (.some, nil): throw AWSCredentialsError.incomplete("profile '\(profile)' in \(file) has aws_access_key_id but no aws_secret_access_key")
            case (nil, .some): throw AWSCredentialsError.incomplete("profile '\(profile)' in \(file) has aws_secret_access_key but no aws_access_key_id")
            case (nil, nil): continue
            }
        }
        throw AWSCredentialsError.missing(
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and profile '\(profile)' in \(credentialsFile) and \(configFile)")
    }

    /// The keys and values of `[section]` in an INI file (keys lower-cased; `#` and `;` start
    /// comments); nil when the file or the section is absent.
    static func iniSection(_ section: String, of path: String) throws -> [String: String]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw AWSCredentialsError.unreadable(path) }
        var current: String?
        var values: [String: String]?
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                current = line.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
                if current == section, values == nil { values = [:] }
                continue
            }
            guard current == section, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            values?[key] = value
        }
        return values
    }
}

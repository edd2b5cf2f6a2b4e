@testable import DNSStoreRoute53
import Foundation
import Testing

/// Where AWS credentials come from, in the order the AWS command line and SDKs use.
@Suite("AWS credentials")
struct CredentialsTests {
    static func home(_ files: [String: String]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("aws-home-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent(".aws"), withIntermediateDirectories: true)
        for (name, text) in files { try text.write(to: dir.appendingPathComponent(".aws/\(name)"), atomically: true, encoding: .utf8) }
        return dir.path
    }

    @Test func theEnvironmentComesFirst() throws {
        let home = try Self.home(["credentials": "[default]\naws_access_key_id = FILE\naws_secret_access_key = file-secret\n"])
        defer { try? FileManager.default.removeItem(atPath: home) }
        let credentials = try AWSCredentials.standard(
            environment: ["AWS_ACCESS_KEY_ID": "ENV", "AWS_SECRET_ACCESS_KEY": "env-secret", "AWS_SESSION_TOKEN": "token"], home: home)
        #expect(credentials == AWSCredentials(accessKeyID: "ENV", secretAccessKey: "env-secret", sessionToken: "token"))
    }

    @Test func aProfileFromTheCredentialsFileThenTheConfigFile() throws {
        let home = try Self.home([
            "credentials": "# keys\n[default]\naws_access_key_id = DEFAULT\naws_secret_access_key = default-secret\n\n[ops]\naws_access_key_id=OPS\naws_secret_access_key=ops-secret\naws_session_token = ops-token\n",
            "config": "[default]\nregion = us-east-1\n[profile other]\naws_access_key_id = OTHER\naws_secret_access_key = other-secret\n",
        ])
        defer { try? FileManager.default.removeItem(atPath: home) }
        #expect(try AWSCredentials.standard(environment: [:], home: home).accessKeyID == "DEFAULT")
        #expect(try AWSCredentials.standard(environment: ["AWS_PROFILE": "ops"], home: home)
            == AWSCredentials(accessKeyID: "OPS", secretAccessKey: "ops-secret", sessionToken: "ops-token"))
        #expect(try AWSCredentials.standard(environment: ["AWS_PROFILE": "other"], home: home).accessKeyID == "OTHER")
    }

    /// Nothing found, or half a key: an error that says where it looked, and no secret.
    @Test func missingOrHalfCredentialsAreNamed() throws {
        let home = try Self.home(["credentials": "[default]\naws_access_key_id = ONLYID\n"])
        defer { try? FileManager.default.removeItem(atPath: home) }
        #expect(throws: AWSCredentialsError.incomplete("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not")) {
            try AWSCredentials.standard(environment: ["AWS_ACCESS_KEY_ID": "X"], home: home)
        }
        do {
            _ = try AWSCredentials.standard(environment: [:], home: home)
            Issue.record("half a key was taken")
        } catch AWSCredentialsError.incomplete(let why) {
            #expect(why.contains("profile 'default'") && why.contains(".aws/credentials") && !why.contains("ONLYID"))
        }
        do {
            _ = try AWSCredentials.standard(environment: ["AWS_PROFILE": "nosuch"], home: home)
            Issue.record("a missing profile gave credentials")
        } catch AWSCredentialsError.missing(let looked) {
            #expect(looked.contains("profile 'nosuch'") && looked.contains(".aws/config"))
        }
    }
}

import DNSWire
import NIOCore

/// Decides whether a datagram or frame answers our request: same ID, a response, and the same
/// question. Anything else is dropped, so a stray or forged packet cannot stand in for the answer.
struct ResponseMatcher: Sendable {
    let id: UInt16
    let opcode: Opcode
    let questions: [Question]
    /// Messages after the first of a zone transfer may leave the question out (RFC 5936 section 2.2.1).
    var allowsEmptyQuestion: Bool

    init(request: Message) {
        id = request.id
        opcode = request.opcode
        questions = request.questions
        allowsEmptyQuestion = request.questions.first.map { $0.type == .axfr || $0.type == .ixfr } ?? false
    }

    enum Verdict {
        case matches(Message)
        case unrelated
        case malformed(DNSWireError)
    }

    func check(_ octets: ByteBuffer) -> Verdict {
        guard Message.peekID(octets) == id else { return .unrelated }
        let message: Message
        do {
            message = try Message(decoding: octets)
        } catch let error as DNSWireError {
            return .malformed(error)
        } catch {
            return .malformed(.truncated("message"))
        }
        guard message.isResponse, message.opcode == opcode else { return .unrelated }
        // Some servers leave the question out of error answers and UPDATE answers.
        let questionOK =
            message.questions == questions
            || (message.questions.isEmpty && (message.rcode != .noError || opcode == .update || allowsEmptyQuestion))
        return questionOK ? .matches(message) : .unrelated
    }
}

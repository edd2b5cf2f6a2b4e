import DNSStore
import Testing

/// Documents are strict JSON (RFC 8259 and I-JSON's unique names and paired surrogates), kept as
/// written minus insignificant whitespace.
@Suite("JSON text")
struct JSONTextTests {
    private func compact(_ text: String) throws -> String {
        String(decoding: try JSONText.compact(Array(text.utf8)), as: UTF8.self)
    }

    private func reason(_ bytes: [UInt8]) -> String? {
        do {
            _ = try JSONText.compact(bytes)
            return nil
        } catch {
            return error.description
        }
    }

    private func reason(_ text: String) -> String? { reason(Array(text.utf8)) }

    @Test func keepsOrderSpellingAndEscapesDroppingOnlyWhitespace() throws {
        #expect(try compact(" { \"b\" : 1 ,\n\t\"a\" : [ 1.50 , -0 , 2e+10 , true , null ] } ") == #"{"b":1,"a":[1.50,-0,2e+10,true,null]}"#)
        #expect(try compact(#""caf\u00e9 \"q\" \/ é""#) == #""caf\u00e9 \"q\" \/ é""#)
        #expect(try compact(#"  "  spaces kept inside  "  "#) == #""  spaces kept inside  ""#)
        #expect(try compact("12345678901234567890123") == "12345678901234567890123")
        #expect(try compact("[]") == "[]")
        #expect(try compact("{ }") == "{}")
        #expect(try compact(#""\ud83d\ude00""#) == #""\ud83d\ude00""#)
    }

    @Test func refusesWhatRFC8259Refuses() {
        #expect(reason(#"{"a":1,}"#) == "a comma before '}' (trailing commas are not JSON) at line 1, column 8")
        #expect(reason("[1,2,]") == "a comma before ']' (trailing commas are not JSON) at line 1, column 6")
        #expect(reason([0xEF, 0xBB, 0xBF] + Array("{}".utf8))?.hasPrefix("the text starts with a UTF-8 byte-order mark") == true)
        #expect(reason("") == "no JSON value (the text is empty) at line 1, column 1")
        #expect(reason("  \n ") == "no JSON value (the text is empty) at line 2, column 2")
        #expect(reason("{\"a\":1}\n{\"b\":2}") == "text after the JSON value: '{' at line 2, column 1")
        #expect(reason("01") == "numbers must not have leading zeros at line 1, column 1")
        #expect(reason("1.") == "a number needs digits after '.' at line 1, column 3")
        #expect(reason(".5") == "unexpected '.' at line 1, column 1")
        #expect(reason("1e") == "a number needs digits in its exponent at line 1, column 3")
        #expect(reason("-") == "a number needs a digit after '-' at line 1, column 2")
        #expect(reason("NaN") == "'NaN' is not a JSON value (strings need double quotes) at line 1, column 1")
        #expect(reason("{a:1}") == "expected a member name in double quotes, found 'a' at line 1, column 2")
        #expect(reason("['x']") == "unexpected a single quote (strings need double quotes) at line 1, column 2")
        #expect(reason("{\"a\" 1}") == "expected ':' after the member name, found '1' at line 1, column 6")
        #expect(reason("[1 2]") == "expected ',' or the end of the container, found '2' at line 1, column 4")
        #expect(reason("{\"a\":1]") == "expected ',' or the end of the container, found ']' at line 1, column 7")
        #expect(reason("{\"a\":}") == "expected a value, found '}' at line 1, column 6")
        #expect(reason("[") == "unexpected end of the text at line 1, column 2")
        #expect(reason("\"open") == "a string is not closed at line 1, column 1")
        #expect(reason("\"tab\there\"") == "the control character U+0009 must be escaped inside a string at line 1, column 5")
        #expect(reason(#""\x""#) == #"\x is not a JSON escape at line 1, column 2"#)
        #expect(reason(#""\u12""#) == #"\u needs four hex digits at line 1, column 2"#)
        #expect(reason("truex") == "'truex' is not a JSON value (strings need double quotes) at line 1, column 1")
    }

    @Test func refusesWhatIJSONRefuses() {
        #expect(reason(#"{"a":1,"a":2}"#) == #"the member name "a" appears twice in one object at line 1, column 8"#)
        // The same name spelled with an escape is the same name.
        #expect(reason(#"{"a":1,"\u0061":2}"#) == #"the member name "a" appears twice in one object at line 1, column 8"#)
        // Nested objects have names of their own.
        #expect(reason(#"{"a":{"a":1},"b":{"a":2}}"#) == nil)
        #expect(reason(#""\ud800""#) == #"the escape \uD800 is an unpaired surrogate at line 1, column 2"#)
        #expect(reason(#""\udc00x""#) == #"the escape \uDC00 is an unpaired surrogate at line 1, column 2"#)
        #expect(reason(#""\ud800\u0041""#) == #"the escape \uD800 is an unpaired surrogate at line 1, column 2"#)
    }

    @Test func refusesOctetsThatAreNotUTF8() {
        for bad: [UInt8] in [[0xFF], [0xC0, 0xAF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xC3]] {
            #expect(reason([0x22] + bad + [0x22]) == "the text is not valid UTF-8 at line 1, column 2", "\(bad)")
        }
        #expect(reason([0x22, 0xC3, 0xA9, 0x22]) == nil)
        #expect(reason([0x22, 0xF0, 0x9F, 0x98, 0x80, 0x22]) == nil)
    }

    @Test func boundsNesting() {
        let deep = String(repeating: "[", count: JSONText.maxDepth) + String(repeating: "]", count: JSONText.maxDepth)
        #expect(reason(deep) == nil)
        let deeper = "[" + deep + "]"
        #expect(reason(deeper) == "containers nest deeper than 512 levels at line 1, column 513")
        // A million openers fail fast instead of exhausting the stack.
        #expect(reason(String(repeating: "[", count: 1_000_000)) != nil)
    }

    @Test func prettyKeepsOrderAndSpelling() {
        let pretty = JSONText.pretty(Array(#"{"b":[1.50,{}],"a":{"x":[]},"c":"\u00e9"}"#.utf8)).map { String(decoding: $0, as: UTF8.self) }
        #expect(pretty == """
            {
              "b": [
                1.50,
                {}
              ],
              "a": {
                "x": []
              },
              "c": "\\u00e9"
            }
            """)
        #expect(JSONText.pretty(Array("{,}".utf8)) == nil)
    }

    @Test func membersGiveTheRawValueOfEachTopLevelName() throws {
        let line = Array(#"{"id":"a\"b","version":3,"doc":{"k":[1, 2]},"x":null}"#.utf8)
        let members = try JSONText.members(ofObject: line)
        #expect(members.map(\.name) == ["id", "version", "doc", "x"])
        #expect(JSONText.stringValue(line[members[0].value]) == "a\"b")
        #expect(String(decoding: line[members[2].value], as: UTF8.self) == #"{"k":[1, 2]}"#)
        #expect(JSONText.stringValue(line[members[1].value]) == nil)
        #expect(throws: JSONText.SyntaxError.self) { try JSONText.members(ofObject: Array("[1]".utf8)) }
    }

    @Test func stringsEncodeToJSONThatDecodesBack() throws {
        for text in ["plain", "quote \" and \\ backslash", "line\nbreak\ttab\r", "\u{01}\u{1F}", "日本 😀", ""] {
            let encoded = JSONText.string(text)
            #expect(JSONText.isValid(encoded))
            #expect(JSONText.stringValue(encoded[...]) == text)
        }
    }
}

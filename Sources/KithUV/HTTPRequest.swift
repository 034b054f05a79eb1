/// One parsed HTTP request, as a route handler sees it. Every part is bounded by `HTTPServer.Settings`
/// before it is built, and bytes that are not UTF-8 are repaired, never trapped on.
public struct HTTPRequest: Sendable {
    /// The method as sent, e.g. "GET" (http_parser only accepts the methods it knows).
    public let method: String
    /// The path of the request target, still percent-encoded, e.g. "/api/v1/members".
    public let path: String
    /// What follows '?' in the target, without the fragment; "" when there is none.
    public let query: String
    /// Header fields in arrival order, names lowercased.
    public let headers: [(name: String, value: String)]
    public let body: [UInt8]
    /// The client as "ip:port", as `StreamConnection.peerAddress` gives it.
    public internal(set) var peerAddress = ""

    init(method: String, path: String, query: String, headers: [(name: String, value: String)], body: [UInt8]) {
        self.method = method
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
    }

    /// HEAD asks for GET's headers without its body.
    public var isHead: Bool { method == "HEAD" }

    /// The first value of the header `name` (case-insensitive), if present.
    public func header(_ name: String) -> String? {
        let name = name.lowercased()
        return headers.first { $0.name == name }?.value
    }

    /// The query's `name=value` pairs in order, percent-decoded, '+' read as a space; a pair without
    /// '=' has an empty value, and a malformed escape is kept as written.
    public var queryItems: [(name: String, value: String)] {
        query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (percentDecoded(parts[0]), parts.count > 1 ? percentDecoded(parts[1]) : "")
        }
    }

    /// The first value of the query parameter `name`, if present.
    public func queryItem(_ name: String) -> String? {
        queryItems.first { $0.name == name }?.value
    }
}

/// Decodes %XX escapes and '+' in one query component.
private func percentDecoded(_ component: Substring) -> String {
    var bytes: [UInt8] = []
    let utf8 = Array(component.utf8)
    var index = 0
    while index < utf8.count {
        let byte = utf8[index]
        if byte == UInt8(ascii: "%"), index + 2 < utf8.count,
           let high = hexValue(utf8[index + 1]), let low = hexValue(utf8[index + 2]) {
            bytes.append(high << 4 | low)
            index += 3
        } else {
            bytes.append(byte == UInt8(ascii: "+") ? UInt8(ascii: " ") : byte)
            index += 1
        }
    }
    return String(decoding: bytes, as: UTF8.self)
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

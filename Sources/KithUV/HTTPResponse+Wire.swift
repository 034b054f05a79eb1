extension HTTPResponse {
    /// The status line and header block. `contentLength` is written when given (nil for a stream, which the
    /// connection's close delimits); `keepAlive` false adds `Connection: close`.
    func head(contentLength: Int?, keepAlive: Bool) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(reasonPhrase(status))\r\n"
        for (name, value) in headers {
            head += "\(withoutLineBreaks(name)): \(withoutLineBreaks(value))\r\n"
        }
        if let contentLength { head += "Content-Length: \(contentLength)\r\n" }
        if !keepAlive { head += "Connection: close\r\n" }
        head += "\r\n"
        return Array(head.utf8)
    }

    /// The whole message for a `.bytes` body (head only for HEAD); nil for an event stream.
    func message(keepAlive: Bool, omittingBody: Bool) -> [UInt8]? {
        guard case .bytes(let body) = body else { return nil }
        assert(status != 204 || body.isEmpty, "a 204 response has no body")
        // RFC 9110 8.6: no Content-Length on a 204 (its empty body is implied).
        return head(contentLength: status == 204 ? nil : body.count, keepAlive: keepAlive) + (omittingBody ? [] : body)
    }
}

/// Header text with CR and LF removed, so a value taken from a request or an agent cannot split the response.
private func withoutLineBreaks(_ text: String) -> String {
    guard text.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\r\n" }) else { return text }
    return String(text.unicodeScalars.filter { $0 != "\r" && $0 != "\n" })
}

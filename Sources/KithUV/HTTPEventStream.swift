/// One Server-Sent Events frame (the WHATWG `text/event-stream` format): an optional `event:` type and
/// `id:`, and data that may span lines, each sent as its own `data:` line.
public struct ServerSentEvent: Sendable, Equatable {
    public var event: String?
    public var data: String
    public var id: String?

    public init(event: String? = nil, data: String, id: String? = nil) {
        self.event = event
        self.data = data
        self.id = id
    }

    /// The frame on the wire, ending in the blank line that dispatches it. Line breaks inside `event`
    /// and `id` are removed (they would end the field early); CR, LF and CRLF in `data` start a new
    /// `data:` line, which the client joins back with "\n".
    public var encoded: [UInt8] {
        var text = ""
        if let event { text += "event: \(singleLine(event))\n" }
        if let id { text += "id: \(singleLine(id))\n" }
        for line in dataLines { text += "data: \(line)\n" }
        text += "\n"
        return Array(text.utf8)
    }

    private var dataLines: [Substring] {
        var lines: [Substring] = []
        var rest = Substring(data)
        while let end = rest.firstIndex(where: { $0 == "\r\n" || $0 == "\n" || $0 == "\r" }) {
            lines.append(rest[..<end])
            rest = rest[rest.index(after: end)...]
        }
        lines.append(rest)
        return lines
    }
}

private func singleLine(_ text: String) -> String {
    String(text.unicodeScalars.filter { $0 != "\r" && $0 != "\n" })
}

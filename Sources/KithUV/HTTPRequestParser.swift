import CHTTPParser

/// Turns one connection's bytes into requests with http_parser, enforcing the server's bounds while
/// the bytes arrive (before anything is kept), so a peer can never make it hold more than
/// `headerBytesMax + bodyBytesMax`. After a rejection it ignores everything else.
final class HTTPRequestParser {
    enum Outcome {
        /// A complete request; `keepAlive` false means answer it, then close.
        case request(HTTPRequest, keepAlive: Bool)
        /// The bytes cannot be (400) or will not be (408, 413, 431) served; answer with `status`, then close.
        case rejected(status: Int, reason: String)
    }

    /// Whether bytes of a request that has not completed yet have arrived.
    private(set) var hasPartialRequest = false

    private let parser = UnsafeMutablePointer<http_parser>.allocate(capacity: 1)
    private var callbacks = http_parser_settings()
    private let headerBytesMax: Int
    private let headersCountMax: Int
    private let bodyBytesMax: Int

    // The request being parsed.
    private var target: [UInt8] = []
    private var fields: [(name: [UInt8], value: [UInt8])] = []
    private var isReadingValue = false
    private var headerBytes = 0
    private var body: [UInt8] = []
    private var keepAlive = true

    private var outcomes: [Outcome] = []
    /// Set by a callback that refuses the request, which stops http_parser.
    private var refusal: (status: Int, reason: String)?
    private var hasFailed = false

    init(headerBytesMax: Int, headersCountMax: Int, bodyBytesMax: Int) {
        self.headerBytesMax = headerBytesMax
        self.headersCountMax = headersCountMax
        self.bodyBytesMax = bodyBytesMax
        http_parser_init(parser, HTTP_REQUEST)
        http_parser_settings_init(&callbacks)
        callbacks.on_message_begin = { activeParser($0).beginMessage() }
        callbacks.on_url = { activeParser($0).append(to: \.target, $1, $2) }
        callbacks.on_header_field = { activeParser($0).appendField($1, $2) }
        callbacks.on_header_value = { activeParser($0).appendValue($1, $2) }
        callbacks.on_headers_complete = { activeParser($0).completeHeaders() }
        callbacks.on_body = { activeParser($0).appendBody($1, $2) }
        callbacks.on_message_complete = { activeParser($0).completeMessage() }
    }

    deinit {
        parser.deallocate()
    }

    /// The requests `bytes` completes, in order, and at most one rejection, which ends the stream.
    func feed(_ bytes: [UInt8]) -> [Outcome] {
        guard !hasFailed, !bytes.isEmpty else { return [] }
        parser.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let parsed = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { http_parser_execute(parser, &callbacks, $0.baseAddress, $0.count) }
        }
        parser.pointee.data = nil
        let error = parser.pointee.http_errno
        if error != HPE_OK.rawValue {
            hasFailed = true
            if let refusal {
                outcomes.append(.rejected(status: refusal.status, reason: refusal.reason))
            } else {
                let name = String(cString: http_errno_name(http_errno(rawValue: error)))
                outcomes.append(.rejected(status: error == HPE_HEADER_OVERFLOW.rawValue ? 431 : 400, reason: name))
            }
        } else if parsed < bytes.count {
            // An upgrade (the request was answered with keep-alive off): what follows is not HTTP.
            hasFailed = true
        }
        defer { outcomes = [] }
        return outcomes
    }

    // MARK: - http_parser callbacks; a non-zero return stops the parser.

    private func beginMessage() -> Int32 {
        hasPartialRequest = true
        target = []
        fields = []
        isReadingValue = false
        headerBytes = 0
        body = []
        return 0
    }

    private func append(to part: ReferenceWritableKeyPath<HTTPRequestParser, [UInt8]>,
                        _ at: UnsafePointer<CChar>?, _ count: Int) -> Int32 {
        headerBytes += count
        guard headerBytes <= headerBytesMax else {
            return refuse(431, "request head over \(headerBytesMax) bytes")
        }
        self[keyPath: part].append(contentsOf: UnsafeRawBufferPointer(start: at, count: count))
        return 0
    }

    private func appendField(_ at: UnsafePointer<CChar>?, _ count: Int) -> Int32 {
        if isReadingValue || fields.isEmpty {
            guard fields.count < headersCountMax else {
                return refuse(431, "more than \(headersCountMax) header fields")
            }
            fields.append(([], []))
            isReadingValue = false
        }
        headerBytes += count
        guard headerBytes <= headerBytesMax else { return refuse(431, "request head over \(headerBytesMax) bytes") }
        fields[fields.count - 1].name.append(contentsOf: UnsafeRawBufferPointer(start: at, count: count))
        return 0
    }

    private func appendValue(_ at: UnsafePointer<CChar>?, _ count: Int) -> Int32 {
        isReadingValue = true
        headerBytes += count
        guard headerBytes <= headerBytesMax else { return refuse(431, "request head over \(headerBytesMax) bytes") }
        fields[fields.count - 1].value.append(contentsOf: UnsafeRawBufferPointer(start: at, count: count))
        return 0
    }

    private func completeHeaders() -> Int32 {
        let hasLength = parser.pointee.flags & UInt32(F_CONTENTLENGTH.rawValue) != 0
        if hasLength, parser.pointee.content_length > UInt64(bodyBytesMax) {
            return refuse(413, "body of \(parser.pointee.content_length) bytes over \(bodyBytesMax)")
        }
        keepAlive = http_should_keep_alive(parser) != 0 && parser.pointee.upgrade == 0
        return 0
    }

    private func appendBody(_ at: UnsafePointer<CChar>?, _ count: Int) -> Int32 {
        guard body.count + count <= bodyBytesMax else { return refuse(413, "body over \(bodyBytesMax) bytes") }
        body.append(contentsOf: UnsafeRawBufferPointer(start: at, count: count))
        return 0
    }

    private func completeMessage() -> Int32 {
        hasPartialRequest = false
        guard let (path, query) = splitTarget() else { return refuse(400, "unparsable request target") }
        let method = String(cString: http_method_str(http_method(rawValue: parser.pointee.method)))
        let headers = fields.map { field in
            (String(decoding: field.name, as: UTF8.self).lowercased(), String(decoding: field.value, as: UTF8.self))
        }
        outcomes.append(.request(HTTPRequest(method: method, path: path, query: query, headers: headers, body: body),
                                 keepAlive: keepAlive))
        return 0
    }

    private func refuse(_ status: Int, _ reason: String) -> Int32 {
        refusal = (status, reason)
        return -1
    }

    /// The path and query of the request target, split by http_parser_parse_url; nil if it rejects it.
    private func splitTarget() -> (path: String, query: String)? {
        var url = http_parser_url()
        http_parser_url_init(&url)
        let failed = target.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { http_parser_parse_url($0.baseAddress, $0.count, 0, &url) }
        }
        guard failed == 0 else { return nil }
        func part(_ field: http_parser_url_fields) -> String {
            guard url.field_set & UInt16(1 << field.rawValue) != 0 else { return "" }
            // Swift does not import the array of anonymous structs, so read the C layout directly:
            // field_set, port, then an (offset, length) pair of UInt16 per field.
            let (offset, length) = withUnsafeBytes(of: url) { raw in
                let slots = raw.bindMemory(to: UInt16.self)
                let slot = 2 + 2 * Int(field.rawValue)
                return slot + 1 < slots.count ? (Int(slots[slot]), Int(slots[slot + 1])) : (0, 0)
            }
            guard offset + length <= target.count else { return "" }
            return String(decoding: target[offset..<(offset + length)], as: UTF8.self)
        }
        let path = part(UF_PATH)
        return (path.isEmpty ? "/" : path, part(UF_QUERY))
    }
}

/// The parser whose callback is running.
private func activeParser(_ parser: UnsafeMutablePointer<http_parser>?) -> HTTPRequestParser {
    Unmanaged<HTTPRequestParser>.fromOpaque(parser!.pointee.data).takeUnretainedValue()
}

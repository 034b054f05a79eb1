/// Splits "host:port" or "[ipv6]:port" (the form `TCPConnection.peerAddress` produces) into its parts.
/// Returns nil for anything malformed: an empty host, an unbracketed host containing ':', stray
/// brackets, or a port that is not 1–5 decimal digits in 0...65535.
public func parseHostPort(_ text: String) -> (host: String, port: UInt16)? {
    guard let colon = text.lastIndex(of: ":") else { return nil }
    var host = text[..<colon]
    let portText = text[text.index(after: colon)...]
    if host.count >= 2, host.hasPrefix("["), host.hasSuffix("]") {
        host = host.dropFirst().dropLast()
    } else if host.contains(":") {
        return nil
    }
    guard !host.isEmpty, !host.contains("["), !host.contains("]"),
          (1...5).contains(portText.utf8.count), portText.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
          let port = UInt16(portText)
    else { return nil }
    return (String(host), port)
}

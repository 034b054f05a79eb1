import Foundation
import KithControl

extension LabNode {
    /// The file holding the daemon's HTTP bearer token (`--http-token-file` in its args), nil without one.
    package var httpTokenFile: String? {
        guard let flag = args.lastIndex(of: "--http-token-file"), flag + 1 < args.count else { return nil }
        return args[flag + 1]
    }
}

/// The dashboard's address for an operator to open.
package enum DashboardURL {
    /// `http://HOST:PORT/`, with `#token=...` when the endpoint wants a bearer token: a fragment is never
    /// sent to the server (so no request line or log holds it), and the page reads it from there.
    package static func url(http: String, tokenFile: String?) throws -> String {
        guard let tokenFile else { return "http://\(http)/" }
        guard let data = FileManager.default.contents(atPath: tokenFile) else {
            throw Failure("cannot read the HTTP token file \(tokenFile) (the node's --http-token-file)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingSpaces  // as kithd trims it
        guard !token.isEmpty else { throw Failure("the HTTP token file \(tokenFile) is empty") }
        return "http://\(http)/#token=" + fragmentEncoded(token)
    }

    /// `text` with everything but RFC 3986 unreserved characters percent-encoded, so that `&`, `#` or
    /// spaces in a token survive the page's `decodeURIComponent`.
    static func fragmentEncoded(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128)))
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

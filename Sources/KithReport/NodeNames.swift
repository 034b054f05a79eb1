/// How node names sort wherever they are listed.
package enum NodeNames {
    /// n2 before n10: names compared by their text, with digit runs compared as numbers.
    package static func order(_ a: String, _ b: String) -> Bool {
        func key(_ name: String) -> [(String, Int)] {
            var parts: [(String, Int)] = []
            var text = ""
            var digits = ""
            for character in name {
                if character.isASCII && character.isNumber {
                    digits.append(character)
                } else {
                    if !digits.isEmpty { parts.append((text, Int(digits) ?? 0)); text = ""; digits = "" }
                    text.append(character)
                }
            }
            parts.append((text, Int(digits) ?? -1))
            return parts
        }
        let (ka, kb) = (key(a), key(b))
        for (x, y) in zip(ka, kb) where x != y {
            return x.0 != y.0 ? x.0 < y.0 : x.1 < y.1
        }
        return ka.count != kb.count ? ka.count < kb.count : a < b
    }
}

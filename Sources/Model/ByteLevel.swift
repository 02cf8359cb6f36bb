/// GPT-2's byte-to-unicode table, which byte-level BPE vocabularies (Hugging Face `ByteLevel`, llama.cpp's "gpt2"
/// model) spell their tokens in: the printable bytes `!`..`~`, `¡`..`¬`, `®`..`ÿ` stand for themselves, the other
/// 68 bytes, in increasing order, for U+0100, U+0101, ... (so space is `Ġ` U+0120 and newline `Ċ` U+010A).
enum ByteLevel {
    /// The character that stands for each byte value.
    static let symbols: [Unicode.Scalar] = {
        var symbols = [Unicode.Scalar](repeating: "\0", count: 256)
        var extra: UInt32 = 0
        for b in 0..<256 {
            let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
            if printable {
                symbols[b] = Unicode.Scalar(UInt8(b))
            } else {
                symbols[b] = Unicode.Scalar(0x100 + extra)!
                extra += 1
            }
        }
        return symbols
    }()

    /// The byte a character stands for, nil for a character outside the table.
    static func byte(of c: Unicode.Scalar) -> UInt8? {
        let v = c.value
        if v < 0x100 {
            let b = UInt8(v)
            return symbols[Int(b)] == c ? b : nil
        }
        return v < 0x144 ? byteOfExtra[Int(v - 0x100)] : nil
    }

    /// The bytes U+0100 + n stand for, n = 0..<68.
    private static let byteOfExtra: [UInt8] = (0..<256).filter { symbols[$0].value >= 0x100 }.map { UInt8($0) }

    /// The bytes a vocabulary token stands for. Like Hugging Face's ByteLevel decoder, a token with a character
    /// outside the table (not a byte-level token) gives its own UTF-8.
    static func decode(_ token: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(token.unicodeScalars.count)
        for c in token.unicodeScalars {
            guard let b = byte(of: c) else { return Array(token.utf8) }
            out.append(b)
        }
        return out
    }
}

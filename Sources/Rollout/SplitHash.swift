/// FNV-1a (64 bit) of the UTF-8 bytes: the split hash. Stable by definition, unlike `Hasher`.
public func fnv1a64(_ text: String) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for b in text.utf8 {
        h ^= UInt64(b)
        h = h &* 0x0000_0100_0000_01B3
    }
    return h
}

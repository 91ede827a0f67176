// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as used by zlib, PNG
// and GitHub's token checksums. Only an error-detecting code: it catches
// typos and truncation offline, it is not a MAC.

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

// The table's entries differ in their top byte, so a step can be undone:
// INDEX[top byte of an entry] is the entry's index.
const INDEX = (() => {
  const t = new Uint8Array(256);
  for (let n = 0; n < 256; n++) t[TABLE[n]! >>> 24] = n;
  return t;
})();

/** CRC-32 of a string of ASCII characters (callers guarantee ASCII), or of its first `end` characters. */
export function crc32Ascii(s: string, end: number = s.length): number {
  let c = 0xffffffff;
  for (let i = 0; i < end; i++) c = TABLE[(c ^ s.charCodeAt(i)) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * CRC-32 run backwards: given the CRC-32 of a text followed by the ASCII
 * characters `s[from..to)`, the CRC-32 of the text alone. So
 * `crc32Unappend(crc32Ascii(x + y), y, 0, y.length) === crc32Ascii(x)`, and
 * a text ending in `y` whose CRC is known starts at the characters before `y`
 * after which the unwound CRC is 0 (the CRC of the empty text): one pass
 * backwards tests every start at once.
 */
export function crc32Unappend(crc: number, s: string, from: number, to: number): number {
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = to - 1; i >= from; i--) {
    // Forward: c' = TABLE[j] ^ (c >>> 8) with j = (c ^ byte) & 0xff; c >>> 8 has no top byte, so c' has TABLE[j]'s.
    const j = INDEX[c >>> 24]!;
    c = (((c ^ TABLE[j]!) << 8) | (j ^ s.charCodeAt(i))) >>> 0;
  }
  return (c ^ 0xffffffff) >>> 0;
}

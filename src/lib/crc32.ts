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

/** CRC-32 of a string of ASCII characters (callers guarantee ASCII), or of its first `end` characters. */
export function crc32Ascii(s: string, end: number = s.length): number {
  let c = 0xffffffff;
  for (let i = 0; i < end; i++) c = TABLE[(c ^ s.charCodeAt(i)) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

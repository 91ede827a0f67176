// ECDSA signatures arrive DER-encoded (an ASN.1 SEQUENCE of two INTEGERs,
// RFC 3279 §2.2.3); WebCrypto verifies the fixed-size r || s form (IEEE
// P1363). This converts one to the other, refusing anything malformed.

/**
 * The r || s form (2 × `size` bytes) of a DER ECDSA signature, or null when
 * `der` is not exactly one well-formed SEQUENCE { INTEGER r, INTEGER s }.
 */
export function derToP1363(der: Uint8Array, size: number): Uint8Array<ArrayBuffer> | null {
  // SEQUENCE, short-form length (a P-256 signature is at most 72 bytes).
  if (der.length < 8 || der[0] !== 0x30 || der[1] !== der.length - 2 || der[1]! >= 0x80) return null;
  const out = new Uint8Array(2 * size);
  let at = 2;
  for (let i = 0; i < 2; i++) {
    if (der[at] !== 0x02) return null;
    const len = der[at + 1]!;
    const start = at + 2;
    if (len === 0 || len >= 0x80 || start + len > der.length) return null;
    let int = der.subarray(start, start + len);
    // DER: a leading zero only when the next byte has its high bit set.
    if (int[0]! & 0x80) return null;
    if (int[0] === 0 && int.length > 1) {
      if (!(int[1]! & 0x80)) return null;
      int = int.subarray(1);
    }
    if (int.length > size) return null;
    out.set(int, (i + 1) * size - int.length);
    at = start + len;
  }
  return at === der.length ? out : null;
}

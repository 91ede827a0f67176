// ECDSA signatures arrive DER-encoded (an ASN.1 SEQUENCE of two INTEGERs,
// RFC 3279 §2.2.3); WebCrypto verifies the fixed-size r || s form (IEEE
// P1363). This converts one to the other, refusing anything malformed; and
// tells an ECDSA P-256 public key (SubjectPublicKeyInfo) from any other.

/**
 * DER prefix of the SubjectPublicKeyInfo of a P-256 key (RFC 5480): algorithm
 * id-ecPublicKey (1.2.840.10045.2.1) with the curve prime256v1
 * (1.2.840.10045.3.1.7), then a BIT STRING of the uncompressed point (04);
 * its two 32-byte coordinates follow.
 */
const SPKI_P256 = [
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42,
  0x00, 0x04,
];
/** P-256's field prime and curve constant b (y² = x³ − 3x + b, FIPS 186-4 D.1.2.3). */
const P = 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n;
const B = 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn;

/**
 * Whether `der` is exactly the SubjectPublicKeyInfo of an ECDSA P-256 key,
 * with an uncompressed point on the curve: what WebCrypto imports as
 * `{ name: "ECDSA", namedCurve: "P-256" }`, checked without it (synchronously).
 */
export function isP256PublicKey(der: Uint8Array): boolean {
  if (der.length !== SPKI_P256.length + 64 || SPKI_P256.some((b, i) => der[i] !== b)) return false;
  const x = toBigInt(der.subarray(SPKI_P256.length, SPKI_P256.length + 32));
  const y = toBigInt(der.subarray(SPKI_P256.length + 32));
  return x < P && y < P && (y * y) % P === (((x * x) % P) * x - 3n * x + B + 3n * P) % P;
}

function toBigInt(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

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

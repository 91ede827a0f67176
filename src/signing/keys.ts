// Validation of key material handed to the signer and returned by resolveKey.
import * as ed from "@noble/ed25519";
import { sha512 } from "@noble/hashes/sha2.js";
import type { SigningKey, VerifyingKey } from "./types.js";

/** Shortest HMAC secret accepted: 128 bits (RFC 2104 §3 wants at least the hash output for full strength). */
export const MIN_HMAC_SECRET_BYTES = 16;

/** True for a WebCrypto CryptoKey (false where the runtime has no WebCrypto). */
export function isCryptoKey(k: unknown): k is CryptoKey {
  return typeof CryptoKey !== "undefined" && k instanceof CryptoKey;
}

function cryptoKeyFits(k: CryptoKey, name: "Ed25519" | "HMAC", type: KeyType | "secret"): boolean {
  if (k.algorithm.name !== name || k.type !== type) return false;
  return name !== "HMAC" || (k.algorithm as HmacKeyAlgorithm).hash?.name === "SHA-256";
}

/** The length in bytes of an HMAC secret, raw or a CryptoKey (whose algorithm gives it in bits; 0 if it does not). */
export function hmacSecretBytes(secret: Uint8Array | CryptoKey): number {
  return isCryptoKey(secret) ? Math.floor(((secret.algorithm as HmacKeyAlgorithm).length || 0) / 8) : secret.length;
}

/** Gives @noble/ed25519's synchronous API its SHA-512: once, lazily, never at import. */
export function nobleReady(): void {
  if (!ed.hashes.sha512) ed.hashes.sha512 = sha512;
}

/**
 * The point of an Ed25519 public key, or why it is refused. Decoding is
 * strict RFC 8032 §5.1.3 (y < p; x = 0 with the sign bit set is refused), and
 * a point of small order (the identity and the 7 other torsion points) is
 * refused: with such a key a signature can verify whatever the message
 * (R = identity, S = 0 for a message whose hash is a multiple of the order),
 * and OpenSSL 3.0 (Node 22's) does not check it. Every backend's verify applies
 * this once per key (it costs ~0.1 ms); tokens.create and update too.
 */
export function ed25519PublicPoint(bytes: Uint8Array): ed.Point | string {
  let point: ed.Point;
  try {
    if (bytes.length !== 32) throw new RangeError("not 32 bytes");
    point = ed.Point.fromBytes(bytes, false);
  } catch {
    return "is not a canonical encoding of a point on the ed25519 curve (RFC 8032 §5.1.3)";
  }
  return point.isSmallOrder() ? "is a point of small order, which can never be a legitimate public key" : point;
}

/** y of the 4 points of order 8 (RFC 8032 §5.1.2 encoding, sign bit clear). */
const ORDER_8_Y = [
  [
    0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc,
    0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
  ],
  [
    0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33,
    0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05,
  ],
];

/**
 * Whether the first 32 bytes of `bytes` are an encoding of one of the 8
 * points of small order, those {@link ed25519PublicPoint} refuses, canonical
 * or not: y = 0, 1, p - 1 or the two y of order 8, and y = p, p + 1 (0 and 1
 * again), with either sign bit (libsodium's list). Byte comparisons only, no
 * decoding: for a random R it stops after a byte or two. Verifying
 * refuses a signature whose R is one, whatever the backend: with S = [k]a it
 * satisfies the cofactorless equation (R = identity), which OpenSSL refuses
 * and BoringSSL and noble accept.
 */
export function isSmallOrderEncoding(bytes: Uint8Array): boolean {
  const first = bytes[0]!;
  const last = bytes[31]! & 0x7f;
  if (first <= 0x01 || (first >= 0xec && first <= 0xee)) {
    // y = 0 or 1: zeros follow; y = p - 1, p or p + 1: 0xff, then 0x7f.
    const fill = first <= 0x01 ? 0x00 : 0xff;
    if (last !== (fill & 0x7f)) return false;
    for (let i = 1; i < 31; i++) if (bytes[i] !== fill) return false;
    return true;
  }
  for (const y of ORDER_8_Y) {
    if (first !== y[0] || last !== y[31]) continue;
    let i = 1;
    while (i < 31 && bytes[i] === y[i]) i++;
    if (i === 31) return true;
  }
  return false;
}

/**
 * Checks a signing key's shape.
 *
 * @throws {TypeError} for an unknown alg or a key of the wrong type.
 * @throws {RangeError} for a seed that is not 32 bytes or an HMAC secret (bytes or CryptoKey) shorter than 16 bytes.
 */
export function checkSigningKey(key: SigningKey): SigningKey {
  if (key === null || typeof key !== "object") throw new TypeError("key must be an object");
  if (key.alg === "ed25519") {
    const k = key.privateKey;
    if (isCryptoKey(k)) {
      if (!cryptoKeyFits(k, "Ed25519", "private")) throw new TypeError("key.privateKey must be an Ed25519 private CryptoKey");
    } else if (!(k instanceof Uint8Array)) {
      throw new TypeError("key.privateKey must be a Uint8Array (32-byte seed) or a CryptoKey");
    } else if (k.length !== 32) {
      throw new RangeError("key.privateKey must be a 32-byte Ed25519 seed");
    }
    return key;
  }
  if (key.alg === "hmac-sha256") {
    const k = key.secret;
    if (isCryptoKey(k)) {
      if (!cryptoKeyFits(k, "HMAC", "secret")) throw new TypeError("key.secret must be an HMAC SHA-256 CryptoKey");
    } else if (!(k instanceof Uint8Array)) {
      throw new TypeError("key.secret must be a Uint8Array or a CryptoKey");
    }
    if (hmacSecretBytes(k) < MIN_HMAC_SECRET_BYTES) throw new RangeError(`key.secret must be at least ${MIN_HMAC_SECRET_BYTES} bytes`);
    return key;
  }
  throw new TypeError('key.alg must be "ed25519" or "hmac-sha256"');
}

/**
 * The key if `resolveKey` returned a usable one, else null (never throws).
 * Its shape only: an Ed25519 public key that {@link ed25519PublicPoint}
 * refuses passes here, and no signature verifies under it.
 */
export function usableVerifyingKey(key: unknown): VerifyingKey | null {
  try {
    if (key === null || typeof key !== "object") return null;
    const k = key as VerifyingKey;
    if (k.alg === "ed25519") {
      const p = k.publicKey;
      if (isCryptoKey(p)) return cryptoKeyFits(p, "Ed25519", "public") ? k : null;
      return p instanceof Uint8Array && p.length === 32 ? k : null;
    }
    if (k.alg === "hmac-sha256") {
      const s = k.secret;
      const fits = isCryptoKey(s) ? cryptoKeyFits(s, "HMAC", "secret") : s instanceof Uint8Array;
      return fits && hmacSecretBytes(s) >= MIN_HMAC_SECRET_BYTES ? k : null;
    }
    return null;
  } catch {
    return null;
  }
}

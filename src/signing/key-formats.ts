// Ed25519 keys in the forms people have them: raw bytes (RFC 8032 §5.1.5
// seed / §5.1.2 public key), PEM (PKCS #8 / SPKI, RFC 8410 §7 and §4), JWK
// (OKP, RFC 8037 §2) and node:crypto KeyObject. Runtime-agnostic: a
// KeyObject is recognised by shape and asked for its JWK, no node: import.
// CryptoKeys are used as they are by the signer and the verifier.
import { getPublicKey } from "@noble/ed25519";
import { equalBytes, fromBase64 } from "../lib/bytes.js";
import { nobleReady } from "./keys.js";

/** DER prefix of a PKCS #8 Ed25519 private key (RFC 8410 §7); the 32-byte seed follows. */
export const PKCS8_ED25519 = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
/** DER prefix of an SPKI Ed25519 public key (RFC 8410 §4); the 32-byte key follows. */
const SPKI_ED25519 = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/** An Ed25519 JWK (RFC 8037 §2): `x` is the public key, `d` the private seed, both base64url. */
export interface Ed25519Jwk {
  kty: "OKP";
  crv: "Ed25519";
  x?: string | undefined;
  d?: string | undefined;
  /** When present, `"sig"`: a JWK for encryption is refused, as WebCrypto refuses it. */
  use?: string | undefined;
  /** When present, must name `"sign"` (a private key) or `"verify"` (a public key), as WebCrypto requires. */
  key_ops?: string[] | undefined;
}

/** The part of a node:crypto `KeyObject` that is read. */
export interface KeyObjectLike {
  readonly type: string;
  readonly asymmetricKeyType?: string | undefined;
  /** The key as a JWK (`KeyObject.export({ format: "jwk" })`). */
  export(options: { format: "jwk" }): unknown;
}

/** Ways to give an Ed25519 private key: the 32-byte seed, PKCS #8 PEM, a JWK with `d`, or a KeyObject. */
export type Ed25519PrivateKeyInput = Uint8Array | string | Ed25519Jwk | KeyObjectLike;
/** Ways to give an Ed25519 public key: 32 bytes, base64url of them, SPKI PEM, a JWK with `x`, or a KeyObject. */
export type Ed25519PublicKeyInput = Uint8Array | string | Ed25519Jwk | KeyObjectLike;

const MAX_PEM_LENGTH = 1024;

/**
 * One PEM block (RFC 7468 §3, strict: nothing around it but whitespace), its
 * label and base64 text. No two quantifiers can match the same character.
 */
const PEM = /^\s*-----BEGIN ([A-Z0-9 ]+)-----([A-Za-z0-9+/=\s]*)-----END \1-----\s*$/;

/**
 * The 32 bytes of an Ed25519 key in any accepted form other than raw bytes:
 * a single PEM block labelled `label` whose DER `fromDer` reads, or member
 * `name` of an Ed25519 JWK, or of a KeyObject's JWK. Null for anything else
 * (a KeyObject that has no JWK form too).
 */
function keyBytes(input: unknown, label: string, fromDer: (der: Uint8Array) => Uint8Array | null, name: "x" | "d"): Uint8Array | null {
  let out: Uint8Array | null | undefined;
  if (typeof input === "string") {
    const pem = input.length > MAX_PEM_LENGTH ? null : PEM.exec(input);
    const der = pem?.[1] === label ? fromBase64(pem[2]!.replace(/\s/g, "")) : null;
    if (der !== null) out = fromDer(der);
  } else if (typeof input === "object" && input !== null) {
    let k: Partial<Ed25519Jwk> | undefined;
    try {
      k = (typeof (input as KeyObjectLike).export === "function" ? (input as KeyObjectLike).export({ format: "jwk" }) : input) as typeof k;
    } catch {
      return null; // a KeyObject of a type that has no JWK (DSA, for one)
    }
    if (k?.kty === "OKP" && k.crv === "Ed25519" && typeof k[name] === "string" && forSignatures(k, name)) out = fromBase64(k[name]);
  }
  return out?.length === 32 ? out : null;
}

/** The 32-byte public key of an SPKI Ed25519 key (RFC 8410 §4), or null. */
function spkiKey(der: Uint8Array): Uint8Array | null {
  if (der.length !== SPKI_ED25519.length + 32 || !SPKI_ED25519.every((b, i) => der[i] === b)) return null;
  return der.slice(SPKI_ED25519.length);
}

/** A DER element: its tag, and where its content starts and ends. */
interface DerElement {
  tag: number;
  start: number;
  end: number;
}

/**
 * The DER element at `at`, which must end by `end`: null for anything else,
 * such as a tag of several bytes, the indefinite-length byte (0x80, BER
 * only) or a length not in its shortest form (X.690 §10.1).
 */
function derElement(der: Uint8Array, at: number, end: number): DerElement | null {
  if (at + 2 > end || (der[at]! & 0x1f) === 0x1f) return null;
  let start = at + 2;
  let length = der[at + 1]!;
  if (length >= 0x80) {
    const bytes = length - 0x80;
    // One or two bytes: a key is under MAX_PEM_LENGTH.
    if (bytes < 1 || bytes > 2 || start + bytes > end || der[start] === 0) return null;
    length = bytes === 1 ? der[start]! : der[start]! * 256 + der[start + 1]!;
    if (length < 0x80) return null;
    start += bytes;
  }
  return start + length > end ? null : { tag: der[at]!, start, end: start + length };
}

/** Whether an attributes element (\[0\]) holds Attributes (RFC 5958 §2): SEQUENCEs of an OBJECT IDENTIFIER and a SET of values, end to end. */
function attributes(der: Uint8Array, { start, end }: DerElement): boolean {
  for (let at = start; at < end; ) {
    const attribute = derElement(der, at, end);
    if (attribute?.tag !== 0x30) return false;
    const type = derElement(der, attribute.start, attribute.end);
    const values = type?.tag === 0x06 ? derElement(der, type.end, attribute.end) : null;
    if (values?.tag !== 0x31 || values.end !== attribute.end || values.start === values.end) return false;
    for (let v = values.start; v < values.end; ) {
      const value = derElement(der, v, values.end);
      if (value === null) return false;
      v = value.end;
    }
    at = attribute.end;
  }
  return true;
}

/**
 * The 32 bytes of the public key that may follow the seed, as RFC 8410 §10.3
 * writes it (\[1\] IMPLICIT BIT STRING), or as Rust's ring does (a BIT STRING
 * in \[1\]); undefined for another element.
 */
function publicKeyIn(der: Uint8Array, element: DerElement): Uint8Array | undefined {
  let bits: DerElement | null = element;
  if (element.tag === 0xa1) {
    bits = derElement(der, element.start, element.end);
    if (bits?.tag !== 0x03 || bits.end !== element.end) return undefined;
  } else if (element.tag !== 0x81) return undefined;
  return bits.end - bits.start === 33 && der[bits.start] === 0 ? der.subarray(bits.start + 1, bits.end) : undefined;
}

/**
 * The seed of a PKCS #8 Ed25519 private key (RFC 8410 §7), of either version
 * of RFC 5958 §2 as Node and WebCrypto read them, read as DER (definite
 * lengths in their shortest form, nothing after the key): attributes (\[0\])
 * are checked and skipped, and a version 2 key's public key must be the
 * seed's. Null for anything else.
 *
 * @throws {TypeError} when the public key is not the seed's
 */
function pkcs8Seed(der: Uint8Array, name: string): Uint8Array | null {
  const key = derElement(der, 0, der.length);
  if (key?.tag !== 0x30 || key.end !== der.length) return null;
  // INTEGER 0 or 1, the algorithm, OCTET STRING { OCTET STRING (32) }: PKCS8_ED25519 after its SEQUENCE's tag and length, but for the version.
  const version = der[key.start + 2]!;
  const seedAt = key.start + PKCS8_ED25519.length - 2;
  if (seedAt + 32 > der.length || version > 1 || !PKCS8_ED25519.every((b, i) => i < 2 || i === 4 || der[key.start + i - 2] === b)) return null;
  const after = (at: number) => (at === der.length ? undefined : derElement(der, at, der.length));
  let next = after(seedAt + 32);
  if (next?.tag === 0xa0) next = attributes(der, next) ? after(next.end) : null;
  // The public key, after a version 1 only; nothing else.
  const publicKey = next === undefined || next === null || version !== 1 ? undefined : publicKeyIn(der, next);
  if (next === null || (next !== undefined && (publicKey === undefined || next.end !== der.length))) return null;
  const seed = der.slice(seedAt, seedAt + 32);
  if (publicKey !== undefined && !equalBytes(publicKey, publicKeyOf(seed))) {
    seed.fill(0);
    throw new TypeError(`${name} is a PKCS #8 key whose public key is not the one of its seed`);
  }
  return seed;
}

/**
 * Whether a JWK may serve for signatures, as WebCrypto's import decides
 * (RFC 7517 §4.2, §4.3): `use`, when present, is `"sig"`, and `key_ops`, when
 * present, names the operation: `"sign"` for a private key (one with `d`, even
 * when only its `x` is read), `"verify"` for a public one.
 */
function forSignatures(jwk: { use?: unknown; key_ops?: unknown; d?: unknown }, name: "x" | "d"): boolean {
  if (jwk.use !== undefined && jwk.use !== "sig") return false;
  if (jwk.key_ops === undefined) return true;
  const op = name === "d" || jwk.d !== undefined ? "sign" : "verify";
  return Array.isArray(jwk.key_ops) && jwk.key_ops.includes(op);
}

/**
 * The 32-byte Ed25519 seed of a private key given as raw bytes, PKCS #8 PEM
 * (one `-----BEGIN PRIVATE KEY-----` block, nothing else but whitespace;
 * version 1 or 2 of RFC 5958, with attributes or the public key), a JWK
 * with `d`, or a node:crypto KeyObject.
 *
 * @param input the private key
 * @param name the option's name, for error messages
 * @returns a fresh copy of the seed
 * @throws {TypeError} when the input is none of these forms or not an Ed25519 private key, is a JWK whose `x` is not
 *   the public key of its `d` or whose `use` / `key_ops` do not allow signing, or a PKCS #8 key whose public key is
 *   not its seed's (the message never shows key material)
 * @throws {RangeError} for raw bytes that are not 32 long
 * @example
 * ```ts
 * import { generateKeyPairSync } from "node:crypto";
 * const { privateKey } = generateKeyPairSync("ed25519");
 * ed25519Seed(privateKey.export({ format: "pem", type: "pkcs8" }) as string).length; // 32
 * ```
 */
export function ed25519Seed(input: Ed25519PrivateKeyInput, name = "privateKey"): Uint8Array {
  if (input instanceof Uint8Array) {
    if (input.length !== 32) throw new RangeError(`${name} must be a 32-byte Ed25519 seed, got ${input.length} bytes`);
    return new Uint8Array(input);
  }
  const seed = keyBytes(input, "PRIVATE KEY", (der) => pkcs8Seed(der, name), "d");
  if (seed === null) {
    const jwk = input as Partial<Ed25519Jwk>;
    if (jwk?.kty === "OKP" && jwk.crv === "Ed25519" && !forSignatures(jwk, "d")) {
      throw new TypeError(`${name} is an Ed25519 JWK whose use or key_ops does not allow signing`);
    }
    throw new TypeError(`${name} must be a Uint8Array (32-byte Ed25519 seed), a PKCS #8 PEM, an Ed25519 JWK with d, a KeyObject or a CryptoKey`);
  }
  // A JWK may name its public key too (a KeyObject's always matches): it must be d's, as WebCrypto requires.
  const x = (input as Partial<Ed25519Jwk>).x;
  if (x !== undefined && !equalBytes(fromBase64(String(x)) ?? new Uint8Array(0), publicKeyOf(seed))) {
    seed.fill(0);
    throw new TypeError(`${name} is an Ed25519 JWK whose x is not the public key of its d`);
  }
  return seed;
}

/** The Ed25519 public key of a 32-byte seed: synchronous, with noble's SHA-512, so it needs no WebCrypto (internal). */
export function publicKeyOf(seed: Uint8Array): Uint8Array {
  nobleReady();
  return getPublicKey(seed);
}

/**
 * The raw 32 bytes of an Ed25519 public `CryptoKey` (one from `generateKey`
 * is always extractable; one imported as not extractable cannot be read);
 * null for any other key or value. Never throws.
 *
 * @param key the key, e.g. the `publicKey` of `crypto.subtle.generateKey({ name: "Ed25519" }, …)`
 */
export async function ed25519PublicCryptoKey(key: unknown): Promise<Uint8Array | null> {
  const k = key as Partial<CryptoKey> | null;
  if (k?.type !== "public" || k.algorithm?.name !== "Ed25519") return null;
  try {
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", key as CryptoKey));
    return raw.length === 32 ? raw : null;
  } catch {
    return null;
  }
}

/**
 * The 32-byte Ed25519 public key given as raw bytes, base64url of them,
 * SPKI PEM (one `-----BEGIN PUBLIC KEY-----` block, nothing else but
 * whitespace), a JWK with `x`, or a node:crypto
 * KeyObject (public or private). Returns null for anything else; never throws.
 *
 * @param input the public key
 * @returns a fresh copy of the key bytes, or null
 * @example
 * ```ts
 * import { generateKeyPairSync } from "node:crypto";
 * const { publicKey } = generateKeyPairSync("ed25519");
 * ed25519PublicKey(publicKey.export({ format: "jwk" }))?.length; // 32
 * ```
 */
export function ed25519PublicKey(input: unknown): Uint8Array | null {
  try {
    if (input instanceof Uint8Array) return input.length === 32 ? new Uint8Array(input) : null;
    if (typeof input === "string" && input.length <= 64) {
      const raw = fromBase64(input);
      return raw?.length === 32 ? raw : null;
    }
    return keyBytes(input, "PUBLIC KEY", spkiKey, "x");
  } catch {
    return null;
  }
}

// HTTP_SIGN / HTTP_VERIFY for ed25519 (RFC 9421 §3.3.6) and hmac-sha256
// (§3.3.4), plus the SHA-2 digests of RFC 9530, over three interchangeable
// backends:
//
//   node      node:crypto (Node, Deno, Bun), reached through src/lib/crypto.ts
//             without a static `node:` import. Ed25519 verify is ~15x noble's.
//   webcrypto crypto.subtle (browsers, Deno, edge workers). Ed25519 falls back
//             to noble where the platform lacks it.
//   noble     @noble/ed25519 + @noble/hashes: pure JS, runs anywhere.
//
// "auto" picks the first available. All three produce identical bytes
// (Ed25519 and HMAC are deterministic) and identical verdicts; the test suite
// checks that. Where the libraries differ, keyward decides before any
// backend: an Ed25519 public key is checked once, when first seen
// (ed25519PublicPoint in keys.ts: no small-order point, which OpenSSL 3.0,
// that of Node 22, accepts in verify and in WebCrypto alike), and a
// signature whose R is of small order is refused (isSmallOrderEncoding:
// OpenSSL refuses R = identity, BoringSSL and noble accept it).
import * as ed from "@noble/ed25519";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import { equalBytes, toBase64, toBase64Url, utf8 } from "../lib/bytes.js";
import { nodeCrypto } from "../lib/crypto.js";
import { isThenable } from "../lib/thenable.js";
import { ed25519PublicCryptoKey, PKCS8_ED25519 } from "./key-formats.js";
import { ed25519PublicPoint, isCryptoKey, isSmallOrderEncoding, nobleReady } from "./keys.js";
import type { DigestAlgorithm, SigningKey, VerifyingKey } from "./types.js";

/** A crypto implementation; `auto` = node:crypto, else WebCrypto, else noble. */
export type CryptoBackend = "auto" | "node" | "webcrypto" | "noble";

type NodeCrypto = NonNullable<typeof nodeCrypto>;
type NodeKeyObject = ReturnType<NodeCrypto["createPublicKey"]>;

let selected: CryptoBackend = "auto";

/**
 * Forces a crypto backend (internal: for tests and benchmarks; not exported
 * from `keyward/signing`). `"auto"` restores the default choice.
 *
 * @throws {RangeError} when the backend is unknown or unavailable in this runtime.
 */
export function setCryptoBackend(backend: CryptoBackend): void {
  if (backend === "node" && !nodeCrypto) throw new RangeError("node:crypto is not available in this runtime");
  if (backend === "webcrypto" && !globalThis.crypto?.subtle) throw new RangeError("crypto.subtle is not available");
  if (!["auto", "node", "webcrypto", "noble"].includes(backend)) throw new RangeError(`unknown backend ${backend}`);
  selected = backend;
}

/** The backend in use after resolving `"auto"`. */
export function cryptoBackend(): Exclude<CryptoBackend, "auto"> {
  if (selected !== "auto") return selected;
  if (nodeCrypto) return "node";
  return globalThis.crypto?.subtle ? "webcrypto" : "noble";
}

// ---------------------------------------------------------------- digests

/** SHA-256 or SHA-512 of `data` (synchronous: node:crypto or noble). */
export function digest(alg: DigestAlgorithm, data: Uint8Array): Uint8Array {
  const backend = cryptoBackend();
  if (backend === "node" && nodeCrypto) {
    const out = nodeCrypto.hash(alg === "sha-256" ? "sha256" : "sha512", data, "buffer");
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }
  return alg === "sha-256" ? sha256(data) : sha512(data);
}

// ---------------------------------------------------------------- helpers

/**
 * Bounded cache, oldest entry evicted first. Keys are public material only.
 * Small (1024 entries), so the walk of `keys().next()` over entries deleted
 * since V8 last rebuilt the table stays short; lib/bounded-map.ts avoids it
 * for the server's large memories, at a size the browser bundle need not carry.
 */
class BoundedCache<V> {
  readonly #max: number;
  readonly #map = new Map<string, V>();
  constructor(max: number) {
    this.#max = max;
  }
  get(key: string): V | undefined {
    return this.#map.get(key);
  }
  set(key: string, value: V): void {
    if (this.#map.size >= this.#max) this.#map.delete(this.#map.keys().next().value as string);
    this.#map.set(key, value);
  }
}

/**
 * Per-Uint8Array cache for key material: keyed by object identity (never by
 * the bytes, so no secret becomes a string), and invalidated if the caller
 * later changes the array's contents (e.g. zeroes it).
 */
class ByteKeyCache<V> {
  readonly #map = new WeakMap<Uint8Array, { copy: Uint8Array; value: V }>();
  get(key: Uint8Array): V | undefined {
    const hit = this.#map.get(key);
    return hit && equalBytes(hit.copy, key) ? hit.value : undefined;
  }
  set(key: Uint8Array, value: V): void {
    this.#map.set(key, { copy: key.slice(), value });
  }
}

// RFC 8410 DER prefixes: PKCS#8 for a 32-byte Ed25519 seed.

// Importing a key costs more than using it: node's createHmac with raw bytes
// is ~5x slower than with a KeyObject, so every backend keeps imported keys.
const nodePublicKeys = new BoundedCache<NodeKeyObject | null>(1024);
const nodePublicKeyArrays = new ByteKeyCache<NodeKeyObject | null>();
const nodePrivateKeys = new ByteKeyCache<NodeKeyObject>();
const nodeHmacKeys = new ByteKeyCache<NodeHmac>();
const nobleHmacKeys = new ByteKeyCache<ReturnType<typeof hmac.create>>();
const noblePublicKeys = new BoundedCache<ed.Point | null>(1024);
const noblePublicKeyArrays = new ByteKeyCache<ed.Point | null>();
const webPublicKeys = new BoundedCache<Promise<CryptoKey | null>>(1024);
const webCheckedPublicKeys = new WeakMap<CryptoKey, Promise<boolean>>();
const webPrivateKeys = new ByteKeyCache<Promise<CryptoKey>>();
const webHmacKeys = new ByteKeyCache<Promise<CryptoKey>>();
let webEd25519 = true; // cleared when the platform's WebCrypto lacks Ed25519

function nodePublicKey(c: NodeCrypto, publicKey: Uint8Array): NodeKeyObject | null {
  let key = nodePublicKeyArrays.get(publicKey);
  if (key !== undefined) return key;
  const id = toBase64Url(publicKey);
  key = nodePublicKeys.get(id);
  if (key === undefined) {
    try {
      key = acceptablePublicKey(publicKey) ? c.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: id }, format: "jwk" }) : null;
    } catch {
      key = null; // not a valid point encoding
    }
    nodePublicKeys.set(id, key);
  }
  nodePublicKeyArrays.set(publicKey, key);
  return key;
}

function acceptablePublicKey(publicKey: Uint8Array): boolean {
  return typeof ed25519PublicPoint(publicKey) !== "string";
}

function nodePrivateKey(c: NodeCrypto, seed: Uint8Array): NodeKeyObject {
  let key = nodePrivateKeys.get(seed);
  if (key === undefined) {
    const der = new Uint8Array(48);
    der.set(PKCS8_ED25519);
    der.set(seed, 16);
    // node:crypto accepts any ArrayBufferView as DER; its typings only say Buffer.
    key = c.createPrivateKey({ key: der as never, format: "der", type: "pkcs8" });
    der.fill(0);
    nodePrivateKeys.set(seed, key);
  }
  return key;
}

function asBytes(out: Uint8Array): Uint8Array {
  // node:crypto returns Buffers; hand out plain Uint8Arrays only.
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * A result now, or a Promise of it when the work is asynchronous (WebCrypto).
 * The Promises are this realm's: what the platform's `crypto.subtle` answers
 * may come from another (edge-runtime and node:vm sandboxes hand in the
 * host's WebCrypto), so it is only ever awaited or adopted, never returned.
 */
export type MaybePromise<T> = T | Promise<T>;

// The node and noble backends answer synchronously; keeping them off the
// microtask queue matters for HMAC, where the MAC itself takes ~2 µs. So do
// two node:crypto details: it encodes a string message (UTF-8) faster than a
// TextEncoder round trip, and a MAC returned as a string (base64, latin1)
// saves allocating a Buffer.

/** Signs a signature base (RFC 9421 §3.3.6 or §3.3.4, UTF-8 encoded); the signature in standard base64. */
export function signToBase64(key: SigningKey, base: string): MaybePromise<string> {
  if (key.alg === "hmac-sha256" && !isCryptoKey(key.secret) && cryptoBackend() === "node" && nodeCrypto) {
    return nodeHmac(nodeCrypto, key.secret).mac(base, "base64");
  }
  const signature = key.alg === "ed25519" ? ed25519SignNow(key.privateKey, utf8(base)) : hmacSignNow(key.secret, base);
  return isThenable(signature) ? Promise.resolve(signature).then((s) => encodedSignature(key, s)) : encodedSignature(key, signature);
}

/**
 * A signature in base64, after checking that it has its algorithm's length
 * (64 bytes for Ed25519, 32 for HMAC-SHA256): anything else is a backend
 * fault, never sent as a signature (an empty one would be, and fail late).
 */
function encodedSignature(key: SigningKey, signature: Uint8Array): string {
  if (!(signature instanceof Uint8Array) || signature.length !== (key.alg === "ed25519" ? 64 : 32)) {
    throw new Error(`the ${key.alg} backend returned no valid signature`);
  }
  return toBase64(signature);
}

/** Verifies `signature` over a signature base with a usable verifying key; false on any failure, never throws or rejects. */
export function verifyWith(key: VerifyingKey, base: string, signature: Uint8Array): MaybePromise<boolean> {
  return key.alg === "ed25519" ? ed25519VerifyNow(key.publicKey, utf8(base), signature) : hmacVerifyNow(key.secret, base, signature);
}

// ---------------------------------------------------------------- Ed25519

/** Ed25519 signature (RFC 8032 §5.1.6) of `message` with a 32-byte seed or a private CryptoKey. */
export async function ed25519Sign(privateKey: Uint8Array | CryptoKey, message: Uint8Array): Promise<Uint8Array> {
  return ed25519SignNow(privateKey, message);
}

function ed25519SignNow(privateKey: Uint8Array | CryptoKey, message: Uint8Array): MaybePromise<Uint8Array> {
  if (isCryptoKey(privateKey)) return webSign("Ed25519", privateKey, message);
  const backend = cryptoBackend();
  if (backend === "node" && nodeCrypto) return asBytes(nodeCrypto.sign(null, message, nodePrivateKey(nodeCrypto, privateKey)));
  if (backend === "webcrypto" && webEd25519) {
    return webPrivateKey(privateKey).then((key) => (key ? webSign("Ed25519", key, message) : nobleSign(privateKey, message)));
  }
  return nobleSign(privateKey, message);
}

function nobleSign(seed: Uint8Array, message: Uint8Array): Uint8Array {
  nobleReady();
  return ed.sign(message, seed);
}

async function webSign(name: "Ed25519" | "HMAC", key: CryptoKey, message: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign(name, key, message as BufferSource));
}

/** Ed25519 verification (RFC 8032 §5.1.7); false for any malformed key or signature, never throws. */
export async function ed25519Verify(
  publicKey: Uint8Array | CryptoKey,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  return ed25519VerifyNow(publicKey, message, signature);
}

function ed25519VerifyNow(publicKey: Uint8Array | CryptoKey, message: Uint8Array, signature: Uint8Array): MaybePromise<boolean> {
  try {
    // R of small order: refused before any backend, which would not agree (see isSmallOrderEncoding).
    if (signature.length !== 64 || isSmallOrderEncoding(signature)) return false;
    if (isCryptoKey(publicKey)) {
      return webPublicKeyChecked(publicKey).then((ok) => ok && webVerify("Ed25519", publicKey, message, signature));
    }
    if (publicKey.length !== 32) return false;
    const backend = cryptoBackend();
    if (backend === "node" && nodeCrypto) {
      const key = nodePublicKey(nodeCrypto, publicKey);
      return key !== null && nodeCrypto.verify(null, message, key, signature);
    }
    if (backend === "webcrypto" && webEd25519) {
      return webPublicKey(publicKey).then(
        (key) => {
          if (key) return webVerify("Ed25519", key, message, signature);
          // Ed25519 supported and the key is just invalid, or unsupported: noble.
          return webEd25519 ? false : nobleVerify(publicKey, message, signature);
        },
        () => false,
      );
    }
    return nobleVerify(publicKey, message, signature);
  } catch {
    return false;
  }
}

/** The order of the Ed25519 base point (RFC 8032 §5.1). */
const L = 2n ** 252n + 27742317777372353535851937790883648493n;

function littleEndian(bytes: Uint8Array): bigint {
  let n = 0n;
  for (let i = bytes.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(bytes[i]!);
  return n;
}

/**
 * RFC 8032 §5.1.7 as OpenSSL checks it: S < L, and the
 * cofactorless equation, [S]B - [k]A encoding to R's 32 bytes. (noble's own
 * verify checks [8][S]B = [8]R + [8][k]A, which accepts more: a mixed-order R,
 * or an honest signature under a mixed-order key, that the others refuse.)
 */
function nobleVerify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    const point = noblePublicKey(publicKey);
    const s = littleEndian(signature.subarray(32));
    if (point === null || s >= L) return false;
    const r = signature.subarray(0, 32);
    const k = littleEndian(sha512.create().update(r).update(publicKey).update(message).digest()) % L;
    return equalBytes(ed.Point.BASE.multiply(s, false).subtract(point.multiply(k, false)).toBytes(), r);
  } catch {
    return false;
  }
}

function noblePublicKey(publicKey: Uint8Array): ed.Point | null {
  let point = noblePublicKeyArrays.get(publicKey);
  if (point !== undefined) return point;
  const id = toBase64Url(publicKey);
  point = noblePublicKeys.get(id);
  if (point === undefined) {
    const decoded = ed25519PublicPoint(publicKey);
    point = typeof decoded === "string" ? null : decoded;
    noblePublicKeys.set(id, point);
  }
  noblePublicKeyArrays.set(publicKey, point);
  return point;
}

async function webVerify(name: "Ed25519" | "HMAC", key: CryptoKey, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  try {
    return await crypto.subtle.verify(name, key, signature as BufferSource, message as BufferSource);
  } catch {
    return false;
  }
}

async function importOrUnsupported(
  format: "raw" | "pkcs8",
  bytes: Uint8Array,
  usage: KeyUsage,
): Promise<CryptoKey | null> {
  try {
    return await crypto.subtle.importKey(format, bytes as BufferSource, { name: "Ed25519" }, false, [usage]);
  } catch (err) {
    if ((err as { name?: string })?.name === "NotSupportedError") webEd25519 = false;
    return null;
  }
}

function webPublicKey(publicKey: Uint8Array): Promise<CryptoKey | null> {
  const id = toBase64Url(publicKey);
  let key = webPublicKeys.get(id);
  if (key === undefined) {
    key = acceptablePublicKey(publicKey) ? importOrUnsupported("raw", publicKey, "verify") : Promise.resolve(null);
    webPublicKeys.set(id, key);
  }
  return key;
}

/**
 * Whether a public CryptoKey's point is acceptable, read once per key. One
 * imported as not extractable cannot be read: the platform's checks only
 * apply to it (which accept a small-order point).
 */
function webPublicKeyChecked(key: CryptoKey): Promise<boolean> {
  let ok = webCheckedPublicKeys.get(key);
  if (ok === undefined) {
    ok = key.extractable ? ed25519PublicCryptoKey(key).then((raw) => raw !== null && acceptablePublicKey(raw)) : Promise.resolve(true);
    webCheckedPublicKeys.set(key, ok);
  }
  return ok;
}

async function webPrivateKey(seed: Uint8Array): Promise<CryptoKey | null> {
  let key = webPrivateKeys.get(seed);
  if (key === undefined) {
    const der = new Uint8Array(48);
    der.set(PKCS8_ED25519);
    der.set(seed, 16);
    const imported = await importOrUnsupported("pkcs8", der, "sign");
    der.fill(0);
    if (!imported) return null;
    key = Promise.resolve(imported);
    webPrivateKeys.set(seed, key);
  }
  return key;
}

// ---------------------------------------------------------------- HMAC-SHA256

/** HMAC-SHA256 (RFC 2104) of `message` under a raw secret or an HMAC CryptoKey. */
export async function hmacSign(secret: Uint8Array | CryptoKey, message: Uint8Array): Promise<Uint8Array> {
  return hmacSignNow(secret, message);
}

/** HMAC-SHA256 of `message` (a string is UTF-8 encoded). */
function hmacSignNow(secret: Uint8Array | CryptoKey, message: Uint8Array | string): MaybePromise<Uint8Array> {
  if (isCryptoKey(secret)) return webSign("HMAC", secret, bytesOf(message));
  const backend = cryptoBackend();
  if (backend === "node" && nodeCrypto) return asBytes(nodeHmac(nodeCrypto, secret).mac(message, "buffer"));
  if (backend === "webcrypto") return webHmacKey(secret).then((key) => webSign("HMAC", key, bytesOf(message)));
  // noble: the keyed state (both pads hashed, RFC 2104 §2) is computed once per key and cloned.
  let keyed = nobleHmacKeys.get(secret);
  if (keyed === undefined) {
    keyed = hmac.create(sha256, secret);
    nobleHmacKeys.set(secret, keyed);
  }
  return keyed.clone().update(bytesOf(message)).digest();
}

/** The node:crypto HMAC state for a secret, made once per secret. */
function nodeHmac(c: NodeCrypto, secret: Uint8Array): NodeHmac {
  let state = nodeHmacKeys.get(secret);
  if (state === undefined) {
    state = new NodeHmac(c, secret);
    nodeHmacKeys.set(secret, state);
  }
  return state;
}

const hmacEncoder = new TextEncoder();
// Messages up to this many bytes are hashed from the per-key buffer; longer ones stream.
const HMAC_BUFFER_BYTES = 4096;

/**
 * HMAC-SHA256 (RFC 2104 §2) as two one-shot SHA-256 calls,
 * H((K ^ opad) || H((K ^ ipad) || message)). node's createHmac spends more
 * on its stream object than on hashing a signature base; `hash` has no such
 * setup, which makes this about twice as fast for a few hundred bytes.
 * The padded keys are derived once per secret (as the KeyObject this
 * replaces was) and each message is written after K ^ ipad in a per-key
 * buffer. Synchronous throughout, so the buffer is never shared by two calls.
 */
class NodeHmac {
  readonly #c: NodeCrypto;
  /** K ^ ipad, then room for the message. */
  readonly #inner = new Uint8Array(64 + HMAC_BUFFER_BYTES);
  readonly #message = this.#inner.subarray(64);
  /** K ^ opad, then the inner hash. */
  readonly #outer = new Uint8Array(64 + 32);

  constructor(c: NodeCrypto, secret: Uint8Array) {
    this.#c = c;
    // RFC 2104 §2: a key longer than the block is hashed first; a shorter one is zero-padded.
    const key = secret.length > 64 ? asBytes(c.hash("sha256", secret, "buffer") as unknown as Uint8Array) : secret;
    for (let i = 0; i < 64; i++) {
      const k = i < key.length ? key[i]! : 0;
      this.#inner[i] = k ^ 0x36;
      this.#outer[i] = k ^ 0x5c;
    }
  }

  /** The MAC of `message` (a string is UTF-8 encoded), in the given output encoding. */
  mac(message: Uint8Array | string, encoding: "binary" | "base64"): string;
  mac(message: Uint8Array | string, encoding: "buffer"): Uint8Array;
  mac(message: Uint8Array | string, encoding: "binary" | "base64" | "buffer"): string | Uint8Array {
    const c = this.#c;
    // A signature base fits the buffer; encodeInto stops short (read < length) when it does not.
    const { read, written } =
      typeof message === "string" && message.length <= HMAC_BUFFER_BYTES
        ? hmacEncoder.encodeInto(message, this.#message)
        : { read: -1, written: 0 };
    const inner =
      read === (message as string).length
        ? c.hash("sha256", new Uint8Array(this.#inner.buffer, 0, 64 + written), "binary")
        : c.createHash("sha256").update(this.#inner.subarray(0, 64)).update(message).digest("binary");
    const outer = this.#outer;
    for (let i = 0; i < 32; i++) outer[64 + i] = inner.charCodeAt(i);
    return c.hash("sha256", outer, encoding as "binary");
  }
}

function bytesOf(message: Uint8Array | string): Uint8Array {
  return typeof message === "string" ? utf8(message) : message;
}

/**
 * Checks an HMAC-SHA256 signature. RFC 9421 §3.3.4 compares bytewise; this
 * compares in constant time ({@link equalBytes}) or lets WebCrypto do it.
 */
export async function hmacVerify(secret: Uint8Array | CryptoKey, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  return hmacVerifyNow(secret, message, signature);
}

function hmacVerifyNow(secret: Uint8Array | CryptoKey, message: Uint8Array | string, signature: Uint8Array): MaybePromise<boolean> {
  try {
    if (isCryptoKey(secret)) return webVerify("HMAC", secret, bytesOf(message), signature);
    if (cryptoBackend() === "node" && nodeCrypto) {
      return equalLatin1(nodeHmac(nodeCrypto, secret).mac(message, "binary"), signature);
    }
    const mac = hmacSignNow(secret, message);
    return isThenable(mac) ? Promise.resolve(mac).then((m) => equalBytes(m, signature), () => false) : equalBytes(mac, signature);
  } catch {
    return false;
  }
}

/** {@link equalBytes} for a MAC held as a "binary" (latin1) string: one character per byte. */
function equalLatin1(mac: string, signature: Uint8Array): boolean {
  if (mac.length !== signature.length) return false;
  let diff = 0;
  for (let i = 0; i < mac.length; i++) diff |= mac.charCodeAt(i) ^ signature[i]!;
  return diff === 0;
}

function webHmacKey(secret: Uint8Array): Promise<CryptoKey> {
  let key = webHmacKeys.get(secret);
  if (key === undefined) {
    // Adopted: the platform's Promise may be another realm's (see MaybePromise).
    key = Promise.resolve(crypto.subtle.importKey("raw", secret as BufferSource, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]));
    webHmacKeys.set(secret, key);
  }
  return key;
}

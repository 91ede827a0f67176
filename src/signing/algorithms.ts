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
// (Ed25519 and HMAC are deterministic); the test suite checks that.
import * as ed from "@noble/ed25519";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import { equalBytes, toBase64Url } from "../lib/bytes.js";
import { nodeCrypto } from "../lib/crypto.js";
import { isCryptoKey } from "./keys.js";
import type { DigestAlgorithm } from "./types.js";

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

/** Bounded cache, oldest entry evicted first. Keys are public material only. */
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
 * Per-Uint8Array cache for secret material: keyed by object identity (never
 * by the secret's bytes, so no secret becomes a string), and invalidated if
 * the caller later changes the array's contents (e.g. zeroes it).
 */
class SecretCache<V> {
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
const PKCS8_ED25519 = [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

const nodePublicKeys = new BoundedCache<NodeKeyObject | null>(1024);
const nodePrivateKeys = new SecretCache<NodeKeyObject>();
const webPublicKeys = new BoundedCache<Promise<CryptoKey | null>>(1024);
const webPrivateKeys = new SecretCache<Promise<CryptoKey>>();
const webHmacKeys = new SecretCache<Promise<CryptoKey>>();
let webEd25519 = true; // cleared when the platform's WebCrypto lacks Ed25519

function nodePublicKey(c: NodeCrypto, publicKey: Uint8Array): NodeKeyObject | null {
  const id = toBase64Url(publicKey);
  let key = nodePublicKeys.get(id);
  if (key === undefined) {
    try {
      key = c.createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: id }, format: "jwk" });
    } catch {
      key = null; // not a valid point encoding
    }
    nodePublicKeys.set(id, key);
  }
  return key;
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

function nobleReady(): void {
  // noble's synchronous API needs a SHA-512; set it once, lazily, never at import.
  if (!ed.hashes.sha512) ed.hashes.sha512 = sha512;
}

function asBytes(out: Uint8Array): Uint8Array {
  // node:crypto returns Buffers; hand out plain Uint8Arrays only.
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

// ---------------------------------------------------------------- Ed25519

/** Ed25519 signature (RFC 8032 §5.1.6) of `message` with a 32-byte seed or a private CryptoKey. */
export async function ed25519Sign(privateKey: Uint8Array | CryptoKey, message: Uint8Array): Promise<Uint8Array> {
  if (isCryptoKey(privateKey)) return new Uint8Array(await crypto.subtle.sign("Ed25519", privateKey, message as BufferSource));
  const backend = cryptoBackend();
  if (backend === "node" && nodeCrypto) return asBytes(nodeCrypto.sign(null, message, nodePrivateKey(nodeCrypto, privateKey)));
  if (backend === "webcrypto" && webEd25519) {
    const key = await webPrivateKey(privateKey);
    if (key) return new Uint8Array(await crypto.subtle.sign("Ed25519", key, message as BufferSource));
  }
  nobleReady();
  return ed.sign(message, privateKey);
}

/** Ed25519 verification (RFC 8032 §5.1.7); false for any malformed key or signature, never throws. */
export async function ed25519Verify(
  publicKey: Uint8Array | CryptoKey,
  message: Uint8Array,
  signature: Uint8Array,
): Promise<boolean> {
  try {
    if (signature.length !== 64) return false;
    if (isCryptoKey(publicKey)) return await crypto.subtle.verify("Ed25519", publicKey, signature as BufferSource, message as BufferSource);
    if (publicKey.length !== 32) return false;
    const backend = cryptoBackend();
    if (backend === "node" && nodeCrypto) {
      const key = nodePublicKey(nodeCrypto, publicKey);
      return key !== null && nodeCrypto.verify(null, message, key, signature);
    }
    if (backend === "webcrypto" && webEd25519) {
      const key = await webPublicKey(publicKey);
      if (key) return await crypto.subtle.verify("Ed25519", key, signature as BufferSource, message as BufferSource);
      if (webEd25519) return false; // Ed25519 supported, the key is just invalid
    }
    nobleReady();
    // RFC 8032 semantics (the library's strict branch), like OpenSSL's.
    return ed.verify(signature, message, publicKey, { zip215: false });
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
    key = importOrUnsupported("raw", publicKey, "verify");
    webPublicKeys.set(id, key);
  }
  return key;
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
  if (isCryptoKey(secret)) return new Uint8Array(await crypto.subtle.sign("HMAC", secret, message as BufferSource));
  const backend = cryptoBackend();
  if (backend === "node" && nodeCrypto) return asBytes(nodeCrypto.createHmac("sha256", secret).update(message).digest());
  if (backend === "webcrypto") {
    return new Uint8Array(await crypto.subtle.sign("HMAC", await webHmacKey(secret), message as BufferSource));
  }
  return hmac(sha256, secret, message);
}

/**
 * Checks an HMAC-SHA256 signature. RFC 9421 §3.3.4 compares bytewise; this
 * compares in constant time ({@link equalBytes}) or lets WebCrypto do it.
 */
export async function hmacVerify(secret: Uint8Array | CryptoKey, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  try {
    if (isCryptoKey(secret)) return await crypto.subtle.verify("HMAC", secret, signature as BufferSource, message as BufferSource);
    return equalBytes(await hmacSign(secret, message), signature);
  } catch {
    return false;
  }
}

function webHmacKey(secret: Uint8Array): Promise<CryptoKey> {
  let key = webHmacKeys.get(secret);
  if (key === undefined) {
    key = crypto.subtle.importKey("raw", secret as BufferSource, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    webHmacKeys.set(secret, key);
  }
  return key;
}

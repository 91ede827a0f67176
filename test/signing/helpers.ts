import { fromBase64, utf8 } from "../../src/lib/bytes.js";
import { nodeCrypto } from "../../src/lib/crypto.js";
import { type CryptoBackend, setCryptoBackend } from "../../src/signing/algorithms.js";
import { signatureBase } from "../../src/signing/base.js";
import { DisplayString, Token } from "structured-headers";
import { TEST_KEY_ED25519, TEST_REQUEST, TEST_SHARED_SECRET } from "./vectors/rfc9421-b2.js";

/** Every backend this runtime offers. */
export const BACKENDS: Exclude<CryptoBackend, "auto">[] = ["node", "webcrypto", "noble"];

/** Runs `fn` with the backend forced, then restores "auto". */
export async function withBackend<T>(backend: CryptoBackend, fn: () => Promise<T> | T): Promise<T> {
  setCryptoBackend(backend);
  try {
    return await fn();
  } finally {
    setCryptoBackend("auto");
  }
}

export function b64(s: string): Uint8Array {
  const out = fromBase64(s);
  if (!out) throw new Error(`bad base64 ${s}`);
  return out;
}

/** RFC 9421 B.1.4 test-key-ed25519. */
export const ED25519_SEED = b64(TEST_KEY_ED25519.d);
export const ED25519_PUBLIC = b64(TEST_KEY_ED25519.x);
/** RFC 9421 B.1.5 test-shared-secret. */
export const SHARED_SECRET = b64(TEST_SHARED_SECRET);

/** A fresh Ed25519 key pair (test-only: uses node:crypto). */
export function ed25519KeyPair(): { seed: Uint8Array; publicKey: Uint8Array } {
  const c = nodeCrypto!;
  const { privateKey, publicKey } = c.generateKeyPairSync("ed25519");
  const d = privateKey.export({ format: "jwk" }).d!;
  const x = publicKey.export({ format: "jwk" }).x!;
  return { seed: b64(d), publicKey: b64(x) };
}

/** RFC 9421 B.2 test-request as a Fetch Request. */
export function testRequest(): Request {
  return new Request(TEST_REQUEST.url, {
    method: TEST_REQUEST.method,
    headers: TEST_REQUEST.headers,
    body: TEST_REQUEST.body,
  });
}

/** A clock frozen at `sec` seconds. */
export const frozen = (sec: number) => () => sec * 1000;

export { utf8 };

/**
 * An order-preserving, type-revealing picture of a parsed structured field
 * (Maps as entry lists, -0 kept apart, a Byte Sequence as its bytes: an
 * ArrayBuffer from the package, a Uint8Array from keyward's parsers).
 */
export function picture(value: unknown): unknown {
  if (value instanceof Map) return { map: [...value].map(([k, v]) => [k, picture(v)]) };
  if (Array.isArray(value)) return value.map(picture);
  if (value instanceof ArrayBuffer || value instanceof Uint8Array) return { bytes: [...new Uint8Array(value)] };
  if (value instanceof Token) return { token: value.toString() };
  if (value instanceof DisplayString) return { display: value.toString() };
  if (value instanceof Date) return { date: value.getTime() };
  if (typeof value === "number") return Object.is(value, -0) ? "-0" : value;
  return value;
}

/**
 * A POST forged for a public key of small order 4 or 1 (e.g. a placeholder
 * of 32 zero bytes): R = identity and S = 0 satisfy [S]B = R + [k]A whenever
 * k = SHA-512(R || A || base) mod L is a multiple of 4; the nonce is varied
 * until it is. Covers @method, @target-uri, created, nonce, keyid and alg.
 */
export function smallOrderForgery(publicKey: Uint8Array, keyid: string, created: number): Request {
  const L = 2n ** 252n + 27742317777372353535851937790883648493n;
  const identity = new Uint8Array(32);
  identity[0] = 1;
  const url = "https://api.example.com/v1/transfer?to=attacker";
  for (let i = 0; ; i++) {
    const params = { created, nonce: `forged-${i}`, keyid, alg: "ed25519" as const };
    const base = signatureBase(new Request(url, { method: "POST" }), { components: ["@method", "@target-uri"], params });
    const hash = nodeCrypto!.createHash("sha512").update(identity).update(publicKey).update(base).digest();
    if ((hash.reduceRight((n, byte) => (n << 8n) | BigInt(byte), 0n) % L) % 4n !== 0n) continue;
    const sig = Buffer.concat([identity, new Uint8Array(32)]).toString("base64");
    const input = `sig1=("@method" "@target-uri");created=${created};nonce="${params.nonce}";keyid="${keyid}";alg="ed25519"`;
    return new Request(url, { method: "POST", headers: { "signature-input": input, signature: `sig1=:${sig}:` } });
  }
}

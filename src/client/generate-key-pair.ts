// A fresh Ed25519 key pair for signed requests (RFC 8032), in any runtime.
import { toBase64Url } from "../lib/bytes.js";
import { publicKeyOf } from "../signing/key-formats.js";
import { INSPECT } from "./create-signer.js";

/**
 * The private seed: a Uint8Array that prints and serializes as
 * `[redacted]` (`toJSON`, `toString`, node's `inspect`), wherever it is
 * copied to (`{ ...pair }`, `Object.assign`), and so does a slice of it.
 * Its bytes are read as any Uint8Array's (`new Uint8Array(seed)`).
 */
class PrivateSeed extends Uint8Array {
  toJSON(): string {
    return "[redacted]";
  }
  override toString(): string {
    return "[redacted]";
  }
  [INSPECT](): string {
    return "[redacted]";
  }
}

/**
 * An Ed25519 key pair as raw bytes. `toJSON` and `inspect` show the public
 * key only; the private key, a Uint8Array, shows itself as `[redacted]`
 * (in a copy of the pair, `{ ...pair }`, too).
 */
export interface Ed25519KeyPair {
  /** The algorithm: always `"ed25519"` (the `alg` of `createSigner` and of a token's `signing`). */
  readonly alg: "ed25519";
  /** The 32-byte private seed: give it to `createSigner`, keep it secret. */
  readonly privateKey: Uint8Array;
  /** The 32-byte public key: give it to `tokens.create({ signing: { alg: "ed25519", publicKey } })`. */
  readonly publicKey: Uint8Array;
  /** The seed in base64url, as `signerFromEnv` reads `KEYWARD_PRIVATE_KEY`. */
  privateKeyBase64url(): string;
  /** The public key in base64url, as the token record shows it. */
  publicKeyBase64url(): string;
  /** The public key only, in base64url. */
  toJSON(): { alg: "ed25519"; publicKey: string };
}

/**
 * Generates an Ed25519 key pair: 32 random bytes from
 * `crypto.getRandomValues` as the seed, and its public key (computed in
 * JavaScript, so it needs no `crypto.subtle`, which a browser withholds
 * from a page served over plain HTTP).
 *
 * @returns the key pair as raw bytes, with base64url helpers
 * @example
 * ```ts
 * import { createSigner, generateKeyPair } from "keyward/client";
 * const pair = await generateKeyPair();
 * const { record } = await kw.tokens.create({ owner: "acct_1", kind: "secret", signing: { alg: "ed25519", publicKey: pair.publicKey } });
 * const signer = createSigner({ keyId: record.id, alg: "ed25519", privateKey: pair.privateKey });
 * ```
 */
export async function generateKeyPair(): Promise<Ed25519KeyPair> {
  const privateKey = crypto.getRandomValues(new PrivateSeed(32));
  const publicKey = publicKeyOf(privateKey);
  const pub = () => toBase64Url(publicKey);
  const toJSON = () => ({ alg: "ed25519" as const, publicKey: pub() });
  // node's util.inspect shows what toJSON does, in a copy of the pair too (`{ ...pair }` copies the hook).
  const pair = { alg: "ed25519" as const, privateKey, publicKey, privateKeyBase64url: () => toBase64Url(privateKey), publicKeyBase64url: pub, toJSON, [INSPECT]: toJSON };
  return pair;
}

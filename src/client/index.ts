/**
 * Signing requests for callers of a keyward-protected API: `createSigner`
 * makes RFC 9421 HTTP Message Signatures (Ed25519 or HMAC-SHA256) with an
 * RFC 9530 Content-Digest, a nonce and an expiry; `signedFetch` wraps fetch so
 * every request is signed; `signerFromEnv` reads the key from the environment;
 * `generateKeyPair` makes an Ed25519 key pair.
 *
 * Browser-safe: no `node:` imports, no Buffer, no server code. Runs in
 * browsers, Node, Deno, Bun and edge workers.
 *
 * @module keyward/client
 */
export {
  type CreateSignerOptions,
  createSigner,
  type Ed25519SignerKey,
  type HmacSecretSignerKey,
  type HmacTokenSignerKey,
  type Signer,
  type SignerCallOptions,
  type SignerInfo,
  type SignerSettings,
} from "./create-signer.js";
export { type SignerFromEnvOptions, signerFromEnv } from "./env.js";
export { type Ed25519KeyPair, generateKeyPair } from "./generate-key-pair.js";
export type { Ed25519Jwk, Ed25519PrivateKeyInput, KeyObjectLike } from "../signing/key-formats.js";
export { type FetchFunction, type SignedFetchOptions, signedFetch } from "./signed-fetch.js";
export type { DigestAlgorithm, SignatureAlgorithm } from "../signing/types.js";

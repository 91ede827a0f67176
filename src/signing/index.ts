/**
 * HTTP Message Signatures (RFC 9421) and Content-Digest (RFC 9530) for
 * keyward: build signature bases, sign Fetch API requests with Ed25519 or
 * HMAC-SHA256, and verify them under a policy (coverage, age, replay,
 * digest) without ever throwing on untrusted input.
 *
 * Runs in Node, Deno, Bun, browsers and edge workers: no `node:` imports and
 * no Buffer. Uses node:crypto when the runtime has it, WebCrypto otherwise,
 * and the noble libraries as the portable fallback.
 *
 * @module keyward/signing
 */
export { type SignatureBaseOptions, signatureBase } from "./base.js";
export type { HttpMessage } from "./components.js";
export {
  computeContentDigest,
  setContentDigest,
  type VerifyContentDigestResult,
  verifyContentDigest,
} from "./digest.js";
export { SignatureBaseError, type SignatureBaseErrorReason } from "./errors.js";
export {
  type Ed25519Jwk,
  type Ed25519PrivateKeyInput,
  type Ed25519PublicKeyInput,
  ed25519PublicKey,
  ed25519Seed,
  type KeyObjectLike,
} from "./key-formats.js";
export { type SignOptions, type SignRequestOptions, signRequest } from "./sign.js";
export { type SignatureHeaders, signatureHeaders } from "./signature-headers.js";
export type {
  DigestAlgorithm,
  SignatureAlgorithm,
  SignatureFailureCode,
  SignatureParamName,
  SignatureParams,
  SigningKey,
  VerifyingKey,
} from "./types.js";
export {
  nonceExpiresAtMs,
  type ResolvedKeys,
  type VerifyRequestFailure,
  type VerifyRequestOptions,
  type VerifyRequestResult,
  type VerifyRequestSuccess,
  verifyRequest,
} from "./verify.js";

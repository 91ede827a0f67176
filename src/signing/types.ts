// Public types of keyward/signing (RFC 9421 HTTP Message Signatures, RFC 9530 Content-Digest).

/**
 * Signature metadata parameters (RFC 9421 §2.3). Times are integer UNIX
 * timestamps in seconds; strings must be printable ASCII (they are serialised
 * as structured-field Strings).
 */
export interface SignatureParams {
  /** Creation time, seconds since the epoch. */
  created?: number | undefined;
  /** Expiration time, seconds since the epoch. */
  expires?: number | undefined;
  /** A random value, unique per signature (replay protection). */
  nonce?: string | undefined;
  /** Identifies the key (keyward uses the token's public id). */
  keyid?: string | undefined;
  /** Algorithm name from the HTTP Signature Algorithms registry, e.g. `ed25519`. */
  alg?: string | undefined;
  /** Application-specific tag. */
  tag?: string | undefined;
}

/** Names of the signature parameters keyward understands, in the order they may be serialised. */
export type SignatureParamName = keyof SignatureParams;

/** Signature algorithms keyward signs and verifies with (RFC 9421 §3.3.4 and §3.3.6). */
export type SignatureAlgorithm = "ed25519" | "hmac-sha256";

/**
 * Key material for signing. Raw keys are bytes: an Ed25519 private key is its
 * 32-byte seed (RFC 8032 §5.1.5), an HMAC secret is the shared secret's bytes
 * (at least 16). A WebCrypto `CryptoKey` of the matching algorithm is accepted too.
 */
export type SigningKey =
  | { alg: "ed25519"; privateKey: Uint8Array | CryptoKey }
  | { alg: "hmac-sha256"; secret: Uint8Array | CryptoKey };

/**
 * Key material for verifying: a 32-byte Ed25519 public key or the HMAC shared
 * secret (or CryptoKeys). No signature verifies under an Ed25519 key that is
 * not a canonical encoding of a curve point or is of small order (a public
 * CryptoKey is checked when it is extractable; the platform's checks alone
 * apply to one that is not).
 */
export type VerifyingKey =
  | { alg: "ed25519"; publicKey: Uint8Array | CryptoKey }
  | { alg: "hmac-sha256"; secret: Uint8Array | CryptoKey };

/** Digest algorithms of RFC 9530 §5 that keyward computes and checks (both "Active"). */
export type DigestAlgorithm = "sha-256" | "sha-512";

/**
 * Why {@link verifyRequest} refused a request. Stable: callers may switch on it.
 *
 * - `SIGNATURE_MISSING`: no `Signature-Input`/`Signature` fields, or not the requested label.
 * - `SIGNATURE_MALFORMED`: fields that are not valid structured fields, duplicated labels,
 *   a label in one field but not the other, parameters of the wrong type, or a nonce longer
 *   than `maxNonceLength`.
 * - `SIGNATURE_INVALID`: the signature does not verify, or the signature base cannot be
 *   rebuilt from the message (a covered component is absent or unsupported).
 * - `SIGNATURE_EXPIRED`: `created` older than `maxAgeSec` (+ skew), or past `expires` (+ skew).
 * - `SIGNATURE_FUTURE`: `created` ahead of the verifier's clock by more than the skew.
 * - `COMPONENT_MISSING`: a required component or parameter is not covered.
 * - `KEY_UNKNOWN`: no `keyid`, `resolveKey` returned null, threw, or returned an unusable key.
 * - `ALG_MISMATCH`: the `alg` parameter names another algorithm than the resolved key's.
 * - `REPLAYED`: the nonce callback reported the nonce as seen (or threw; see `cause`).
 * - `DIGEST_MISMATCH`: `Content-Digest` is covered but does not match the body (or is malformed).
 * - `DIGEST_MISSING`: `Content-Digest` is covered but absent or has no supported algorithm.
 * - `BODY_TOO_LARGE`: the body had to be read and is larger than `maxBodyBytes`.
 * - `BODY_TIMEOUT`: the body had to be read and did not end within `bodyTimeoutMs`.
 * - `LIMIT_EXCEEDED`: a bound on the work of verifying was exceeded: Signature-Input or
 *   Signature longer than `maxHeaderBytes`, more labels than `maxLabels`, more covered
 *   components than `maxComponents`, more parameters in one signature than `maxParameters`,
 *   a URL longer than `maxUrlBytes`, covered structured fields larger than
 *   `maxStructuredFieldBytes`, or covered fields larger than `maxCoveredFieldBytes`.
 *   Checked before the key is looked up, and the field counts before anything is parsed.
 */
export type SignatureFailureCode =
  | "SIGNATURE_MISSING"
  | "SIGNATURE_MALFORMED"
  | "SIGNATURE_INVALID"
  | "SIGNATURE_EXPIRED"
  | "SIGNATURE_FUTURE"
  | "COMPONENT_MISSING"
  | "KEY_UNKNOWN"
  | "ALG_MISMATCH"
  | "REPLAYED"
  | "DIGEST_MISMATCH"
  | "DIGEST_MISSING"
  | "BODY_TOO_LARGE"
  | "BODY_TIMEOUT"
  | "BODY_ALREADY_READ"
  | "LIMIT_EXCEEDED";

// A caller's request signer (DESIGN.md "Signed requests"): RFC 9421 signatures
// with keyward's defaults (nonce, expires, Content-Digest), key held privately.
import { deriveSigningSecret } from "../lib/derive.js";
import { checkOptionNames, optionNames } from "../lib/options.js";
import { componentContext, componentKey, componentValue, parseComponentId } from "../signing/components.js";
import { SignatureBaseError } from "../signing/errors.js";
import { checkKeyId } from "../signing/key-id.js";
import { hmacSecretBytes, isCryptoKey, MIN_HMAC_SECRET_BYTES } from "../signing/keys.js";
import { signInPlace, type SignRequestOptions, signRequest } from "../signing/sign.js";
import { SF_KEY } from "../signing/structured.js";
import { MAX_SF_INTEGER } from "../signing/structured-serialize.js";
import type { DigestAlgorithm, SignatureAlgorithm, SignatureParamName, SigningKey } from "../signing/types.js";
import { type Ed25519PrivateKeyInput, ed25519Seed } from "../signing/key-formats.js";

/** Settings shared by every kind of key; see {@link createSigner}. */
export interface SignerSettings {
  /**
   * Covered components, in order (default `["@method", "@target-uri"]`).
   * `content-digest` is added when a request has a body and left out when it
   * has none, so one list fits every request.
   */
  components?: readonly string[] | undefined;
  /** Add a random 128-bit `nonce` to every signature, for the server's replay check (default true). */
  nonce?: boolean | undefined;
  /** Lifetime of a signature: `expires` = `created` + this many seconds (default 300, at most 999 999 999). */
  expiresInSec?: number | undefined;
  /** Content-Digest algorithms for bodies (default `["sha-256"]`), as in `signRequest`. */
  digestAlgorithms?: readonly DigestAlgorithm[] | undefined;
  /** @deprecated Use `digestAlgorithms`, the same value (when both are given they must be equal). */
  digest?: readonly DigestAlgorithm[] | undefined;
  /** Signature label (default `"sig1"`). */
  label?: string | undefined;
  /** Clock in milliseconds since 1970 (default `Date.now`); a sign call rejects with a TypeError when it returns anything else. */
  now?: (() => number) | undefined;
}

/**
 * An Ed25519 key: the 32-byte private seed, PKCS #8 PEM, a JWK with `d`, a
 * node:crypto KeyObject, or a private `CryptoKey` (may be non-extractable).
 */
export interface Ed25519SignerKey {
  /** The token's public id (`tok_…`), sent as `keyid`. */
  keyId: string;
  /** Ed25519. */
  alg: "ed25519";
  /** The private key, in one of the forms above; it cannot be read back from the signer. */
  privateKey: Ed25519PrivateKeyInput | CryptoKey;
}

/** An HMAC-SHA256 key derived from the token itself (`HMAC-SHA256(token, "keyward/v1/signing")`). */
export interface HmacTokenSignerKey {
  /** The token's public id (`tok_…`), sent as `keyid`; never the token. */
  keyId: string;
  /** HMAC-SHA256. */
  alg: "hmac-sha256";
  /** The token; only the secret derived from it is kept. */
  token: string;
  /** Not with `token`. */
  secret?: undefined;
}

/** An HMAC-SHA256 key given as the derived secret's bytes (at least 16) or an HMAC SHA-256 `CryptoKey` (at least 128 bits). */
export interface HmacSecretSignerKey {
  /** The token's public id (`tok_…`), sent as `keyid`. */
  keyId: string;
  /** HMAC-SHA256. */
  alg: "hmac-sha256";
  /** The derived secret, as bytes or a `CryptoKey`. */
  secret: Uint8Array | CryptoKey;
  /** Not with `secret`. */
  token?: undefined;
}

/** Options of {@link createSigner}: one key, plus settings. */
export type CreateSignerOptions = (Ed25519SignerKey | HmacTokenSignerKey | HmacSecretSignerKey) & SignerSettings;

/** What a Signer shows of itself: never key material. */
export interface SignerInfo {
  /** The token's public id (`tok_…`), sent as `keyid`. */
  keyId: string;
  /** The signature algorithm. */
  alg: SignatureAlgorithm;
}

/** Options of one {@link Signer.sign} call. */
export interface SignerCallOptions {
  /**
   * The request's body, when the caller holds it: the digest is computed
   * from it (or the request's Content-Digest checked against it) and it is
   * sent as is, so the body stream is neither cloned nor read (see `body`
   * of `signRequest`).
   */
  body?: string | Uint8Array | undefined;
}

/** Signs requests with one key. Its key cannot be read back: JSON, inspection and String show only `keyId` and `alg`. */
export interface Signer {
  /** The token's public id (`tok_…`), sent as `keyid`. */
  readonly keyId: string;
  /** The signature algorithm. */
  readonly alg: SignatureAlgorithm;
  /**
   * Returns a new, signed Request (the given one stays readable), with
   * Content-Digest when it has a body, Signature-Input and Signature. A body
   * read for the digest is bounded by the request's `signal`: aborted first,
   * the call rejects with its reason. A Content-Digest the request already
   * carries is kept only if it is the body's; otherwise the call rejects
   * with `INVALID_INPUT` (`field` `"body"`), as `signRequest`. A clock
   * (`now`) that returns no time since 1970 rejects it with a TypeError.
   */
  sign(request: Request, options?: SignerCallOptions): Promise<Request>;
  /** `keyId` and `alg` only. */
  toJSON(): SignerInfo;
}

const DEFAULT_COMPONENTS = ["@method", "@target-uri"] as const;
const PARAM_ORDER: readonly SignatureParamName[] = ["created", "expires", "nonce", "keyid", "alg"];
const PRINTABLE = /^[\x20-\x7E]+$/;
/** node's util.inspect calls it to show an object (a signer, a key pair, a seed) instead of its properties. */
export const INSPECT = Symbol.for("nodejs.util.inspect.custom");
/** Largest `expiresInSec`: `created` + it stays within {@link MAX_SF_INTEGER} for any clock before the year 31 million. */
const MAX_EXPIRES_IN_SEC = 999_999_999;

/** The options of createSigner, of every kind of key, and of one `sign` call. */
const SIGNER_OPTIONS = optionNames<CreateSignerOptions>({
  keyId: true,
  alg: true,
  privateKey: true,
  token: true,
  secret: true,
  components: true,
  nonce: true,
  expiresInSec: true,
  digestAlgorithms: true,
  digest: true,
  label: true,
  now: true,
});
const CALL_OPTIONS = optionNames<SignerCallOptions>({ body: true });

/**
 * Creates a request signer for a token: RFC 9421 signatures over `@method`,
 * `@target-uri` and, with a body, `content-digest` (RFC 9530), with the
 * parameters `created`, `expires`, `nonce`, `keyid` and `alg`. Everything is
 * checked here, once, so `sign` fails only on a bad request.
 *
 * @param options - The key id, one key (`privateKey`, `token` or `secret`) and optional settings.
 * @returns A frozen {@link Signer}.
 * @throws {TypeError} when an option has the wrong type, `keyId` is not printable ASCII or looks
 *   like a token, both `token` and `secret` are given, or a component identifier is invalid.
 * @throws {RangeError} for a seed that is not 32 bytes, an HMAC secret (bytes or CryptoKey) under 16 bytes, an empty
 *   component list, an `expiresInSec` that is not positive or is over 999 999 999, or an unknown digest algorithm.
 * @example
 * ```ts
 * const signer = createSigner({ keyId: "tok_4qTz8Rk2mXbN7wLcP1dYeF", alg: "ed25519", privateKey: seed });
 * const signed = await signer.sign(new Request("https://api.example.com/v1/prices?symbol=X"));
 * signed.headers.get("signature-input");
 * // 'sig1=("@method" "@target-uri");created=…;expires=…;nonce="…";keyid="tok_4qTz8Rk2mXbN7wLcP1dYeF";alg="ed25519"'
 * ```
 */
export function createSigner(options: CreateSignerOptions): Signer {
  if (options === null || typeof options !== "object") throw new TypeError("options must be an object");
  // A misspelt `components` would sign the defaults, covering less than was asked.
  checkOptionNames(options, SIGNER_OPTIONS, "createSigner");
  const keyId = checkSignerKeyId(options.keyId);
  const key = signingKey(options);
  const label = options.label ?? "sig1";
  if (typeof label !== "string" || !SF_KEY.test(label)) {
    throw new TypeError("label must be a structured-field key (lowercase letter or *, then a-z 0-9 _ - . *)");
  }
  const components = checkComponents(options.components ?? DEFAULT_COMPONENTS);
  const nonce = options.nonce ?? true;
  if (typeof nonce !== "boolean") throw new TypeError("nonce must be a boolean");
  const expiresInSec = options.expiresInSec ?? 300;
  if (typeof expiresInSec !== "number" || !Number.isSafeInteger(expiresInSec) || expiresInSec <= 0) {
    throw new RangeError("expiresInSec must be a positive integer (seconds)");
  }
  // `expires` must stay a Structured Field Integer (15 digits), or every sign call would throw.
  if (expiresInSec > MAX_EXPIRES_IN_SEC) throw new RangeError(`expiresInSec must be at most ${MAX_EXPIRES_IN_SEC} (seconds, about 31 years)`);
  if (options.digestAlgorithms !== undefined && options.digest !== undefined && String(options.digestAlgorithms) !== String(options.digest)) {
    throw new TypeError("digestAlgorithms and its deprecated alias digest differ: give digestAlgorithms only");
  }
  const digest = checkDigest(options.digestAlgorithms ?? options.digest ?? ["sha-256"]);
  const now = options.now ?? Date.now;
  if (typeof now !== "function") throw new TypeError("now must be a function returning milliseconds");

  const info: SignerInfo = { keyId, alg: key.alg };
  /** The options of signRequest for one request, at this moment. */
  const optionsFor = (request: Request): SignRequestOptions => {
    const ms: unknown = now();
    const created = typeof ms === "number" ? Math.floor(ms / 1000) : Number.NaN;
    if (!Number.isSafeInteger(created) || created < 0 || created + expiresInSec > MAX_SF_INTEGER) {
      throw new TypeError("now must return milliseconds since 1970 (a number)");
    }
    return {
      label,
      keyId,
      key,
      components: request.body === null ? components.withoutBody : components.withBody,
      created,
      expires: created + expiresInSec,
      nonce: nonce ? true : undefined,
      params: nonce ? PARAM_ORDER : PARAM_ORDER.filter((p) => p !== "nonce"),
      digestAlgorithms: digest,
    };
  };
  const sign = async (request: Request, call: SignerCallOptions = {}): Promise<Request> => {
    if (typeof Request === "undefined" || !(request instanceof Request)) throw new TypeError("request must be a Request");
    if (call !== null && typeof call === "object") checkOptionNames(call, CALL_OPTIONS, "Signer.sign");
    const options = optionsFor(request);
    return signRequest(request, call?.body === undefined ? options : { ...options, body: call.body });
  };

  const signer = Object.defineProperties(
    {},
    {
      keyId: { value: keyId, enumerable: true },
      alg: { value: key.alg, enumerable: true },
      sign: { value: sign },
      toJSON: { value: () => ({ ...info }) },
      toString: { value: () => `Signer(${keyId}, ${key.alg})` },
      [Symbol.toStringTag]: { value: "Signer" },
      // Node's util.inspect (and console.log in Node, Deno, Bun).
      [INSPECT]: {
        value: (_depth: number, opts: unknown, inspect?: (v: unknown, o: unknown) => string) =>
          `Signer ${typeof inspect === "function" ? inspect(info, opts) : JSON.stringify(info)}`,
      },
    },
  ) as Signer;
  signersInPlace.set(signer, (request, body) => signInPlace(request, optionsFor(request), body));
  return Object.freeze(signer);
}

/**
 * @internal How each signer createSigner made signs a Request in place (see
 * signInPlace), for signedFetch: the same signature as its `sign` with the
 * body given, without a copy of the Request. Other signers have none.
 */
export const signersInPlace = new WeakMap<object, (request: Request, body?: Uint8Array) => Promise<Request>>();

/**
 * Checks a key id as signing does ({@link checkKeyId}: not a token), and that
 * it is printable ASCII, so a signer fails when it is made, not when it signs
 * (internal; also used by signerFromEnv). @throws {TypeError} without echoing it.
 */
export function checkSignerKeyId(keyId: unknown): string {
  if (typeof keyId === "string" && keyId !== "" && !PRINTABLE.test(keyId)) throw new TypeError("keyId must be printable ASCII");
  return checkKeyId(keyId);
}

function signingKey(options: CreateSignerOptions): SigningKey {
  if (options.alg === "ed25519") {
    const k = options.privateKey;
    if (isCryptoKey(k)) {
      if (k.algorithm.name !== "Ed25519" || k.type !== "private" || !k.usages.includes("sign")) {
        throw new TypeError('privateKey must be an Ed25519 private CryptoKey with the "sign" usage');
      }
      return { alg: "ed25519", privateKey: k };
    }
    // A private copy: later changes to the caller's array do not reach the signer.
    return { alg: "ed25519", privateKey: ed25519Seed(k) };
  }
  if (options.alg === "hmac-sha256") {
    const { token, secret } = options as { token?: unknown; secret?: unknown };
    if (token !== undefined && secret !== undefined) throw new TypeError("give either token or secret, not both");
    if (token !== undefined) {
      if (typeof token !== "string" || token === "") throw new TypeError("token must be a non-empty string");
      if (token.trim() !== token) throw new TypeError("token has leading or trailing whitespace");
      if (token === options.keyId) throw new TypeError("keyId must be the token's public id, not the token");
      return { alg: "hmac-sha256", secret: deriveSigningSecret(token) };
    }
    if (isCryptoKey(secret)) {
      const alg = secret.algorithm as HmacKeyAlgorithm;
      if (alg.name !== "HMAC" || alg.hash?.name !== "SHA-256" || !secret.usages.includes("sign")) {
        throw new TypeError('secret must be an HMAC SHA-256 CryptoKey with the "sign" usage');
      }
    } else if (secret === undefined) {
      throw new TypeError('alg "hmac-sha256" needs token or secret');
    } else if (!(secret instanceof Uint8Array)) {
      throw new TypeError("secret must be a Uint8Array or a CryptoKey");
    }
    const bytes = hmacSecretBytes(secret);
    if (bytes < MIN_HMAC_SECRET_BYTES) throw new RangeError(`secret must be at least ${MIN_HMAC_SECRET_BYTES} bytes, got ${bytes}`);
    return { alg: "hmac-sha256", secret: isCryptoKey(secret) ? secret : new Uint8Array(secret) };
  }
  throw new TypeError('alg must be "ed25519" or "hmac-sha256"');
}

interface ComponentLists {
  withBody: readonly string[];
  withoutBody: readonly string[];
}

function checkComponents(components: readonly string[]): ComponentLists {
  if (!Array.isArray(components)) throw new TypeError("components must be an array of strings");
  if (components.length === 0) throw new RangeError("components must not be empty");
  const seen = new Set<string>();
  let digestListed = false;
  components.forEach((c, i) => {
    if (typeof c !== "string") throw new TypeError(`components[${i}] must be a string`);
    let id: ReturnType<typeof parseComponentId>;
    try {
      id = parseComponentId(c);
    } catch (cause) {
      throw new TypeError(`components[${i}] is not a valid component identifier`, { cause });
    }
    const name = id[0] as string;
    if (name === "@signature-params") throw new TypeError(`components[${i}]: @signature-params cannot be covered`);
    checkSignable(id, i);
    const key = componentKey(id);
    if (seen.has(key)) throw new TypeError(`components[${i}] is listed twice`);
    seen.add(key);
    if (name === "content-digest" && id[1].size === 0) digestListed = true;
  });
  const list = [...components];
  if (digestListed && list.length === 1) throw new RangeError("components must name more than content-digest");
  return {
    withBody: Object.freeze(digestListed ? list : [...list, "content-digest"]),
    withoutBody: Object.freeze(list.filter((c) => !isPlainDigest(c))),
  };
}

/**
 * Derives the component from an empty probe request: anything but "absent"
 * (an unknown derived component, `@status`, an invalid field name or
 * parameter) would fail on every request, so it fails here instead.
 */
function checkSignable(id: ReturnType<typeof parseComponentId>, i: number): void {
  try {
    componentValue(componentContext(new Request("https://probe.invalid/")), id);
  } catch (cause) {
    if (cause instanceof SignatureBaseError && cause.reason === "COMPONENT_MISSING") return;
    const reason = cause instanceof SignatureBaseError ? cause.reason : "COMPONENT_INVALID";
    const what = reason === "COMPONENT_UNSUPPORTED" ? "is not supported on a request" : "is not a valid component identifier";
    throw new TypeError(`components[${i}] ${what}`, { cause });
  }
}

function isPlainDigest(c: string): boolean {
  const id = parseComponentId(c);
  return id[0] === "content-digest" && id[1].size === 0;
}

function checkDigest(algs: readonly DigestAlgorithm[]): readonly DigestAlgorithm[] {
  if (!Array.isArray(algs) || algs.length === 0) throw new TypeError("digestAlgorithms must be a non-empty array");
  for (const alg of algs) {
    if (alg !== "sha-256" && alg !== "sha-512") throw new RangeError('digest algorithms must be "sha-256" or "sha-512"');
  }
  return Object.freeze([...algs]);
}

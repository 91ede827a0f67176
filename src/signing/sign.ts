// Creating a signature (RFC 9421 §3.1) and attaching it (§4).
import type { RandomSource } from "../lib/crypto.js";
import { initBodyBytes } from "./body.js";
import { referrerOf } from "./referrer.js";
import { bodyToSign, prepareSignature } from "./signature-headers.js";
import type { DigestAlgorithm, SignatureParamName, SigningKey } from "./types.js";

/**
 * Options of {@link signRequest}: the key id (`keyId`; the deprecated
 * `keyid` still works) and {@link SignOptions}.
 */
export type SignRequestOptions = SignOptions &
  (
    | {
        /**
         * Key identifier, sent as the signature's `keyid` parameter; keyward uses the
         * token's public id (`tok_…`). A token here is refused: it would be sent in the clear.
         */
        keyId: string;
        /** @deprecated Use `keyId` (when both are given they must be equal). */
        keyid?: string | undefined;
      }
    | {
        keyId?: undefined;
        /**
         * @deprecated Use `keyId`: the same value, named like every other
         * keyward option (`keyid` stays the name of the parameter on the wire).
         */
        keyid: string;
      }
  );

/** Options of {@link signRequest} besides the key id. */
export interface SignOptions {
  /** Signature label, a structured-field key (default `"sig1"`); must not be in use on the request. */
  label?: string | undefined;
  /**
   * Covered components in order. Default: `@method`, `@target-uri`, plus
   * `content-digest` when the request has a body.
   */
  components?: readonly string[] | undefined;
  /** Creation time in seconds (default: `now()` rounded down). */
  created?: number | undefined;
  /** Expiration time in seconds. */
  expires?: number | undefined;
  /** Nonce; `true` generates 128 random bits, base64url-encoded. */
  nonce?: string | true | undefined;
  /** Application tag (`tag` parameter). */
  tag?: string | undefined;
  /**
   * Exactly the signature parameters to include, in order; each needs a value.
   * Default: those available in the order created, expires, nonce, keyid, alg,
   * tag, i.e. `["created", "keyid", "alg"]` unless expires, nonce or tag is given.
   */
  params?: readonly SignatureParamName[] | undefined;
  /** The signing key; its `alg` is the signature algorithm. */
  key: SigningKey;
  /** Clock in milliseconds (default `Date.now`). */
  now?: (() => number) | undefined;
  /** Algorithms for a Content-Digest computed here (default `["sha-256"]`). */
  digestAlgorithms?: readonly DigestAlgorithm[] | undefined;
  /** Randomness for `nonce: true` (default `crypto.getRandomValues`). */
  random?: RandomSource | undefined;
  /**
   * The request's body, when you hold it (a string is sent as UTF-8): the
   * Content-Digest is computed from it, and `signRequest` sends these bytes,
   * so the body stream is neither cloned nor read (the fast path for bodies).
   * It must be the body of the request; `INVALID_INPUT` when the request
   * has none. A Content-Digest the request carries is checked against it.
   */
  body?: string | Uint8Array | undefined;
}

/** Requests signRequest already copied once (held weakly). */
const signedOnce = new WeakSet<Request>();

/**
 * Each signed copy's original, held as long as the copy lives: the copy's
 * signal follows the original's, which undici keeps following the caller's
 * signal only while the original Request lives (nodejs/undici#4068).
 */
const originals = new WeakMap<Request, Request>();

/**
 * Builds the request `fetch(input, init)` would send, and signs it, as
 * {@link signRequest} signs a Request but cheaper: the body, when `init.body`
 * is a string, a Uint8Array (or another view), an ArrayBuffer or
 * URLSearchParams, is digested from that value, encoded as fetch encodes it
 * (UTF-8; URLSearchParams serialised), so no stream is cloned or read (a
 * subclass, a view of shared memory, or a value with its own `byteLength`,
 * `slice` or `toString`, is read from the Request built instead), and
 * the Request built here is the one returned (with the Content-Type fetch
 * adds for a string or URLSearchParams body, which a covered `content-type`
 * signs). Other bodies (Blob, FormData, ReadableStream) are read from the
 * built Request, as signRequest reads a Request's. The signature is the one
 * `signRequest(new Request(input, init), options)` makes.
 *
 * @param input - The URL (relative URLs as the Request constructor resolves them).
 * @param init - As for fetch: method, headers, body, signal, …
 * @param options - As for {@link signRequest}, without `body` (the body is `init.body`).
 * @returns A new, signed Request.
 * @throws {TypeError} as `new Request(input, init)` (a GET with a body, a bad method or URL), for
 *   a `body` option, and as {@link signRequest}.
 * @throws {SignatureBaseError} / {InvalidInputError} as {@link signRequest}.
 * @example
 * ```ts
 * const signed = await signRequest("https://api.example.com/v1/orders", { method: "POST", body: '{"symbol":"X"}' }, {
 *   keyId: "tok_123",
 *   key: { alg: "ed25519", privateKey: seed }, // 32-byte Uint8Array
 *   created: 1700000000, // default: now
 * });
 * signed.headers.get("signature-input");
 * // 'sig1=("@method" "@target-uri" "content-digest");created=1700000000;keyid="tok_123";alg="ed25519"'
 * ```
 */
export function signRequest(input: string | URL, init: RequestInit | undefined, options: SignRequestOptions): Promise<Request>;
// The Request form last: `Parameters<typeof signRequest>` reads the last overload.
/**
 * Signs a request (RFC 9421 §3.1) and returns a new Request carrying the
 * signature in `Signature-Input` and `Signature` (§4.1, §4.2), after any
 * signatures already present. When `content-digest` is covered and the
 * request has a body, its bytes (the `body` option, or read) are digested
 * first (RFC 9530); a Content-Digest the request already carries is kept
 * only if it is theirs: every sha-256 / sha-512 member it has must match,
 * and one must be present, or the call throws rather than sign a digest of
 * another body (a forwarded request whose body was replaced, a stale field).
 * The given request is left untouched and readable. Signing the same
 * Request again reads its body into memory once (a clone's tee would buffer
 * it anyway), and later signings of it reuse those bytes. To set the fields
 * on a request you build yourself, without a new Request, use {@link signatureHeaders};
 * for one not built yet, `signRequest(url, init, options)` builds it once and
 * digests the body from `init.body`, without reading a stream.
 * Reading the body is bounded by the request's `signal`, as fetch's would
 * be: aborted before the body has ended, the call rejects with its reason.
 *
 * @param request - The request to sign.
 * @param options - Key, key id, covered components and parameters.
 * @returns A new, signed Request with the same body.
 * @throws {SignatureBaseError} (`INVALID_INPUT`) when a covered component is absent or invalid.
 * @throws {InvalidInputError} (`INVALID_INPUT`) for a bad label, a label already used, unparsable
 *   existing signature fields, or a listed parameter without a value; with `field` `"body"`, for a
 *   covered Content-Digest that is not the body's (or has no sha-256 / sha-512 member, or does not parse).
 * @throws {TypeError} / {RangeError} for arguments of the wrong type or size (e.g. a 31-byte seed), and a
 *   `keyId` that is not printable ASCII or looks like a token (the message never echoes it).
 * @throws the reason of the request's signal when it aborts while the body is read.
 * @example
 * ```ts
 * const signed = await signRequest(new Request("https://api.example.com/v1/prices?symbol=X"), {
 *   keyId: "tok_123",
 *   key: { alg: "ed25519", privateKey: seed }, // 32-byte Uint8Array
 *   created: 1700000000, // default: now
 * });
 * signed.headers.get("signature-input");
 * // 'sig1=("@method" "@target-uri");created=1700000000;keyid="tok_123";alg="ed25519"'
 * ```
 */
export function signRequest(request: Request, options: SignRequestOptions): Promise<Request>;
export async function signRequest(
  input: Request | string | URL,
  initOrOptions: RequestInit | SignRequestOptions | undefined,
  maybeOptions?: SignRequestOptions,
): Promise<Request> {
  if (maybeOptions !== undefined) return signInit(input as string | URL, initOrOptions as RequestInit | undefined, maybeOptions);
  const request = input as Request;
  const options = initOrOptions as SignRequestOptions;
  const again = signedOnce.has(request);
  const prepared = await prepareSignature(request, options);
  signedOnce.add(request);
  const fields = prepared.headers;
  let body = prepared.body;
  // Same request, same body: the bytes already read for the digest, or a clone
  // (a Request built from another takes its body; the caller's stays readable).
  // A clone tees the caller's stream: a Request signed again is read once
  // instead (bodyToSign), so its body does not nest deeper with every call.
  // The copy's headers are the caller's; its referrer and referrer policy too,
  // which the Request constructor resets when init names any member.
  if (body === null && request.body !== null && again) body = await bodyToSign(request);
  const from = body === null && request.body !== null ? request.clone() : request;
  // The copy follows the caller's signal. The first copy of a Request follows
  // it directly (the cheap way); later copies of the same Request follow it
  // through a signal of their own, since undici registers every direct
  // follower on the caller's signal and scans them on each construction, so
  // signing one Request again and again grew slower with every call.
  const signal = again ? (AbortSignal.any?.([request.signal]) ?? request.signal) : request.signal;
  const init: RequestInit = { headers: request.headers, signal, ...referrerOf(request) };
  if (body !== null) init.body = body as BodyInit;
  const signed = new Request(from, init);
  const headers = signed.headers;
  headers.set("signature-input", fields["signature-input"]);
  headers.set("signature", fields.signature);
  if (fields["content-digest"] !== undefined) headers.set("content-digest", fields["content-digest"]);
  originals.set(signed, request);
  return signed;
}

/**
 * The URL form of signRequest: one Request, built by the platform (method,
 * URL, headers and Content-Type as fetch makes them), signed in place with
 * the body bytes taken from `init.body` itself (see initBodyBytes).
 */
async function signInit(input: string | URL, init: RequestInit | undefined, options: SignRequestOptions): Promise<Request> {
  if (options !== null && typeof options === "object" && options.body !== undefined) {
    throw new TypeError("the body option is for signRequest(request, options): here the body is init.body");
  }
  if (typeof Request !== "undefined" && input instanceof Request) {
    throw new TypeError("signRequest(input, init, options) takes a URL: sign a Request with signRequest(request, options)");
  }
  // The Request reads init.body too: an init whose body getter answered each read differently
  // would be signed for another body than it sends (and fail verification), never the reverse.
  const body = init?.body;
  const request = new Request(input, init);
  // Digested at once (synchronously, in prepareSignature): the bytes the Request copied.
  const bytes = request.body === null ? undefined : initBodyBytes(body);
  // A body to read (Blob, FormData, stream): the general path, from the Request built here.
  return bytes === undefined && request.body !== null ? signRequest(request, options) : signInPlace(request, options, bytes);
}

/**
 * @internal Signs `request` itself, not a copy: for a Request built by the
 * caller and seen by no one else (signRequest's URL form, signedFetch), whose
 * body bytes the caller holds (`body`, undefined when it has none). The
 * digest is computed synchronously, before the first await.
 */
export async function signInPlace(request: Request, options: SignRequestOptions, body?: Uint8Array): Promise<Request> {
  const { headers: fields } = await prepareSignature(request, options, body);
  const headers = request.headers;
  headers.set("signature-input", fields["signature-input"]);
  headers.set("signature", fields.signature);
  if (fields["content-digest"] !== undefined) headers.set("content-digest", fields["content-digest"]);
  return request;
}

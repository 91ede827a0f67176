// Computing a signature (RFC 9421 §3.1) and the field values that carry it
// (§4), without building a new Request: shared by signRequest and by clients
// that assemble their own requests.
import { InvalidInputError } from "../errors.js";
import { toBase64Url, utf8 } from "../lib/bytes.js";
import { checkOptionNames, optionNames } from "../lib/options.js";
import { secureRandom } from "../lib/crypto.js";
import { type MaybePromise, signToBase64 } from "./algorithms.js";
import { buildSignatureBase, DEFAULT_PARAM_ORDER, signatureParameters } from "./base.js";
import { readBody } from "./body.js";
import { type ComponentId, parseComponentId } from "./components.js";
import { computeContentDigest, verifyContentDigest } from "./digest.js";
import { checkKeyId } from "./key-id.js";
import { checkSigningKey } from "./keys.js";
import type { SignRequestOptions } from "./sign.js";
import { parseDictionary, SF_KEY, serializeInnerList } from "./structured.js";
import type { SignatureParamName, SignatureParams, SigningKey } from "./types.js";

/**
 * Header fields to set on a request to sign it, as computed by
 * {@link signatureHeaders}. Signature-Input and Signature hold any signatures
 * the request already carried, then the new one (RFC 9421 §4), so setting
 * them (not appending) gives the signed request.
 */
export interface SignatureHeaders {
  "signature-input": string;
  signature: string;
  /** Present when computed here: `content-digest` is covered and the request had none (RFC 9530). */
  "content-digest"?: string;
}

/** What signRequest needs: the fields, and the body bytes when they are known (given, or read for the digest). */
interface PreparedSignature {
  headers: SignatureHeaders;
  body: Uint8Array | null;
}

const WITH_BODY: readonly string[] = ["@method", "@target-uri", "content-digest"];
const WITHOUT_BODY: readonly string[] = ["@method", "@target-uri"];

/**
 * Computes the signature of a request (RFC 9421 §3.1) and returns the header
 * fields that carry it, without creating a Request: set each returned field
 * on the request (`headers.set(name, value)`) to sign it. Takes the same
 * options as {@link signRequest}, which is this plus a new Request. The
 * request is not modified; its body is read (through a clone) only when
 * `content-digest` is covered and the `body` option does not give it, and
 * that read is bounded by the request's `signal`. A Content-Digest the
 * request carries is checked against the body, as in signRequest.
 * The fields fit the bytes of that request's body: send the same bytes.
 * A string, bytes, a Blob or URLSearchParams serialize alike every time, so
 * `fetch(url, init)` with the init the request was built from sends them;
 * a FormData gets a new multipart boundary each time it is serialized (its
 * digest no longer matches: `DIGEST_MISMATCH`) and a stream is read by the
 * signing: for those, send the request itself (`fetch(request)`, with the
 * fields set on its headers), or use {@link signRequest}.
 *
 * @param request - The request to sign.
 * @param options - Key, key id, covered components and parameters.
 * @returns `{ "signature-input", signature }`, plus `"content-digest"` when it was computed.
 * @throws {SignatureBaseError} (`INVALID_INPUT`) when a covered component is absent or invalid.
 * @throws {InvalidInputError} (`INVALID_INPUT`) for a bad label, a label already used, unparsable
 *   existing signature fields, or a listed parameter without a value; with `field` `"body"`, for a
 *   covered Content-Digest that is not the body's (or has no sha-256 / sha-512 member, or does not parse).
 * @throws {TypeError} / {RangeError} for arguments of the wrong type or size (e.g. a 31-byte seed), and a
 *   `keyId` that is not printable ASCII or looks like a token (the message never echoes it).
 * @throws the reason of the request's signal when it aborts while the body is read.
 * @example
 * ```ts
 * const url = "https://api.example.com/v1/orders";
 * const init = { method: "POST", headers: new Headers({ "content-type": "application/json" }), body: '{"symbol":"X"}' };
 * const fields = await signatureHeaders(new Request(url, init), {
 *   keyId: "tok_123",
 *   key: { alg: "hmac-sha256", secret }, // Uint8Array, at least 16 bytes
 *   created: 1700000000, // default: now
 * });
 * for (const [name, value] of Object.entries(fields)) init.headers.set(name, value);
 * // fetch(url, init) now sends a signed request; fields["content-digest"] was computed from the body.
 * ```
 */
export async function signatureHeaders(request: Request, options: SignRequestOptions): Promise<SignatureHeaders> {
  return (await prepareSignature(request, options)).headers;
}

/** The options of signRequest and signatureHeaders. */
const SIGN_OPTIONS = optionNames<SignRequestOptions>({
  keyId: true,
  keyid: true,
  label: true,
  components: true,
  created: true,
  expires: true,
  nonce: true,
  tag: true,
  params: true,
  key: true,
  now: true,
  digestAlgorithms: true,
  random: true,
  body: true,
});

/**
 * Validates the options, reads the body if `content-digest` is covered and
 * it is not given, computes or checks the digest, and signs. Synchronous unless a body is read or the key signs asynchronously.
 * `body`: the request's body bytes when the caller computed them (signRequest's
 * URL form), in place of the `body` option.
 */
export function prepareSignature(request: Request, options: SignRequestOptions, body?: Uint8Array): MaybePromise<PreparedSignature> {
  if (typeof Request === "undefined" || !(request instanceof Request)) throw new TypeError("request must be a Request");
  if (options === null || typeof options !== "object") throw new TypeError("options must be an object");
  // A misspelt `components` or `nonce` would sign less than was asked, without a word.
  checkOptionNames(options, SIGN_OPTIONS, "signRequest");
  const key = checkSigningKey(options.key);
  const label = options.label ?? "sig1";
  if (typeof label !== "string" || !SF_KEY.test(label)) {
    throw new InvalidInputError("label", "must be a structured-field key (lowercase letters, digits, _-.*)");
  }
  const keyId = checkKeyId(options.keyId ?? options.keyid);
  if (options.keyId !== undefined && options.keyid !== undefined && options.keyid !== options.keyId) {
    throw new TypeError("keyId and its deprecated alias keyid differ: give keyId only");
  }
  const existing = existingFields(request.headers, label);

  const hasBody = request.body !== null;
  const components = options.components ?? (hasBody ? WITH_BODY : WITHOUT_BODY);
  if (!Array.isArray(components) || components.some((c) => typeof c !== "string")) {
    throw new TypeError("components must be an array of strings");
  }
  const ids: ComponentId[] = components.map(parseComponentId);

  const given = body ?? givenBody(options.body, hasBody);
  const job: Job = { request, options, key, keyId, label, existing, ids };
  if (!hasBody || !ids.some((id) => id[0] === "content-digest")) return sign(job, null, given);
  // Covered: computed from the body, or, when the request carries one, signed
  // as is only once it matches the body (never a signature over another body's digest).
  const present = request.headers.get("content-digest");
  const signWith = (body: Uint8Array) => (present === null ? sign(job, body, body) : sign(job, null, checkedDigest(present, body)));
  return given !== null ? signWith(given) : bodyToSign(request).then(signWith);
}

/**
 * `body`, after checking that the Content-Digest the request carries is its
 * digest: every sha-256 / sha-512 member present must match, and one must be.
 *
 * @throws {InvalidInputError} (`INVALID_INPUT`, field `body`) otherwise
 */
function checkedDigest(field: string, body: Uint8Array): Uint8Array {
  const result = verifyContentDigest(field, body);
  if (result.ok) return body;
  const hint = "remove the field to have it computed from the body";
  const problem =
    result.code === "DIGEST_MISMATCH"
      ? "does not match the body"
      : result.code === "DIGEST_MISSING"
        ? "has no sha-256 or sha-512 digest to check against the body"
        : "is not a Dictionary of Byte Sequences";
  throw new InvalidInputError("body", `the request's Content-Digest ${problem}`, { hint });
}

/** Requests whose body signing read once; the bodies of those read again (all held weakly). */
const readOnce = new WeakSet<Request>();
const bodies = new WeakMap<Request, Promise<Uint8Array>>();

/**
 * The body of a request to sign, read through a clone. Each clone tees the
 * caller's stream and leaves the caller one branch, so reading a clone for
 * every signature of the same Request would nest its body one level deeper
 * each time: slower to read with every call, and a stack overflow after a
 * few thousand. So the second read of a Request's body is kept, for as long
 * as the Request lives, and serves every later one (a read that fails is not
 * kept). A Request signed once keeps nothing: the caller's branch of the tee
 * holds the bytes already.
 *
 * @throws {TypeError} (a rejection) when the body was already consumed
 * @throws the reason of the request's signal (a rejection) when it is aborted before the body ends
 */
export function bodyToSign(request: Request): Promise<Uint8Array> {
  // A body the caller has consumed (or locked) since is refused, as on a first call.
  const kept = request.bodyUsed || request.body?.locked ? undefined : bodies.get(request);
  if (kept !== undefined) return kept;
  // The request's signal bounds the read, as it would fetch's: aborted, it rejects with the reason.
  const body = readBody(request, Number.POSITIVE_INFINITY, request.signal) as Promise<Uint8Array>;
  if (!readOnce.has(request)) readOnce.add(request);
  else {
    bodies.set(request, body);
    body.catch(() => {
      if (bodies.get(request) === body) bodies.delete(request);
    });
  }
  return body;
}

/** The `body` option as bytes (null when not given). */
function givenBody(body: SignRequestOptions["body"], hasBody: boolean): Uint8Array | null {
  if (body === undefined) return null;
  if (!hasBody) throw new InvalidInputError("body", "is given but the request has no body");
  if (typeof body === "string") return utf8(body);
  if (body instanceof Uint8Array) return body;
  throw new InvalidInputError("body", "must be a string or a Uint8Array");
}

interface Job {
  request: Request;
  options: SignRequestOptions;
  key: SigningKey;
  /** The checked key id. */
  keyId: string;
  label: string;
  existing: { input: string | null; signature: string | null };
  ids: ComponentId[];
}

/** Signs; `digestOf` is the body to compute Content-Digest from (null: not computed here), `body` the one signRequest sends. */
function sign(job: Job, digestOf: Uint8Array | null, body: Uint8Array | null): MaybePromise<PreparedSignature> {
  const { options, key, keyId, label, existing } = job;
  const digest = digestOf === null ? undefined : computeContentDigest(digestOf, options.digestAlgorithms ?? ["sha-256"]);
  const params = signatureParameters(signatureValues(options, keyId, key.alg), signatureOrder(options));
  const paramsValue = serializeInnerList([job.ids, params]);
  const fields = digest === undefined ? undefined : { "content-digest": digest };
  const base = buildSignatureBase(job.request, job.ids, paramsValue, fields);

  const finish = (signature: string): PreparedSignature => {
    // §4: new Dictionary members after the existing ones, which stay byte for byte.
    const input = `${label}=${paramsValue}`;
    const value = `${label}=:${signature}:`;
    const headers: SignatureHeaders = {
      "signature-input": existing.input === null ? input : `${existing.input}, ${input}`,
      signature: existing.signature === null ? value : `${existing.signature}, ${value}`,
    };
    if (digest !== undefined) headers["content-digest"] = digest;
    return { headers, body };
  };
  const signature = signToBase64(key, base);
  return signature instanceof Promise ? signature.then(finish) : finish(signature);
}

/** The current Signature-Input and Signature values, after checking the label is free. */
function existingFields(headers: Headers, label: string): { input: string | null; signature: string | null } {
  const field = (name: string) => {
    const value = headers.get(name);
    if (value === null) return value;
    const dict = parseDictionary(value);
    if (dict === null) throw new InvalidInputError("request", `existing ${name} field is not a valid Dictionary`);
    if (dict.has(label)) throw new InvalidInputError("label", `"${label}" is already used on this request`);
    return value;
  };
  return { input: field("signature-input"), signature: field("signature") };
}

function signatureValues(options: SignRequestOptions, keyId: string, alg: string): SignatureParams {
  let nonce = options.nonce;
  if (nonce === true) nonce = toBase64Url((options.random ?? secureRandom)(16));
  return {
    created: options.created ?? Math.floor((options.now ?? Date.now)() / 1000),
    expires: options.expires,
    nonce,
    keyid: keyId,
    alg,
    tag: options.tag,
  };
}

function signatureOrder(options: SignRequestOptions): readonly SignatureParamName[] {
  if (options.params === undefined) return DEFAULT_PARAM_ORDER;
  if (!Array.isArray(options.params)) throw new TypeError("params must be an array");
  for (const name of options.params as readonly SignatureParamName[]) {
    // created, keyid and alg always have a value; unknown names are rejected by signatureParameters.
    if ((name === "expires" || name === "nonce" || name === "tag") && options[name] === undefined) {
      throw new InvalidInputError("params", `"${name}" is listed but has no value`);
    }
  }
  return options.params;
}

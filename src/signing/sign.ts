// Creating a signature (RFC 9421 §3.1) and attaching it (§4).
import { InvalidInputError } from "../errors.js";
import { toBase64, toBase64Url, utf8 } from "../lib/bytes.js";
import { type RandomSource, secureRandom } from "../lib/crypto.js";
import { ed25519Sign, hmacSign } from "./algorithms.js";
import { buildSignatureBase, DEFAULT_PARAM_ORDER, signatureParameters } from "./base.js";
import { readBody } from "./body.js";
import { parseComponentId } from "./components.js";
import { computeContentDigest } from "./digest.js";
import { checkSigningKey } from "./keys.js";
import { SF_KEY, serializeInnerList, tryParseDictionary } from "./structured.js";
import type { DigestAlgorithm, SignatureParamName, SignatureParams, SigningKey } from "./types.js";

/** Options of {@link signRequest}. */
export interface SignRequestOptions {
  /** Signature label, a structured-field key (default `"sig1"`); must not be in use on the request. */
  label?: string;
  /** Key identifier (`keyid` parameter); keyward uses the token's public id. */
  keyid: string;
  /**
   * Covered components in order. Default: `@method`, `@target-uri`, plus
   * `content-digest` when the request has a body.
   */
  components?: readonly string[];
  /** Creation time in seconds (default: `now()` rounded down). */
  created?: number;
  /** Expiration time in seconds. */
  expires?: number;
  /** Nonce; `true` generates 128 random bits, base64url-encoded. */
  nonce?: string | true;
  /** Application tag (`tag` parameter). */
  tag?: string;
  /**
   * Exactly the signature parameters to include, in order; each needs a value.
   * Default: those available in the order created, expires, nonce, keyid, alg,
   * tag, i.e. `["created", "keyid", "alg"]` unless expires, nonce or tag is given.
   */
  params?: readonly SignatureParamName[];
  /** The signing key; its `alg` is the signature algorithm. */
  key: SigningKey;
  /** Clock in milliseconds (default `Date.now`). */
  now?: () => number;
  /** Algorithms for a Content-Digest computed here (default `["sha-256"]`). */
  digestAlgorithms?: readonly DigestAlgorithm[];
  /** Randomness for `nonce: true` (default `crypto.getRandomValues`). */
  random?: RandomSource;
}

/**
 * Signs a request (RFC 9421 §3.1) and returns a new Request carrying the
 * signature in `Signature-Input` and `Signature` (§4.1, §4.2), after any
 * signatures already present. When `content-digest` is covered, the request
 * has a body and no Content-Digest, the digest is computed first (RFC 9530).
 * The given request is left untouched and readable.
 *
 * @param request - The request to sign.
 * @param options - Key, key id, covered components and parameters.
 * @returns A new, signed Request with the same body.
 * @throws {SignatureBaseError} (`INVALID_INPUT`) when a covered component is absent or invalid.
 * @throws {InvalidInputError} (`INVALID_INPUT`) for a bad label, a label already used, unparsable
 *   existing signature fields, or a listed parameter without a value.
 * @throws {TypeError} / {RangeError} for arguments of the wrong type or size (e.g. a 31-byte seed).
 * @example
 * ```ts
 * const signed = await signRequest(new Request("https://api.example.com/v1/prices?symbol=X"), {
 *   keyid: "tok_123",
 *   key: { alg: "ed25519", privateKey: seed }, // 32-byte Uint8Array
 *   created: 1700000000, // default: now
 * });
 * signed.headers.get("signature-input");
 * // 'sig1=("@method" "@target-uri");created=1700000000;keyid="tok_123";alg="ed25519"'
 * ```
 */
export async function signRequest(request: Request, options: SignRequestOptions): Promise<Request> {
  if (typeof Request === "undefined" || !(request instanceof Request)) throw new TypeError("request must be a Request");
  if (options === null || typeof options !== "object") throw new TypeError("options must be an object");
  const key = checkSigningKey(options.key);
  const label = options.label ?? "sig1";
  if (typeof label !== "string" || !SF_KEY.test(label)) {
    throw new InvalidInputError("label", "must be a structured-field key (lowercase letters, digits, _-.*)");
  }
  if (typeof options.keyid !== "string" || options.keyid === "") throw new TypeError("keyid must be a non-empty string");
  assertLabelFree(request.headers, label);

  const hasBody = request.body !== null;
  const components = options.components ?? (hasBody ? ["@method", "@target-uri", "content-digest"] : ["@method", "@target-uri"]);
  if (!Array.isArray(components) || components.some((c) => typeof c !== "string")) {
    throw new TypeError("components must be an array of strings");
  }
  const ids = components.map(parseComponentId);

  // Build the message to sign: same request, same body, plus Content-Digest if it must be computed.
  const headers = new Headers(request.headers);
  let unsigned: Request;
  if (hasBody && ids.some((id) => id[0] === "content-digest") && !headers.has("content-digest")) {
    const body = (await readBody(request, Number.POSITIVE_INFINITY))!;
    headers.set("content-digest", computeContentDigest(body, options.digestAlgorithms ?? ["sha-256"]));
    unsigned = new Request(request, { headers, body: body as BodyInit });
  } else {
    // Cloning keeps the caller's request readable (a Request built from another takes its body).
    unsigned = new Request(hasBody ? request.clone() : request, { headers });
  }

  const params = signatureParameters(signatureValues(options, key.alg), signatureOrder(options));
  const paramsValue = serializeInnerList([ids, params]);
  const base = utf8(buildSignatureBase(unsigned, ids, paramsValue));
  const signature = key.alg === "ed25519" ? await ed25519Sign(key.privateKey, base) : await hmacSign(key.secret, base);

  // §4: append as new Dictionary members; existing members stay byte for byte.
  unsigned.headers.append("signature-input", `${label}=${paramsValue}`);
  unsigned.headers.append("signature", `${label}=:${toBase64(signature)}:`);
  return unsigned;
}

function assertLabelFree(headers: Headers, label: string): void {
  for (const name of ["signature-input", "signature"]) {
    const value = headers.get(name);
    if (value === null) continue;
    const dict = tryParseDictionary(value);
    if (dict === null) throw new InvalidInputError("request", `existing ${name} field is not a valid Dictionary`);
    if (dict.has(label)) throw new InvalidInputError("label", `"${label}" is already used on this request`);
  }
}

function signatureValues(options: SignRequestOptions, alg: string): SignatureParams {
  const now = options.now ?? Date.now;
  let nonce = options.nonce;
  if (nonce === true) nonce = toBase64Url((options.random ?? secureRandom)(16));
  return {
    created: options.created ?? Math.floor(now() / 1000),
    expires: options.expires,
    nonce,
    keyid: options.keyid,
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

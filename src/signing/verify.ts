// Verifying a signature (RFC 9421 §3.2) under an application policy (§3.2.1).
import { detach } from "../lib/detach.js";
import { checkOptionNames, optionNames } from "../lib/options.js";
import { readStream, withDeadline } from "../lib/read-stream.js";
import { isThenable } from "../lib/thenable.js";
import { type MaybePromise, verifyWith } from "./algorithms.js";
import { buildSignatureBase, DEFAULT_PARAM_ORDER } from "./base.js";
import { readBody } from "./body.js";
import {
  type ComponentId,
  componentIdToString,
  componentKey,
  decodedQueryName,
  FIELD_NAME,
  MessageContext,
  parseComponentId,
} from "./components.js";
import { verifyContentDigest } from "./digest.js";
import { SignatureBaseError } from "./errors.js";
import { usableVerifyingKey } from "./keys.js";
import { QueryIndex } from "./query.js";
import { shapeFailure } from "./shape.js";
import {
  byteSequenceBytes,
  type CheckedDictionary,
  type Dictionary,
  type InnerList,
  type Item,
  isInnerList,
  parseCheckedDictionary,
  serializeInnerList,
} from "./structured.js";
import type {
  SignatureAlgorithm,
  SignatureFailureCode,
  SignatureParamName,
  SignatureParams,
  VerifyingKey,
} from "./types.js";
import { work } from "./work.js";

/**
 * Keys to try for a signature: one, several in order (the current key, then
 * keys of a grace period), or null when the keyid is unknown.
 */
export type ResolvedKeys = VerifyingKey | readonly VerifyingKey[] | null;

/** Options of {@link verifyRequest}. */
export interface VerifyRequestOptions {
  /**
   * Finds the key for a `keyid` (and the `alg` parameter, if the signature has
   * one). Return null when unknown; a throw is treated as unknown too. An
   * array of keys is tried in order against one signature base, built once.
   */
  resolveKey: (keyid: string, alg: string | undefined) => Promise<ResolvedKeys> | ResolvedKeys;
  /** The label of the signature to check. Default: the only one, or the first that satisfies `required`. */
  label?: string | undefined;
  /**
   * What the signature must cover: component identifiers (`"@method"`,
   * `'@query-param;name="id"'`, `"content-digest"`) and signature parameter
   * names (`"created"`, `"expires"`, `"nonce"`, `"keyid"`, `"alg"`, `"tag"`:
   * the parameter must be present). `"@target-uri"` is also satisfied by
   * `@authority` + `@path` (+ `@query` when the URL has a query) or by
   * `@authority` + `@request-target`.
   * Default: `["@method", "@target-uri", "created"]`.
   *
   * Whatever the list, the safe minimum stays: `created` or `expires` must be
   * present (unless `unsafeAllowNoFreshness`), and a request with a non-empty
   * body must cover `content-digest` (unless `unsafeAllowUncoveredBody`).
   */
  required?: readonly string[] | undefined;
  /**
   * Accept signatures with neither `created` nor `expires`. Unsafe: such a
   * signature never expires, so it can be replayed forever unless it carries a
   * nonce, which must then be remembered forever (the `nonce` callback gets
   * `expiresAtMs` = `Number.MAX_SAFE_INTEGER`). Default false.
   */
  unsafeAllowNoFreshness?: boolean | undefined;
  /**
   * Accept a request with a body whose signature does not cover
   * `content-digest`. Unsafe: the body can be swapped under the signature.
   * Default false.
   */
  unsafeAllowUncoveredBody?: boolean | undefined;
  /** Oldest acceptable `created`, in seconds before now (default 300). */
  maxAgeSec?: number | undefined;
  /** Clock difference tolerated in both directions, in seconds (default 30). */
  clockSkewSec?: number | undefined;
  /** Clock in milliseconds (default `Date.now`). */
  now?: (() => number) | undefined;
  /**
   * Replay check, called last, only for an otherwise valid signature that has
   * a nonce: return false if the nonce was seen before; otherwise remember it
   * until `expiresAtMs`, after which the signature is refused anyway. Leave it
   * out to spend the nonce yourself after further checks: the result then
   * carries `nonce` and `nonceExpiresAtMs`.
   */
  nonce?: ((nonce: string, expiresAtMs: number) => Promise<boolean> | boolean) | undefined;
  /** Refuse signatures without a `nonce` parameter (`COMPONENT_MISSING`). Default false. */
  requireNonce?: boolean | undefined;
  /** Longest `nonce` parameter accepted, in characters (default 128); longer is `SIGNATURE_MALFORMED`. */
  maxNonceLength?: number | undefined;
  /** When `content-digest` is covered, recompute it from the body and compare (default true). */
  verifyDigest?: boolean | undefined;
  /** Largest body read to check Content-Digest (default 1 MiB); larger is `BODY_TOO_LARGE`. */
  maxBodyBytes?: number | undefined;
  /**
   * Longest time spent reading the body, in milliseconds from the start of
   * the read (default 10 000); slower is `BODY_TIMEOUT`, and the read is
   * cancelled. The body is read only after the signature has verified.
   */
  bodyTimeoutMs?: number | undefined;
  /**
   * The request's body, when the application has already read it (most
   * frameworks buffer bodies): checked against Content-Digest instead of
   * reading a clone of the body stream, which costs a stream tee. It must be
   * the very body the application then processes. It counts for the safe
   * minimum even when `request` has no body of its own (a GET or HEAD, which
   * a Fetch Request cannot give one): a non-empty body must be covered.
   * For such a request whose body nobody has read, give its stream instead:
   * it is read as a Request's own body would be, only once the signature
   * verified, within `maxBodyBytes` and `bodyTimeoutMs`.
   */
  body?: Uint8Array | ReadableStream<Uint8Array> | undefined;
  /** Largest Signature-Input and Signature field values, each, in characters (default 8 192); larger is `LIMIT_EXCEEDED`. */
  maxHeaderBytes?: number | undefined;
  /** Most signatures (labels) in Signature-Input and in Signature, each (default 8); more is `LIMIT_EXCEEDED`. */
  maxLabels?: number | undefined;
  /** Most covered components in one signature (default 32); more is `LIMIT_EXCEEDED`. */
  maxComponents?: number | undefined;
  /**
   * Most parameters in one member of Signature-Input or Signature: a
   * signature's own (`created`, `keyid`…) and those of its covered components
   * (`;name`, `;key`…) together (default 96); more is `LIMIT_EXCEEDED`.
   */
  maxParameters?: number | undefined;
  /** Longest request URL, in characters (default 8 192); longer is `LIMIT_EXCEEDED`. */
  maxUrlBytes?: number | undefined;
  /**
   * Largest total size of the header fields that the signature covers as
   * structured fields (`;key`, `;sf`: they are parsed), in characters (default
   * 1 024); larger is `LIMIT_EXCEEDED`.
   */
  maxStructuredFieldBytes?: number | undefined;
  /**
   * Largest total size of the header fields that the signature covers whole
   * (plain, `;bs` or `;sf`: copied into the signature base, which is
   * hashed), in characters, a field counted once per component that covers
   * it (default 8 192); larger is `LIMIT_EXCEEDED`. Fields covered by `;key`
   * count in `maxStructuredFieldBytes`.
   */
  maxCoveredFieldBytes?: number | undefined;
}

/** A verified signature. */
export interface VerifyRequestSuccess {
  /** The signature verified. */
  ok: true;
  /** The signature's `keyid` parameter: the key `resolveKey` was asked for. */
  keyid: string;
  /** The label of the signature that verified (`sig1`). */
  label: string;
  /** The algorithm used: always the resolved key's. */
  alg: SignatureAlgorithm;
  /** Which of the keys `resolveKey` returned verified (0 for a single key). */
  keyIndex: number;
  /** The signature's parameters as `Signature-Input` gave them (`created`, `expires`, `nonce`, `keyid`, `alg`, `tag`). */
  params: SignatureParams;
  /** Covered components in order, in readable form (`@method`, `@query-param;name="id"`). */
  components: string[];
  /**
   * The signature's nonce, when it has one (already spent if a `nonce` callback was given). It and
   * `keyid`, as `resolveKey` and `nonce` receive them, are strings of their own: remembering them
   * keeps nothing else of the request alive.
   */
  nonce?: string;
  /** Until when that nonce must be remembered: after it, the signature is refused anyway (ms since the epoch). */
  nonceExpiresAtMs?: number;
}

/** A refused request. `cause` holds what `resolveKey` or `nonce` threw, if that is why. */
export interface VerifyRequestFailure {
  /** The request was refused. */
  ok: false;
  /** Why: a stable code (`SIGNATURE_MISSING`, `SIGNATURE_INVALID`, `KEY_UNKNOWN`, `REPLAYED`, …). */
  code: SignatureFailureCode;
  /** The label of the signature that was checked, once one was picked. */
  label?: string;
  /** That signature's `keyid` parameter, once one was picked. */
  keyid?: string;
  /** What `resolveKey` or `nonce` threw (or another unexpected error), when that is why. */
  cause?: unknown;
}

/** Result of {@link verifyRequest}. */
export type VerifyRequestResult = VerifyRequestSuccess | VerifyRequestFailure;

/** @internal The signature parameters' names (an entry of `required` that is one names a parameter, not a component). */
export const PARAM_NAMES: ReadonlySet<string> = new Set<SignatureParamName>(DEFAULT_PARAM_ORDER);
/** @internal What a signature must cover unless `required` says otherwise. */
export const DEFAULT_REQUIRED = ["@method", "@target-uri", "created"] as const;

/** @internal The limits and switches of {@link VerifyRequestOptions} when not given. */
export const VERIFY_REQUEST_DEFAULTS = Object.freeze({
  maxAgeSec: 300,
  clockSkewSec: 30,
  maxNonceLength: 128,
  verifyDigest: true,
  maxBodyBytes: 1024 * 1024,
  bodyTimeoutMs: 10_000,
  maxHeaderBytes: 8 * 1024,
  maxLabels: 8,
  maxComponents: 32,
  maxParameters: 96,
  maxUrlBytes: 8 * 1024,
  maxStructuredFieldBytes: 1024,
  maxCoveredFieldBytes: 8 * 1024,
});

/** A nonce kept "forever": for a signature with neither `created` nor `expires` (unsafeAllowNoFreshness). */
const FOREVER_MS = Number.MAX_SAFE_INTEGER;

interface Requirement {
  params: string[];
  components: RequiredComponent[];
  targetUri: boolean;
}

/** A required component identifier: its componentKey, and its name when it has no parameters. */
interface RequiredComponent {
  key: string;
  name: string | undefined;
}

interface Config {
  resolveKey: VerifyRequestOptions["resolveKey"];
  label: string | undefined;
  requirement: Requirement;
  freshness: boolean;
  bodyCoverage: boolean;
  maxAgeSec: number;
  clockSkewSec: number;
  now: () => number;
  nonce: VerifyRequestOptions["nonce"];
  maxNonceLength: number;
  verifyDigest: boolean;
  maxBodyBytes: number;
  bodyTimeoutMs: number;
  body: Uint8Array | ReadableStream<Uint8Array> | undefined;
  maxHeaderBytes: number;
  maxLabels: number;
  maxComponents: number;
  maxParameters: number;
  maxUrlBytes: number;
  maxStructuredFieldBytes: number;
  maxCoveredFieldBytes: number;
}

interface Candidate {
  label: string;
  ids: ComponentId[];
  /** componentKey of each identifier, made on first use (only requirements with parameters need it). */
  keys: Set<string> | undefined;
  params: SignatureParams;
  raw: InnerList;
  /**
   * The body is not covered and its length is unknown (no Content-Length):
   * acceptable only if it turns out empty, which is checked once the
   * signature has verified, so that nothing is read for an unauthenticated request.
   */
  emptyBodyRequired: boolean;
}

type Failure = Omit<VerifyRequestFailure, "ok">;

/** What reading the body gave: its bytes, or why there are none. */
type BodyRead = Uint8Array | "BODY_TOO_LARGE" | "BODY_TIMEOUT" | "BODY_ALREADY_READ";

/**
 * Verifies the HTTP Message Signature of a request (RFC 9421 §3.2) and
 * enforces keyward's policy: required coverage, age, clock skew, expiry,
 * algorithm agreement, Content-Digest (RFC 9530) and nonce replay.
 *
 * The key decides the algorithm; an `alg` parameter, when present, must
 * name the same one (§3.2 step 6, §7.3.6). The work is bounded before
 * anything is parsed (field, URL and label limits, then cheap structure
 * checks), and checks run cheapest first: the body is read (with a size cap
 * and a deadline) only once the signature has verified, and the nonce is
 * spent last, so only fully valid requests consume one.
 *
 * @param request - The received request; its body is read through a clone.
 * @param options - Key lookup, policy and limits.
 * @returns `{ ok: true, keyid, label, alg, keyIndex, params, components, nonce?, nonceExpiresAtMs? }`
 *   or `{ ok: false, code }`. Never throws and never rejects because of anything in the request.
 * @throws {TypeError} / {RangeError} (as a rejection) only on misuse: `resolveKey` not a function,
 *   negative limits, an invalid `required` entry, an option of another name (a misspelt `requireNonce`).
 * @example
 * ```ts
 * const result = await verifyRequest(request, {
 *   resolveKey: async (keyid) => (keyid === "tok_123" ? { alg: "ed25519", publicKey } : null),
 * });
 * if (!result.ok) return new Response(null, { status: 401 }); // result.code says why
 * ```
 */
export async function verifyRequest(request: Request, options: VerifyRequestOptions): Promise<VerifyRequestResult> {
  const config = readOptions(options);
  try {
    const pending = verify(request, config);
    const outcome = isThenable(pending) ? await pending : pending;
    return "code" in outcome ? { ok: false, ...outcome } : outcome;
  } catch (cause) {
    return { ok: false, code: "SIGNATURE_INVALID", cause };
  }
}

type Outcome = VerifyRequestSuccess | Failure;

// The checks below run synchronously as long as nothing is asynchronous: a
// resolveKey or nonce callback returning a Promise, a WebCrypto key, or a
// body to read. Each stage hands over to the next directly or through .then.

function verify(request: Request, config: Config): MaybePromise<Outcome> {
  // §3.2 step 1: both fields, bounded before any parsing.
  const headers = request.headers;
  const inputField = headers.get("signature-input");
  const signatureField = headers.get("signature");
  if (inputField === null && signatureField === null) return { code: "SIGNATURE_MISSING" };
  if (inputField === null || signatureField === null) return { code: "SIGNATURE_MALFORMED" };
  const { maxHeaderBytes, maxLabels, maxComponents, maxParameters } = config;
  if (inputField.length > maxHeaderBytes || signatureField.length > maxHeaderBytes || request.url.length > config.maxUrlBytes) {
    return { code: "LIMIT_EXCEEDED" };
  }
  // Cheap structure checks first: characters, labels, components and parameters per signature.
  const shape =
    shapeFailure(inputField, maxLabels, maxComponents, maxParameters) ?? shapeFailure(signatureField, maxLabels, maxComponents, maxParameters);
  if (shape !== null) return { code: shape };
  const inputs = parseSignatureField(inputField);
  const signatures = parseSignatureField(signatureField);
  if (inputs === null || signatures === null) return { code: "SIGNATURE_MALFORMED" };
  if (inputs.members.size === 0) return { code: "SIGNATURE_MISSING" };

  const picked = pickSignature(request, inputs, config);
  return "code" in picked ? picked : new Verification(request, config, picked).check(signatures.members);
}

/**
 * A Signature-Input or Signature value as a Dictionary; null when it is not
 * one, or repeats a label: labels are unique across all field lines
 * (RFC 9421 §4.1, §4.2), where a plain parse would keep the last. Its
 * unfaithful members (a parameter named twice, a Decimal with an integral
 * value) are valid Structured Fields: only the Signature-Input member
 * verified must be faithful, the base's `@signature-params` being its parse
 * serialised (§3.2 step 7), see {@link CheckedDictionary}.
 */
function parseSignatureField(value: string): CheckedDictionary | null {
  work.parses++;
  work.bytes += value.length;
  return parseCheckedDictionary(value);
}

/**
 * The component context of a message being verified: the base context, which
 * parses each Dictionary field value once, with the query read in one linear
 * pass (see QueryIndex) rather than by URLSearchParams, and those parses and
 * the structured fields covered with `;sf` counted.
 */
class VerifierContext extends MessageContext {
  #query: QueryIndex | undefined;
  /** The covered `@query-param` names, as written → decoded (each decoded once). */
  readonly #queryNames = new Map<string, string | undefined>();

  constructor(request: Request, ids: readonly ComponentId[]) {
    super(request, undefined);
    for (const [name, params] of ids) {
      const param = name === "@query-param" ? params.get("name") : undefined;
      if (typeof param === "string" && !this.#queryNames.has(param)) this.#queryNames.set(param, decodedQueryName(param));
    }
  }

  override queryName(encoded: string): string | undefined {
    return this.#queryNames.has(encoded) ? this.#queryNames.get(encoded) : decodedQueryName(encoded);
  }

  override queryParam(name: string): string | null | undefined {
    if (this.#query === undefined) {
      const search = this.url().search;
      work.parses++;
      work.bytes += search.length;
      const names: string[] = [];
      for (const decoded of this.#queryNames.values()) if (decoded !== undefined) names.push(decoded);
      this.#query = new QueryIndex(search, names);
    }
    return this.#query.get(name);
  }
  override dictionary(value: string): Dictionary | null {
    if (!this.dictionaries?.has(value)) {
      work.parses++;
      work.bytes += value.length;
    }
    return super.dictionary(value);
  }
  override structuredField(name: string, value: string): string | null {
    work.parses++;
    work.bytes += value.length;
    return super.structuredField(name, value);
  }
}

/** The remaining checks on the picked signature, cheapest first. */
class Verification {
  readonly #request: Request;
  readonly #config: Config;
  readonly #picked: Candidate;
  #body: Promise<BodyRead> | undefined;

  constructor(request: Request, config: Config, picked: Candidate) {
    this.#request = request;
    this.#config = config;
    this.#picked = picked;
  }

  #fail(code: SignatureFailureCode, cause?: unknown): Failure {
    const { label, params } = this.#picked;
    return cause === undefined ? { code, label, keyid: params.keyid } : { code, label, keyid: params.keyid, cause };
  }

  check(signatures: Dictionary): MaybePromise<Outcome> {
    const { label, params, ids } = this.#picked;
    const config = this.#config;
    // §3.2 step 3: the signature value is a Byte Sequence under the same label.
    const member = signatures.get(label);
    const signature = member === undefined || isInnerList(member) ? null : byteSequenceBytes(member[0]);
    if (signature === null) return this.#fail("SIGNATURE_MALFORMED");

    // §3.2.1: freshness.
    const nowSec = config.now() / 1000;
    if (params.created !== undefined) {
      if (params.created > nowSec + config.clockSkewSec) return this.#fail("SIGNATURE_FUTURE");
      if (nowSec - params.created > config.maxAgeSec + config.clockSkewSec) return this.#fail("SIGNATURE_EXPIRED");
    }
    if (params.expires !== undefined && nowSec > params.expires + config.clockSkewSec) return this.#fail("SIGNATURE_EXPIRED");
    // The fields the base will copy, and those it will parse as structured fields, bounded before the key lookup.
    const fields = coveredFieldBytes(this.#request.headers, ids);
    if (fields !== null && (fields.copied > config.maxCoveredFieldBytes || fields.structured > config.maxStructuredFieldBytes)) {
      return this.#fail("LIMIT_EXCEEDED");
    }

    // §3.2 steps 5-6: the key decides the algorithm; a stated alg must agree.
    const keyid = params.keyid;
    if (keyid === undefined) return this.#fail("KEY_UNKNOWN");
    let resolved: unknown;
    let later: boolean;
    try {
      resolved = config.resolveKey(keyid, params.alg);
      later = isThenable(resolved);
    } catch (cause) {
      return this.#fail("KEY_UNKNOWN", cause);
    }
    if (later) {
      return Promise.resolve(resolved).then(
        (keys) => this.#withKeys(keys, signature),
        (cause) => this.#fail("KEY_UNKNOWN", cause),
      );
    }
    return this.#withKeys(resolved, signature);
  }

  #withKeys(resolved: unknown, signature: Uint8Array): MaybePromise<Outcome> {
    const { ids, params, raw } = this.#picked;
    // Each usable key with the signature's alg (if it states one), with its place in what resolveKey returned.
    const keys: [VerifyingKey, number][] = [];
    let usable = false;
    const list = Array.isArray(resolved) ? resolved : [resolved];
    for (let i = 0; i < list.length; i++) {
      const key = usableVerifyingKey(list[i]);
      if (key === null) continue;
      usable = true;
      if (params.alg === undefined || params.alg === key.alg) keys.push([key, i]);
    }
    if (keys.length === 0) return this.#fail(usable ? "ALG_MISMATCH" : "KEY_UNKNOWN");

    // §3.2 steps 7-9: rebuild the base from the message, once, and check the signature with each key in turn.
    let base: string;
    try {
      const request = this.#request;
      base = buildSignatureBase(request, ids, serializeInnerList(raw), undefined, new VerifierContext(request, ids));
    } catch (err) {
      const digestAbsent =
        err instanceof SignatureBaseError && err.reason === "COMPONENT_MISSING" && err.component === "content-digest";
      return this.#fail(digestAbsent ? "DIGEST_MISSING" : "SIGNATURE_INVALID");
    }
    return this.#tryKeys(keys, 0, base, signature);
  }

  #tryKeys(keys: [VerifyingKey, number][], from: number, base: string, signature: Uint8Array): MaybePromise<Outcome> {
    for (let i = from; i < keys.length; i++) {
      const [key, index] = keys[i]!;
      const valid = verifyWith(key, base, signature);
      // Only `true` verifies: never a truthy non-boolean, such as a promise not recognised as one.
      if (isThenable(valid)) {
        return Promise.resolve(valid).then((v) => (v === true ? this.#verified(key.alg, index) : this.#tryKeys(keys, i + 1, base, signature)));
      }
      if (valid === true) return this.#verified(key.alg, index);
    }
    return this.#fail("SIGNATURE_INVALID");
  }

  /** The body, given or read once (bounded in size and time); only ever called after the signature verified. */
  #readBody(): Promise<BodyRead> {
    const { body, maxBodyBytes, bodyTimeoutMs } = this.#config;
    const request = this.#request;
    this.#body ??=
      body instanceof Uint8Array
        ? Promise.resolve(body.length > maxBodyBytes ? "BODY_TOO_LARGE" : body)
        : // The application consumed the stream first, or holds a reader of it:
          // say so, rather than failing the digest or the signature.
          (body === undefined ? request.bodyUsed || request.body?.locked : body.locked)
          ? Promise.resolve("BODY_ALREADY_READ")
          : readWithin(body ?? request, maxBodyBytes, bodyTimeoutMs);
    return this.#body;
  }

  #verified(alg: SignatureAlgorithm, keyIndex: number): MaybePromise<Outcome> {
    const { ids, emptyBodyRequired } = this.#picked;
    // RFC 9530: a covered Content-Digest must describe the body actually received.
    const digest = this.#config.verifyDigest && ids.some((id) => id[0] === "content-digest");
    if (!digest && !emptyBodyRequired) return this.#replayChecked(alg, keyIndex);
    return this.#readBody().then((bytes) => {
      if (typeof bytes === "string") return this.#fail(bytes);
      // The uncovered body of unknown length must be empty (see Candidate).
      if (emptyBodyRequired && bytes.length > 0) return this.#fail("COMPONENT_MISSING");
      if (digest) {
        const result = verifyContentDigest(this.#request.headers.get("content-digest"), bytes);
        if (!result.ok) return this.#fail(result.code === "DIGEST_MISSING" ? "DIGEST_MISSING" : "DIGEST_MISMATCH");
      }
      return this.#replayChecked(alg, keyIndex);
    });
  }

  /** Replay: last, so that only fully valid signatures spend a nonce. */
  #replayChecked(alg: SignatureAlgorithm, keyIndex: number): MaybePromise<Outcome> {
    const { params } = this.#picked;
    const config = this.#config;
    if (params.nonce === undefined || !config.nonce) return this.#success(alg, keyIndex);
    let fresh: unknown;
    let later: boolean;
    try {
      fresh = config.nonce(params.nonce, nonceExpiresAtMs(params, config.maxAgeSec, config.clockSkewSec));
      later = isThenable(fresh);
    } catch (cause) {
      return this.#fail("REPLAYED", cause);
    }
    if (later) {
      return Promise.resolve(fresh).then(
        (f) => (f === true ? this.#success(alg, keyIndex) : this.#fail("REPLAYED")),
        (cause) => this.#fail("REPLAYED", cause),
      );
    }
    return fresh === true ? this.#success(alg, keyIndex) : this.#fail("REPLAYED");
  }

  #success(alg: SignatureAlgorithm, keyIndex: number): VerifyRequestSuccess {
    const { label, params, ids } = this.#picked;
    const success: VerifyRequestSuccess = {
      ok: true,
      keyid: params.keyid!,
      label,
      alg,
      keyIndex,
      params,
      components: ids.map(componentIdToString),
    };
    if (params.nonce !== undefined) {
      success.nonce = params.nonce;
      success.nonceExpiresAtMs = nonceExpiresAtMs(params, this.#config.maxAgeSec, this.#config.clockSkewSec);
    }
    return success;
  }
}

/**
 * The request's body, read through a clone (or the body stream given) with a
 * size cap and a deadline (the read is cancelled when either is hit).
 */
async function readWithin(from: Request | ReadableStream<Uint8Array>, maxBytes: number, timeoutMs: number): Promise<BodyRead> {
  const bytes = await withDeadline(timeoutMs, (until) =>
    from instanceof ReadableStream ? readStream(from, maxBytes, until) : readBody(from, maxBytes, until),
  );
  return bytes === null ? "BODY_TOO_LARGE" : bytes === undefined ? "BODY_TIMEOUT" : bytes;
}


/**
 * Sizes of the header fields the signature covers (null when it covers
 * none): `copied`, the fields that building the base copies whole (plain,
 * `;bs`, and `;sf`, which copies their serialisation), each once per
 * component; `structured`, those it parses as structured fields, each field
 * once for its `;key` members (parsed once per message) and once for `;sf`.
 * A name that is not a lowercase field name counts nothing: building the
 * base refuses it.
 */
function coveredFieldBytes(headers: Headers, ids: readonly ComponentId[]): { copied: number; structured: number } | null {
  let sizes: { copied: number; structured: number } | null = null;
  let parsed: Set<string> | undefined;
  for (const [name, params] of ids) {
    if (typeof name !== "string" || !FIELD_NAME.test(name)) continue;
    const size = headers.get(name)?.length ?? 0;
    sizes ??= { copied: 0, structured: 0 };
    if (!params.has("key")) sizes.copied += size;
    for (const mode of ["key", "sf"]) {
      if (!params.has(mode)) continue;
      parsed ??= new Set();
      const entry = `${mode}:${name}`;
      if (parsed.has(entry)) continue;
      parsed.add(entry);
      sizes.structured += size;
    }
  }
  return sizes;
}

/**
 * When the nonce of a verified signature can be forgotten (ms since the
 * epoch): once the signature would be refused as expired anyway (RFC 9421
 * §3.2.1, §7.2.2). The signature is still fresh at the limit itself, so the
 * nonce is kept 1 ms past it (stores treat `expiresAt <= now` as expired). A
 * signature with neither `created` nor `expires` (accepted only with
 * `unsafeAllowNoFreshness`) never expires: its nonce is kept forever,
 * `Number.MAX_SAFE_INTEGER`.
 *
 * @param params - The signature's parameters.
 * @param maxAgeSec - The verifier's `maxAgeSec` (default 300).
 * @param clockSkewSec - The verifier's `clockSkewSec` (default 30).
 * @returns The time in milliseconds since the epoch.
 * @example
 * ```ts
 * nonceExpiresAtMs({ created: 1700000000 }, 300, 30); // 1700000330001
 * ```
 */
export function nonceExpiresAtMs(params: SignatureParams, maxAgeSec: number = VERIFY_REQUEST_DEFAULTS.maxAgeSec, clockSkewSec: number = VERIFY_REQUEST_DEFAULTS.clockSkewSec): number {
  let limit = FOREVER_MS;
  if (params.created !== undefined) limit = Math.min(limit, (params.created + maxAgeSec + clockSkewSec) * 1000 + 1);
  if (params.expires !== undefined) limit = Math.min(limit, (params.expires + clockSkewSec) * 1000 + 1);
  return limit;
}

function bodyOption(body: unknown): Uint8Array | ReadableStream<Uint8Array> | undefined {
  if (body !== undefined && !(body instanceof Uint8Array) && !(body instanceof ReadableStream)) {
    throw new TypeError("body must be a Uint8Array or a ReadableStream");
  }
  return body;
}

/** §3.2 step 1.1: the requested label, the only signature, or the first one that satisfies the policy. */
function pickSignature(request: Request, { members: inputs, unfaithful }: CheckedDictionary, config: Config): Candidate | Failure {
  // An unfaithful member is malformed: its base would not be what the field says.
  const candidateOf = (label: string, member: Item | InnerList) => (unfaithful.has(label) ? null : toCandidate(label, member, config));
  if (config.label !== undefined || inputs.size === 1) {
    const label = config.label ?? (inputs.keys().next().value as string);
    const member = inputs.get(label);
    if (member === undefined) return { code: "SIGNATURE_MISSING", label };
    const candidate = candidateOf(label, member);
    if (candidate === null) return { code: "SIGNATURE_MALFORMED", label };
    const code = policyFailure(request, candidate, config);
    return code === null ? candidate : { code, label, keyid: candidate.params.keyid };
  }
  let malformed = false;
  // One that is acceptable only if the body turns out empty is taken when no other is.
  let ifEmpty: Candidate | undefined;
  for (const [label, member] of inputs) {
    const candidate = candidateOf(label, member);
    if (candidate === null) {
      malformed = true;
    } else if (policyFailure(request, candidate, config) === null) {
      if (!candidate.emptyBodyRequired) return candidate;
      ifEmpty ??= candidate;
    }
  }
  return ifEmpty ?? { code: malformed ? "SIGNATURE_MALFORMED" : "COMPONENT_MISSING" };
}

/** §3.2 step 2: a parameterised Inner List of Strings with well-typed signature parameters. */
function toCandidate(label: string, member: Item | InnerList, config: Config): Candidate | null {
  if (!isInnerList(member)) return null;
  const [ids, rawParams] = member;
  for (let i = 0; i < ids.length; i++) if (typeof ids[i]![0] !== "string") return null;
  const params: SignatureParams = {};
  for (const [name, value] of rawParams) {
    if (name === "created" || name === "expires") {
      if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) return null;
      params[name] = value;
    } else if (PARAM_NAMES.has(name)) {
      if (typeof value !== "string") return null;
      // Handed out (the nonce to be remembered for the signature's lifetime, the keyid to be looked
      // up and cached): a copy, not a view of the whole Signature-Input value the parser cut it from.
      params[name as "nonce" | "keyid" | "alg" | "tag"] = detach(value);
    }
    // Other (extension) parameters stay in the base (§2.3) but are not interpreted.
  }
  // A nonce is stored for the signature's lifetime: its length is bounded (§7.2.2).
  if (params.nonce !== undefined && params.nonce.length > config.maxNonceLength) return null;
  return { label, ids, keys: undefined, params, raw: member, emptyBodyRequired: false };
}

/**
 * The first unmet requirement, as a failure code, or null. Reads nothing
 * from the body: when only an empty body would meet the coverage rule and
 * its length is unknown, the candidate is marked to be checked later.
 */
function policyFailure(request: Request, candidate: Candidate, config: Config): SignatureFailureCode | null {
  const { requirement } = config;
  const has = (required: RequiredComponent) => covers(candidate, required);
  const { params } = candidate;
  for (const name of requirement.params) {
    if (params[name as SignatureParamName] === undefined) return "COMPONENT_MISSING";
  }
  // The safe minimum, whatever `required` says: freshness (§3.2.1, §7.2.2)...
  if (config.freshness && params.created === undefined && params.expires === undefined) return "COMPONENT_MISSING";
  for (const required of requirement.components) if (!has(required)) return "COMPONENT_MISSING";
  if (requirement.targetUri && !has(KEY.targetUri)) {
    // Without parsing the URL: in a serialised URL the first "?" starts the query, unless it is in
    // the fragment (elsewhere it is percent-encoded); the query is non-empty when something follows it.
    const url = request.url;
    const mark = url.indexOf("?");
    const hash = url.indexOf("#");
    const hasQuery = mark >= 0 && mark + 1 < (hash < 0 ? url.length : hash);
    const split = has(KEY.authority) && (has(KEY.requestTarget) || (has(KEY.path) && (!hasQuery || has(KEY.query))));
    if (!split) return "COMPONENT_MISSING";
  }
  // ...and a body covered by Content-Digest (RFC 9530 §6.1), unless it is empty: the request's,
  // or the one given (`body`: read by the application, or a stream a GET or HEAD Request cannot carry).
  if (config.bodyCoverage && (request.body !== null || config.body !== undefined) && !has(KEY.contentDigest)) {
    const given = config.body;
    if (given instanceof Uint8Array) return given.length > 0 ? "COMPONENT_MISSING" : null;
    const declared = request.headers.get("content-length");
    if (declared !== null && /^\d+$/.test(declared)) return Number(declared) > 0 ? "COMPONENT_MISSING" : null;
    candidate.emptyBodyRequired = true;
  }
  return null;
}

/** Whether the candidate covers a component (same name and parameters, RFC 9421 §2). */
function covers(candidate: Candidate, required: RequiredComponent): boolean {
  const { name } = required;
  if (name !== undefined) {
    // Without parameters, componentKey is the serialised name: equal keys, equal names.
    for (const id of candidate.ids) if (id[1].size === 0 && id[0] === name) return true;
    return false;
  }
  candidate.keys ??= new Set(candidate.ids.map(componentKey));
  return candidate.keys.has(required.key);
}

function requiredComponent(id: ComponentId): RequiredComponent {
  return { key: componentKey(id), name: id[1].size === 0 ? (id[0] as string) : undefined };
}

const KEY = {
  targetUri: requiredComponent(["@target-uri", new Map()]),
  authority: requiredComponent(["@authority", new Map()]),
  requestTarget: requiredComponent(["@request-target", new Map()]),
  path: requiredComponent(["@path", new Map()]),
  query: requiredComponent(["@query", new Map()]),
  contentDigest: requiredComponent(["content-digest", new Map()]),
};

const requirementCache = new WeakMap<readonly string[], Requirement>();

function parseRequirement(required: readonly string[]): Requirement {
  let requirement = requirementCache.get(required);
  if (requirement) return requirement;
  requirement = { params: [], components: [], targetUri: false };
  for (const entry of required) {
    if (typeof entry !== "string") throw new TypeError("required must be an array of strings");
    if (PARAM_NAMES.has(entry)) requirement.params.push(entry);
    else if (entry === "@target-uri") requirement.targetUri = true;
    else requirement.components.push(requiredComponent(parseComponentId(entry)));
  }
  requirementCache.set(required, requirement);
  return requirement;
}

const withNonceCache = new WeakMap<Requirement, Requirement>();

function withNonce(requirement: Requirement): Requirement {
  let out = withNonceCache.get(requirement);
  if (out === undefined) {
    out = { ...requirement, params: [...new Set([...requirement.params, "nonce"])] };
    withNonceCache.set(requirement, out);
  }
  return out;
}

function nonNegative(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || Number.isNaN(value) || value < 0) throw new RangeError(`${name} must be a non-negative number`);
  return value;
}

const VERIFY_REQUEST_OPTIONS = optionNames<VerifyRequestOptions>({ resolveKey: true, label: true, required: true, unsafeAllowNoFreshness: true, unsafeAllowUncoveredBody: true, maxAgeSec: true, clockSkewSec: true, now: true, nonce: true, requireNonce: true, maxNonceLength: true, verifyDigest: true, maxBodyBytes: true, bodyTimeoutMs: true, body: true, maxHeaderBytes: true, maxLabels: true, maxComponents: true, maxParameters: true, maxUrlBytes: true, maxStructuredFieldBytes: true, maxCoveredFieldBytes: true });

function readOptions(options: VerifyRequestOptions): Config {
  if (options === null || typeof options !== "object") throw new TypeError("options must be an object");
  // A misspelt `requireNonce` or `required` would accept replays, or signatures covering less.
  checkOptionNames(options, VERIFY_REQUEST_OPTIONS, "verifyRequest");
  if (typeof options.resolveKey !== "function") throw new TypeError("resolveKey must be a function");
  if (options.nonce !== undefined && typeof options.nonce !== "function") throw new TypeError("nonce must be a function");
  if (options.now !== undefined && typeof options.now !== "function") throw new TypeError("now must be a function");
  if (options.required !== undefined && !Array.isArray(options.required)) throw new TypeError("required must be an array");
  const requirement = parseRequirement(options.required ?? DEFAULT_REQUIRED);
  if (options.label !== undefined && typeof options.label !== "string") throw new TypeError("label must be a string");
  return {
    resolveKey: options.resolveKey,
    label: options.label,
    requirement: options.requireNonce ? withNonce(requirement) : requirement,
    freshness: options.unsafeAllowNoFreshness !== true,
    bodyCoverage: options.unsafeAllowUncoveredBody !== true,
    maxAgeSec: nonNegative(options.maxAgeSec, VERIFY_REQUEST_DEFAULTS.maxAgeSec, "maxAgeSec"),
    clockSkewSec: nonNegative(options.clockSkewSec, VERIFY_REQUEST_DEFAULTS.clockSkewSec, "clockSkewSec"),
    now: options.now ?? Date.now,
    nonce: options.nonce,
    maxNonceLength: nonNegative(options.maxNonceLength, VERIFY_REQUEST_DEFAULTS.maxNonceLength, "maxNonceLength"),
    verifyDigest: options.verifyDigest ?? VERIFY_REQUEST_DEFAULTS.verifyDigest,
    maxBodyBytes: nonNegative(options.maxBodyBytes, VERIFY_REQUEST_DEFAULTS.maxBodyBytes, "maxBodyBytes"),
    bodyTimeoutMs: nonNegative(options.bodyTimeoutMs, VERIFY_REQUEST_DEFAULTS.bodyTimeoutMs, "bodyTimeoutMs"),
    body: bodyOption(options.body),
    maxHeaderBytes: nonNegative(options.maxHeaderBytes, VERIFY_REQUEST_DEFAULTS.maxHeaderBytes, "maxHeaderBytes"),
    maxLabels: nonNegative(options.maxLabels, VERIFY_REQUEST_DEFAULTS.maxLabels, "maxLabels"),
    maxComponents: nonNegative(options.maxComponents, VERIFY_REQUEST_DEFAULTS.maxComponents, "maxComponents"),
    maxParameters: nonNegative(options.maxParameters, VERIFY_REQUEST_DEFAULTS.maxParameters, "maxParameters"),
    maxUrlBytes: nonNegative(options.maxUrlBytes, VERIFY_REQUEST_DEFAULTS.maxUrlBytes, "maxUrlBytes"),
    maxStructuredFieldBytes: nonNegative(options.maxStructuredFieldBytes, VERIFY_REQUEST_DEFAULTS.maxStructuredFieldBytes, "maxStructuredFieldBytes"),
    maxCoveredFieldBytes: nonNegative(options.maxCoveredFieldBytes, VERIFY_REQUEST_DEFAULTS.maxCoveredFieldBytes, "maxCoveredFieldBytes"),
  };
}

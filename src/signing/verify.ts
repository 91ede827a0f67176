// Verifying a signature (RFC 9421 §3.2) under an application policy (§3.2.1).
import { type MaybePromise, verifyWith } from "./algorithms.js";
import { buildSignatureBase, DEFAULT_PARAM_ORDER } from "./base.js";
import { readBody } from "./body.js";
import { type ComponentId, componentIdToString, componentKey, parseComponentId } from "./components.js";
import { verifyContentDigest } from "./digest.js";
import { SignatureBaseError } from "./errors.js";
import { usableVerifyingKey } from "./keys.js";
import {
  type Dictionary,
  type InnerList,
  isByteSequence,
  isInnerList,
  type Item,
  serializeInnerList,
  tryParseUniqueDictionary,
} from "./structured.js";
import { decodeByteSequenceAt, fastByteSequenceOffsets } from "./structured-fast.js";
import type {
  SignatureAlgorithm,
  SignatureFailureCode,
  SignatureParamName,
  SignatureParams,
  VerifyingKey,
} from "./types.js";

/** Options of {@link verifyRequest}. */
export interface VerifyRequestOptions {
  /**
   * Finds the key for a `keyid` (and the `alg` parameter, if the signature has
   * one). Return null when unknown; a throw is treated as unknown too.
   */
  resolveKey: (keyid: string, alg: string | undefined) => Promise<VerifyingKey | null> | VerifyingKey | null;
  /** The label of the signature to check. Default: the only one, or the first that satisfies `required`. */
  label?: string;
  /**
   * What the signature must cover: component identifiers (`"@method"`,
   * `'@query-param;name="id"'`, `"content-digest"`) and signature parameter
   * names (`"created"`, `"expires"`, `"nonce"`, `"keyid"`, `"alg"`, `"tag"`:
   * the parameter must be present). `"@target-uri"` is also satisfied by
   * `@authority` + `@path` (+ `@query` when the URL has a query) or by
   * `@authority` + `@request-target`.
   * Default: `["@method", "@target-uri", "created"]`, plus `content-digest`
   * when the request has a non-empty body. A list given here is used as is.
   */
  required?: readonly string[];
  /** Oldest acceptable `created`, in seconds before now (default 300). */
  maxAgeSec?: number;
  /** Clock difference tolerated in both directions, in seconds (default 30). */
  clockSkewSec?: number;
  /** Clock in milliseconds (default `Date.now`). */
  now?: () => number;
  /**
   * Replay check, called last, only for an otherwise valid signature that has
   * a nonce: return false if the nonce was seen before; otherwise remember it
   * until `expiresAtMs`, after which the signature is refused anyway.
   */
  nonce?: (nonce: string, expiresAtMs: number) => Promise<boolean> | boolean;
  /** Refuse signatures without a `nonce` parameter (`COMPONENT_MISSING`). Default false. */
  requireNonce?: boolean;
  /** When `content-digest` is covered, recompute it from the body and compare (default true). */
  verifyDigest?: boolean;
  /** Largest body read to check Content-Digest (default 1 MiB). */
  maxBodyBytes?: number;
  /**
   * The request's body, when the application has already read it (most
   * frameworks buffer bodies): checked against Content-Digest instead of
   * reading a clone of the body stream, which costs a stream tee. It must be
   * the very body the application then processes.
   */
  body?: Uint8Array;
  /** Largest Signature-Input and Signature field values parsed, each (default 8 KiB). */
  maxHeaderBytes?: number;
}

/** A verified signature. */
export interface VerifyRequestSuccess {
  ok: true;
  keyid: string;
  label: string;
  /** The algorithm used: always the resolved key's. */
  alg: SignatureAlgorithm;
  params: SignatureParams;
  /** Covered components in order, in readable form (`@method`, `@query-param;name="id"`). */
  components: string[];
}

/** A refused request. `cause` holds what `resolveKey` or `nonce` threw, if that is why. */
export interface VerifyRequestFailure {
  ok: false;
  code: SignatureFailureCode;
  label?: string;
  keyid?: string;
  cause?: unknown;
}

/** Result of {@link verifyRequest}. */
export type VerifyRequestResult = VerifyRequestSuccess | VerifyRequestFailure;

const PARAM_NAMES: ReadonlySet<string> = new Set<SignatureParamName>(DEFAULT_PARAM_ORDER);
const DEFAULT_REQUIRED = ["@method", "@target-uri", "created"] as const;

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
  digestByDefault: boolean;
  maxAgeSec: number;
  clockSkewSec: number;
  now: () => number;
  nonce: VerifyRequestOptions["nonce"];
  verifyDigest: boolean;
  maxBodyBytes: number;
  body: Uint8Array | undefined;
  maxHeaderBytes: number;
}

interface Candidate {
  label: string;
  ids: ComponentId[];
  /** componentKey of each identifier, made on first use (only requirements with parameters need it). */
  keys: Set<string> | undefined;
  params: SignatureParams;
  raw: InnerList;
}

type Failure = Omit<VerifyRequestFailure, "ok">;

/**
 * Verifies the HTTP Message Signature of a request (RFC 9421 §3.2) and
 * enforces keyward's policy: required coverage, age, clock skew, expiry,
 * algorithm agreement, Content-Digest (RFC 9530) and nonce replay.
 *
 * The key decides the algorithm; an `alg` parameter, when present, must
 * name the same one (§3.2 step 6, §7.3.6). Checks run cheapest first: the
 * body is hashed only once the signature has verified, and the nonce is
 * spent last, so only fully valid requests consume one.
 *
 * @param request - The received request; its body is read through a clone.
 * @param options - Key lookup and policy.
 * @returns `{ ok: true, keyid, label, alg, params, components }` or `{ ok: false, code }`.
 *   Never throws and never rejects because of anything in the request.
 * @throws {TypeError} / {RangeError} (as a rejection) only on misuse: `resolveKey` not a function,
 *   negative limits, an invalid `required` entry.
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
    const outcome = pending instanceof Promise ? await pending : pending;
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
  if (inputField.length > config.maxHeaderBytes || signatureField.length > config.maxHeaderBytes) {
    return { code: "SIGNATURE_MALFORMED" };
  }
  // §4.1, §4.2: labels are unique across all field lines (a plain parse would keep the last).
  const canonicalText = new Map<string, string>();
  const inputs = tryParseUniqueDictionary(inputField, canonicalText);
  // Only the picked member of Signature is decoded; the others are checked as the full parse would.
  const signatures = fastByteSequenceOffsets(signatureField) ?? tryParseUniqueDictionary(signatureField);
  if (inputs === null || signatures === null) return { code: "SIGNATURE_MALFORMED" };
  if (inputs.size === 0) return { code: "SIGNATURE_MISSING" };

  const body = lazyBody(request, config);
  const picked = pickSignature(request, inputs, config, body);
  const next = (p: Candidate | Failure) =>
    "code" in p ? p : new Verification(request, config, body, p).check(signatureField, signatures, canonicalText.get(p.label));
  return picked instanceof Promise ? picked.then(next) : next(picked);
}

/** The remaining checks on the picked signature, cheapest first. */
class Verification {
  readonly #request: Request;
  readonly #config: Config;
  readonly #body: () => Promise<Uint8Array | null>;
  readonly #picked: Candidate;
  #nowMs = 0;

  constructor(request: Request, config: Config, body: () => Promise<Uint8Array | null>, picked: Candidate) {
    this.#request = request;
    this.#config = config;
    this.#body = body;
    this.#picked = picked;
  }

  #fail(code: SignatureFailureCode, cause?: unknown): Failure {
    const { label, params } = this.#picked;
    return cause === undefined ? { code, label, keyid: params.keyid } : { code, label, keyid: params.keyid, cause };
  }

  /** `paramsText`: the member's text in Signature-Input when already strictly serialised. */
  check(field: string, signatures: Dictionary | Map<string, number>, paramsText: string | undefined): MaybePromise<Outcome> {
    const { label, params } = this.#picked;
    const config = this.#config;
    // §3.2 step 3: the signature value is a Byte Sequence under the same label.
    const signature = signatureBytes(field, signatures, label);
    if (signature === null) return this.#fail("SIGNATURE_MALFORMED");

    // §3.2.1: freshness.
    const nowMs = config.now();
    this.#nowMs = nowMs;
    const nowSec = nowMs / 1000;
    if (params.created !== undefined) {
      if (params.created > nowSec + config.clockSkewSec) return this.#fail("SIGNATURE_FUTURE");
      if (nowSec - params.created > config.maxAgeSec + config.clockSkewSec) return this.#fail("SIGNATURE_EXPIRED");
    }
    if (params.expires !== undefined && nowSec > params.expires + config.clockSkewSec) return this.#fail("SIGNATURE_EXPIRED");

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
        (key) => this.#withKey(key, signature, paramsText),
        (cause) => this.#fail("KEY_UNKNOWN", cause),
      );
    }
    return this.#withKey(resolved, signature, paramsText);
  }

  #withKey(resolved: unknown, signature: Uint8Array, paramsText: string | undefined): MaybePromise<Outcome> {
    const { ids, params, raw } = this.#picked;
    const key = usableVerifyingKey(resolved);
    if (key === null) return this.#fail("KEY_UNKNOWN");
    if (params.alg !== undefined && params.alg !== key.alg) return this.#fail("ALG_MISMATCH");

    // §3.2 steps 7-9: rebuild the base from the message and check the signature.
    let base: string;
    try {
      base = buildSignatureBase(this.#request, ids, paramsText ?? serializeInnerList(raw));
    } catch (err) {
      const digestAbsent =
        err instanceof SignatureBaseError && err.reason === "COMPONENT_MISSING" && err.component === "content-digest";
      return this.#fail(digestAbsent ? "DIGEST_MISSING" : "SIGNATURE_INVALID");
    }
    const valid = verifyWith(key, base, signature);
    return valid instanceof Promise ? valid.then((v) => this.#verified(v, key.alg)) : this.#verified(valid, key.alg);
  }

  #verified(valid: boolean, alg: SignatureAlgorithm): MaybePromise<Outcome> {
    if (!valid) return this.#fail("SIGNATURE_INVALID");
    // RFC 9530: a covered Content-Digest must describe the body actually received.
    if (this.#config.verifyDigest && this.#picked.ids.some((id) => id[0] === "content-digest")) {
      return this.#body().then((bytes) => {
        if (bytes === null) return this.#fail("BODY_TOO_LARGE");
        const digest = verifyContentDigest(this.#request.headers.get("content-digest"), bytes);
        if (!digest.ok) return this.#fail(digest.code === "DIGEST_MISSING" ? "DIGEST_MISSING" : "DIGEST_MISMATCH");
        return this.#replayChecked(alg);
      });
    }
    return this.#replayChecked(alg);
  }

  /** Replay: last, so that only fully valid signatures spend a nonce. */
  #replayChecked(alg: SignatureAlgorithm): MaybePromise<Outcome> {
    const { params } = this.#picked;
    const config = this.#config;
    if (params.nonce === undefined || !config.nonce) return this.#success(alg);
    let fresh: unknown;
    let later: boolean;
    try {
      fresh = config.nonce(params.nonce, nonceExpiry(params, this.#nowMs, config));
      later = isThenable(fresh);
    } catch (cause) {
      return this.#fail("REPLAYED", cause);
    }
    if (later) {
      return Promise.resolve(fresh).then(
        (f) => (f === true ? this.#success(alg) : this.#fail("REPLAYED")),
        (cause) => this.#fail("REPLAYED", cause),
      );
    }
    return fresh === true ? this.#success(alg) : this.#fail("REPLAYED");
  }

  #success(alg: SignatureAlgorithm): VerifyRequestSuccess {
    const { label, params, ids } = this.#picked;
    return { ok: true, keyid: params.keyid!, label, alg, params, components: ids.map(componentIdToString) };
  }
}

/** The Byte Sequence under `label` in the Signature field, parsed or located by offset; null when there is none. */
function signatureBytes(field: string, signatures: Dictionary | Map<string, number>, label: string): Uint8Array | null {
  const member = signatures.get(label);
  if (member === undefined) return null;
  if (typeof member === "number") return member < 0 ? null : decodeByteSequenceAt(field, member);
  return isInnerList(member) || !isByteSequence(member[0]) ? null : new Uint8Array(member[0]);
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === "object" || typeof value === "function") && typeof (value as PromiseLike<unknown>).then === "function";
}

/**
 * When a nonce can be forgotten: once the signature would be refused as
 * expired anyway. The signature is still fresh at the limit itself, so the
 * nonce is kept 1 ms past it (stores treat `expiresAt <= now` as expired).
 */
function nonceExpiry(params: SignatureParams, nowMs: number, config: Config): number {
  const limits: number[] = [];
  if (params.created !== undefined) limits.push((params.created + config.maxAgeSec + config.clockSkewSec) * 1000);
  if (params.expires !== undefined) limits.push((params.expires + config.clockSkewSec) * 1000);
  return (limits.length > 0 ? Math.min(...limits) : nowMs + (config.maxAgeSec + config.clockSkewSec) * 1000) + 1;
}

/** The body (given, or read once on first use); null when larger than the cap. */
function lazyBody(request: Request, config: Config): () => Promise<Uint8Array | null> {
  let pending: Promise<Uint8Array | null> | undefined;
  const given = config.body;
  return () => {
    pending ??=
      given === undefined ? readBody(request, config.maxBodyBytes) : Promise.resolve(given.length > config.maxBodyBytes ? null : given);
    return pending;
  };
}

function bodyOption(body: unknown): Uint8Array | undefined {
  if (body !== undefined && !(body instanceof Uint8Array)) throw new TypeError("body must be a Uint8Array");
  return body;
}

/** §3.2 step 1.1: the requested label, the only signature, or the first one that satisfies the policy. */
function pickSignature(
  request: Request,
  inputs: Dictionary,
  config: Config,
  body: () => Promise<Uint8Array | null>,
): MaybePromise<Candidate | Failure> {
  if (config.label !== undefined || inputs.size === 1) {
    const label = config.label ?? (inputs.keys().next().value as string);
    const member = inputs.get(label);
    if (member === undefined) return { code: "SIGNATURE_MISSING", label };
    const candidate = toCandidate(label, member);
    if (candidate === null) return { code: "SIGNATURE_MALFORMED", label };
    const decide = (code: SignatureFailureCode | null): Candidate | Failure =>
      code === null ? candidate : { code, label, keyid: candidate.params.keyid };
    const code = policyFailure(request, candidate, config, body);
    return code instanceof Promise ? code.then(decide) : decide(code);
  }
  return pickFirstSatisfying(request, inputs, config, body);
}

async function pickFirstSatisfying(
  request: Request,
  inputs: Dictionary,
  config: Config,
  body: () => Promise<Uint8Array | null>,
): Promise<Candidate | Failure> {
  let malformed = false;
  for (const [label, member] of inputs) {
    const candidate = toCandidate(label, member);
    if (candidate === null) {
      malformed = true;
      continue;
    }
    const code = await policyFailure(request, candidate, config, body);
    if (code === null) return candidate;
    if (code === "BODY_TOO_LARGE") return { code, label, keyid: candidate.params.keyid };
  }
  return { code: malformed ? "SIGNATURE_MALFORMED" : "COMPONENT_MISSING" };
}

/** §3.2 step 2: a parameterised Inner List of Strings with well-typed signature parameters. */
function toCandidate(label: string, member: Item | InnerList): Candidate | null {
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
      params[name as "nonce" | "keyid" | "alg" | "tag"] = value;
    }
    // Other (extension) parameters stay in the base (§2.3) but are not interpreted.
  }
  return { label, ids, keys: undefined, params, raw: member };
}

/** The first unmet requirement, as a failure code, or null. */
function policyFailure(
  request: Request,
  candidate: Candidate,
  config: Config,
  body: () => Promise<Uint8Array | null>,
): MaybePromise<SignatureFailureCode | null> {
  const { requirement } = config;
  const has = (required: RequiredComponent) => covers(candidate, required);
  for (const name of requirement.params) {
    if (candidate.params[name as SignatureParamName] === undefined) return "COMPONENT_MISSING";
  }
  for (const required of requirement.components) if (!has(required)) return "COMPONENT_MISSING";
  if (requirement.targetUri && !has(KEY.targetUri)) {
    const hasQuery = new URL(request.url).search !== "";
    const split = has(KEY.authority) && (has(KEY.requestTarget) || (has(KEY.path) && (!hasQuery || has(KEY.query))));
    if (!split) return "COMPONENT_MISSING";
  }
  if (config.digestByDefault && request.body !== null && !has(KEY.contentDigest)) {
    // Default policy: a body must be covered by Content-Digest, unless it is
    // empty. Content-Length usually settles it; otherwise the body is read
    // (bounded, not hashed) to tell an empty stream from content.
    const declared = request.headers.get("content-length");
    if (declared !== null && /^\d+$/.test(declared)) return Number(declared) > 0 ? "COMPONENT_MISSING" : null;
    return body().then((bytes) => (bytes === null ? "BODY_TOO_LARGE" : bytes.length > 0 ? "COMPONENT_MISSING" : null));
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

function readOptions(options: VerifyRequestOptions): Config {
  if (options === null || typeof options !== "object") throw new TypeError("options must be an object");
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
    digestByDefault: options.required === undefined,
    maxAgeSec: nonNegative(options.maxAgeSec, 300, "maxAgeSec"),
    clockSkewSec: nonNegative(options.clockSkewSec, 30, "clockSkewSec"),
    now: options.now ?? Date.now,
    nonce: options.nonce,
    verifyDigest: options.verifyDigest ?? true,
    maxBodyBytes: nonNegative(options.maxBodyBytes, 1024 * 1024, "maxBodyBytes"),
    body: bodyOption(options.body),
    maxHeaderBytes: nonNegative(options.maxHeaderBytes, 8 * 1024, "maxHeaderBytes"),
  };
}

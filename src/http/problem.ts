// RFC 9457 problem details for denied requests: one type URI per code, a
// fixed title and detail (never a token, a secret or which credential check
// failed), and the members a client acts on (the missing scope, the credits
// left and when they come back, when to retry).
import { CREDENTIAL_CODES, challengeOf, type DecisionStatus, type DenyCode } from "../policy/decision.js";
import { answeredMethod, textAnswer } from "./head.js";

/** How a denial is answered. */
export interface AnswerOptions {
  /** The realm of the `WWW-Authenticate` challenge (RFC 6750 §3; default `"api"`). */
  realm?: string | undefined;
  /**
   * Prefix of the problem `type` URIs (default `"urn:keyward:problem:"`): the
   * type is this followed by the code in kebab case, e.g.
   * `urn:keyward:problem:credits-exhausted`. Point it at your own docs page.
   */
  problemTypeBase?: string | undefined;
}

/** Options of {@link problemResponse}: those of every answer, and the request's method. */
export interface ProblemResponseOptions extends AnswerOptions {
  /**
   * The method of the request answered: a `HEAD`'s answer has the status and
   * fields (with the `Content-Length` the GET's content has) and no content
   * (RFC 9110 §9.3.2), as the middleware answers it: a body after a HEAD's
   * fields would be read as the next answer on the connection where the
   * runtime sends what the handler returns as it is (Deno, Bun, workers).
   * Default: the method of the request `kw.verify` decided on (a decision
   * of `kw.check`, which saw no request, is answered with its content).
   */
  method?: string | undefined;
}

/** The part of a `Decision` an answer is built from. */
export interface AnswerableDecision {
  /** Whether the request is allowed. */
  readonly ok: boolean;
  /** `"OK"` or the deny code. */
  readonly code: "OK" | DenyCode;
  /** The HTTP status to answer with. */
  readonly status: DecisionStatus;
  /** The header fields to answer with (`RateLimit`, `Retry-After`, `WWW-Authenticate`, …). */
  readonly headers: Record<string, string>;
  /** Credits left after this request, when the token has a credit limit. */
  readonly remaining: number | undefined;
  /** How long to wait before retrying, ms, when waiting helps. */
  readonly retryAfterMs: number | undefined;
  /** The missing scope, for SCOPE_DENIED. */
  readonly scope: string | undefined;
  /** The credit pool the route drew from (absent or `"default"`: the default pool). */
  readonly pool?: string | undefined;
  /** When the decision was made, epoch ms. */
  readonly at: number;
}

/** An RFC 9457 §3 problem details object, with keyward's extension members. */
export interface ProblemDetails {
  /** A URI naming the kind of problem: {@link AnswerOptions.problemTypeBase} and the code in kebab case, or `invalid-token` for every credential failure. */
  type: string;
  /** A short summary of the kind of problem, the same for every occurrence. */
  title: string;
  /** The HTTP status. */
  status: number;
  /** What went wrong with this request, for people. */
  detail: string;
  /** The deny code; absent for credential failures and failed signatures, which all look the same. */
  code?: DenyCode;
  /** SCOPE_DENIED: the scope the route needs. */
  scope?: string;
  /** CREDITS_EXHAUSTED: the balance left (of the pool the route drew from, the one that was short). */
  remaining?: number;
  /** CREDITS_EXHAUSTED and POOL_UNKNOWN of a route that draws from a named pool: its name. */
  pool?: string;
  /** CREDITS_EXHAUSTED with a refill or reset that can bring the cost back: the earliest time the balance holds it (ISO 8601). */
  refillAt?: string;
  /** RATE_LIMITED, STORE_UNAVAILABLE: seconds to wait, as in `Retry-After`. */
  retryAfter?: number;
}

/** The media type of problem details (RFC 9457 §3). */
export const PROBLEM_JSON = "application/problem+json";
export const DEFAULT_PROBLEM_TYPE_BASE = "urn:keyward:problem:";

const TEXT: Record<
  Exclude<DenyCode, "TOKEN_MALFORMED" | "TOKEN_UNKNOWN" | "TOKEN_REVOKED" | "TOKEN_DISABLED" | "TOKEN_EXPIRED" | "TOKEN_WRONG_ENV" | "SIGNATURE_INVALID">,
  [string, string]
> = {
  TOKEN_MISSING: ["Token required", "Send a token in the Authorization header as a Bearer token, or sign the request."],
  SECRET_IN_BROWSER: ["Secret token used from a browser", "Secret tokens are for servers; a page must use a publishable token."],
  INSECURE_TRANSPORT: ["HTTPS required", "Tokens must be sent over HTTPS; this token crossed the network in cleartext and should be rotated."],
  SCOPE_DENIED: ["Scope not granted", "The token does not grant the scope this operation needs."],
  DOMAIN_DENIED: ["Origin not allowed", "The token is not allowed from this page's origin."],
  IP_DENIED: ["Address not allowed", "The token is not allowed from this network address."],
  SIGNATURE_REQUIRED: ["Signature required", "The token requires every request to carry an HTTP Message Signature (RFC 9421)."],
  SIGNATURE_EXPIRED: ["Signature expired", "The request's signature is too old or expired; sign it again."],
  DIGEST_MISMATCH: ["Content digest mismatch", "The body does not match its Content-Digest."],
  REPLAYED: ["Request replayed", "This signature's nonce was already used; sign each request afresh."],
  BODY_TOO_LARGE: ["Body too large", "The body of a signed request is larger than the server checks."],
  BODY_TIMEOUT: ["Body too slow", "The body of a signed request did not arrive in time."],
  BODY_ALREADY_READ: ["Server error", "The server could not check this request's signed body."],
  TOKEN_IN_URL: ["Token in the URL", "Send tokens in the Authorization header, never in the URL; this token must now be rotated."],
  CREDITS_EXHAUSTED: ["Credits exhausted", "The token has no credits left for this request."],
  POOL_UNKNOWN: ["Pool not available", "The token's plan holds no credits of the pool this operation draws from."],
  // Fixed text: the operator's reason for the suspension is never shown to the caller.
  ACCOUNT_SUSPENDED: ["Account suspended", "The account this token belongs to is suspended; its owner can contact the API provider."],
  RATE_LIMITED: ["Rate limited", "Too many requests with this token; retry later."],
  STORE_UNAVAILABLE: ["Service unavailable", "The token could not be checked; retry later."],
};
// RFC 6750 §3.1 invalid_token, one answer for every credential failure, and
// for a signature that fails: its keyid may name a real token, and an answer
// of its own would tell whether that token exists (an unknown keyid is an
// unknown token).
const INVALID_TOKEN: [string, string] = ["Invalid token", "The token is not valid for this API."];

/** Codes answered as one: every credential failure but a missing one, and SIGNATURE_INVALID. */
function answeredAsInvalidToken(code: DenyCode): boolean {
  return code === "SIGNATURE_INVALID" || (CREDENTIAL_CODES.has(code) && code !== "TOKEN_MISSING");
}

const kebab = (code: string) => code.toLowerCase().replace(/_/g, "-");

/**
 * The problem details of a denial.
 *
 * @param decision a denied decision
 * @param options the type URI prefix
 * @returns the RFC 9457 object; credential failures and failed signatures (`SIGNATURE_INVALID`) share one
 *   type, title and detail, and carry no code
 * @example
 * ```ts
 * const d = await kw.verify(request);
 * if (!d.ok) console.log(problemDetails(d).type); // "urn:keyward:problem:invalid-token"
 * ```
 */
export function problemDetails(decision: AnswerableDecision, options: AnswerOptions = {}): ProblemDetails {
  const code = decision.code as DenyCode;
  const base = options.problemTypeBase ?? DEFAULT_PROBLEM_TYPE_BASE;
  if (answeredAsInvalidToken(code)) {
    const [title, detail] = INVALID_TOKEN;
    return { type: `${base}invalid-token`, title, status: decision.status, detail };
  }
  const [title, detail] = TEXT[code as keyof typeof TEXT];
  const p: ProblemDetails = { type: base + kebab(code), title, status: decision.status, detail, code };
  if (decision.scope !== undefined) p.scope = decision.scope;
  if ((code === "CREDITS_EXHAUSTED" || code === "POOL_UNKNOWN") && decision.pool !== undefined && decision.pool !== "default") p.pool = decision.pool;
  if (code === "CREDITS_EXHAUSTED") {
    if (decision.remaining !== undefined) p.remaining = decision.remaining;
    if (decision.retryAfterMs !== undefined) p.refillAt = new Date(decision.at + decision.retryAfterMs).toISOString();
  } else if (decision.retryAfterMs !== undefined) {
    p.retryAfter = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
  }
  return p;
}

/**
 * The headers of a denial's answer: the decision's own (challenge,
 * `Retry-After`, rate-limit fields, `Accept-Signature`), the challenge's
 * realm as configured, and the problem+json content type.
 */
export function problemHeaders(decision: AnswerableDecision, options: AnswerOptions = {}): Record<string, string> {
  const headers: Record<string, string> = { ...decision.headers, "content-type": PROBLEM_JSON, "cache-control": "no-store" };
  if (options.realm !== undefined) {
    const challenge = challengeOf(decision.code as DenyCode, options.realm);
    if (challenge !== undefined) headers["www-authenticate"] = challenge;
  }
  return headers;
}

/**
 * The Fetch `Response` answering a denial: its status, its headers and an
 * RFC 9457 `application/problem+json` body. Works in any Fetch runtime,
 * without a framework.
 *
 * @param decision a denied decision (`decision.ok === false`)
 * @param options realm, type URI prefix, and the request's method (a HEAD's answer has no content; default:
 *   the method of the request `kw.verify` decided on)
 * @returns the response
 * @throws {TypeError} when the decision allows the request
 * @example
 * ```ts
 * const d = await kw.verify(request, { scope: "core:read" });
 * if (!d.ok) return problemResponse(d, { realm: "prices" });
 * ```
 */
export function problemResponse(decision: AnswerableDecision, options: ProblemResponseOptions = {}): Response {
  if (decision.ok) throw new TypeError("problemResponse answers denials: this decision allows the request");
  const body = JSON.stringify(problemDetails(decision, options));
  return textAnswer(answeredMethod(decision, options.method), body, { status: decision.status, headers: problemHeaders(decision, options) });
}

// The verifier's answer: the pure evaluator's decision plus what the request
// path learned (which token, credits left, when to retry).
import { acceptSignature, limitFields, type MeterState } from "../http/fields.js";
import { type ProblemResponseOptions, problemResponse } from "../http/problem.js";
import { DEFAULT_POOL, poolOf } from "../model/pools.js";
import { policyAt, readTime, toRecord } from "../model/record.js";
import type { StoredToken, TokenPolicy, TokenRecord } from "../model/types.js";
import type { AccountMeter, CreditResult, RateLimitResult } from "../store/types.js";
import { CREDENTIAL_CODES, type DecisionStatus, type DenyCode, deny, type PolicyDecision } from "../policy/decision.js";

/** The limits of the token's account a request was metered against, and their answers (null: not reached). */
export interface AccountAnswers {
  limits: AccountMeter;
  rateLimit: RateLimitResult | null;
  credits: CreditResult | null;
}

/** What a decision adds to the policy decision when the token was identified. */
export interface DecisionExtras {
  /** Credits left (with an account's pool, the tighter of the token's and the account's). */
  remaining?: number | undefined;
  /** With an account's pool: the token's own credits left, when its credits were charged or denied the request. */
  tokenRemaining?: number | undefined;
  retryAfterMs?: number | undefined;
  /** Requests left in the rate-limit window, when the rate limit was checked. */
  rateRemaining?: number | undefined;
  /** Credits charged. */
  cost?: number | undefined;
  /** The answers of the token's `rateLimits`, in order, when they were checked. */
  more?: readonly RateLimitResult[] | undefined;
  /** The pool the route drew from (absent: the default pool). */
  pool?: string | undefined;
  /** The token's policy the decision was made under (absent: computed from the record, once, when headers are built). */
  policy?: TokenPolicy | undefined;
  /** The account's limits and answers, when the account was metered too. */
  account?: AccountAnswers | undefined;
  /** For SIGNATURE_REQUIRED: the components `Accept-Signature` asks for (see `acceptedComponents` in http/fields.ts). */
  accept?: string | undefined;
}

/** The decision's headers: the policy's, plus what the identified token's limits and signing call for. */
function headersOf(policy: PolicyDecision, stored: StoredToken | null, at: number, extras?: DecisionExtras): Record<string, string> {
  if (stored === null) return policy.headers;
  const p = extras?.policy ?? policyAt(stored, readTime(stored, at));
  const { rateLimit, requireSignedRequests } = p;
  const pool = extras?.pool ?? DEFAULT_POOL;
  const credits = poolOf(p, pool) ?? null;
  const rateLimits = p.rateLimits ?? [];
  const account = extras?.account;
  let headers = policy.headers;
  if (rateLimit !== null || credits !== null || rateLimits.length > 0 || account !== undefined) {
    const byAccount = account?.credits?.granted === false;
    const denied = policy.code === "RATE_LIMITED" ? "requests" : policy.code === "CREDITS_EXHAUSTED" ? (byAccount ? "account-credits" : "credits") : undefined;
    const state: MeterState = {
      rateRemaining: extras?.rateRemaining,
      creditsRemaining: account === undefined ? extras?.remaining : extras?.tokenRemaining,
      retryAfterMs: extras?.retryAfterMs,
      denied,
      more: extras?.more,
      account: account && { rateLimit: account.rateLimit, creditsRemaining: account.credits?.remaining },
    };
    headers = { ...headers, ...limitFields(rateLimit, credits, state, { rateLimits, pool, account: account?.limits }) };
  }
  // The authorizer, the one source of SIGNATURE_REQUIRED, gives the instance's components.
  const accept = extras?.accept;
  if (policy.code === "SIGNATURE_REQUIRED" && requireSignedRequests && accept !== undefined) {
    headers = { ...headers, "accept-signature": acceptSignature(stored.id, stored.signing, accept) };
  }
  // The caller's own object, never the policy decision's (the allow without headers is shared).
  return headers === policy.headers ? { ...headers } : headers;
}

/**
 * The verdict on a request. `ok`, `code`, `status` and `headers` are what to
 * answer; credential failures (401) carry no token and look identical to the
 * caller, the specific `code` is for logs. The type {@link Decision} narrows
 * on `ok`: an allowed decision always has its `token`.
 */
class VerifierDecision {
  readonly ok: boolean;
  /** `"OK"`, or why the request was denied. */
  readonly code: "OK" | DenyCode;
  readonly status: DecisionStatus;
  /** The token's id when it was identified (never for credential failures). */
  readonly tokenId: string | null;
  /** The token's owner when it was identified (never for credential failures). */
  readonly owner: string | null;
  /** Credits charged to the token (and its account) for this request: 0 unless allowed with credits. */
  readonly cost: number;
  /** Credits left after this request, when the token has a credit limit. */
  readonly remaining: number | undefined;
  /** How long to wait before retrying: 429 and 503, and 402 until the pool's refill or reset can hold the cost (absent when none can). */
  readonly retryAfterMs: number | undefined;
  /** When the decision was made (the verifier's clock), epoch ms. */
  readonly at: number;
  /** The missing scope, for SCOPE_DENIED. */
  readonly scope: string | undefined;
  /** The credit pool the route named (`pool` of `check` / `verify`), when it was metered; absent: the default pool. */
  readonly pool: string | undefined;
  readonly #stored: StoredToken | null;
  readonly #policy: PolicyDecision;
  readonly #extras: DecisionExtras | undefined;
  #view: TokenRecord | undefined;
  #headers: Record<string, string> | undefined;

  /** @internal */
  constructor(policy: PolicyDecision, stored: StoredToken | null, at: number, extras?: DecisionExtras) {
    const hide = !policy.ok && CREDENTIAL_CODES.has(policy.code);
    this.ok = policy.ok;
    this.code = policy.code;
    this.status = policy.status;
    this.scope = policy.ok ? undefined : policy.scope;
    this.#stored = hide ? null : stored;
    this.at = at;
    this.#policy = policy;
    this.#extras = extras;
    this.tokenId = this.#stored?.id ?? null;
    this.owner = this.#stored?.owner ?? null;
    this.cost = extras?.cost ?? 0;
    this.remaining = extras?.remaining;
    this.retryAfterMs = extras?.retryAfterMs;
    this.pool = extras?.pool === DEFAULT_POOL ? undefined : extras?.pool;
  }

  /**
   * Headers to answer with: `WWW-Authenticate` on 401 and 403 (RFC 6750),
   * `Retry-After` on 402 / 429 / 503, `RateLimit-Policy` and `RateLimit`
   * (draft-ietf-httpapi-ratelimit-headers-10) when the token or its account has limits,
   * `Accept-Signature` (RFC 9421 §5.1) when it requires signatures. Built on
   * first access (a check whose answer is not sent builds none).
   */
  get headers(): Record<string, string> {
    this.#headers ??= headersOf(this.#policy, this.#stored, this.at, this.#extras);
    return this.#headers;
  }

  /** The token's public record (no hash, no key), when it was identified; built on first access. */
  get token(): TokenRecord | null {
    if (this.#stored === null) return null;
    this.#view ??= toRecord(this.#stored, readTime(this.#stored, this.at));
    return this.#view;
  }

  /**
   * The answer to a denied request: its status and headers with an RFC 9457
   * `application/problem+json` body. Credential failures all get the same
   * body. Any Fetch runtime, no framework needed.
   *
   * @param options the challenge's realm, the problem type URI prefix, and the request's method (a HEAD's
   *   answer has no content; default: the method of the request `kw.verify` decided on, see
   *   {@link ProblemResponseOptions.method})
   * @returns the response
   * @throws {TypeError} when the decision allows the request (`ok` is true)
   * @example
   * ```ts
   * const d = await kw.verify(request, { scope: "core:read" });
   * if (!d.ok) return d.toResponse({ realm: "prices" });
   * ```
   */
  toResponse(options?: ProblemResponseOptions): Response {
    return problemResponse(this, options);
  }

  /** Plain data for logs: code, status, token id; never a secret. */
  toJSON(): Record<string, unknown> {
    return {
      ok: this.ok,
      code: this.code,
      status: this.status,
      headers: this.headers,
      tokenId: this.tokenId,
      remaining: this.remaining,
      retryAfterMs: this.retryAfterMs,
      scope: this.scope,
      pool: this.pool,
    };
  }
}

/** An allowed request: the token is always identified. */
export interface AllowedDecision extends VerifierDecision {
  readonly ok: true;
  readonly code: "OK";
  readonly status: 200;
  readonly tokenId: string;
  /** The token's public record (no hash, no key). */
  readonly token: TokenRecord;
}

/** A denied request. `token` is null for credential failures (they look identical to the caller). */
export interface DeniedDecision extends VerifierDecision {
  readonly ok: false;
  readonly code: DenyCode;
  readonly status: Exclude<DecisionStatus, 200>;
}

/**
 * The verdict on a request, narrowed by `ok`:
 *
 * ```ts
 * const d = await kw.verify(request);
 * if (d.ok) console.log(d.token.owner); // no null check needed
 * ```
 */
export type Decision = AllowedDecision | DeniedDecision;

/** The class of every {@link Decision}, for `instanceof`; decisions are made by `kw.verify` and `kw.check` only. */
export const Decision = VerifierDecision as unknown as abstract new () => Decision;

/** @internal A decision of the verifier. */
export function decision(policy: PolicyDecision, stored: StoredToken | null, at: number, extras?: DecisionExtras): Decision {
  return new VerifierDecision(policy, stored, at, extras) as Decision;
}

/** @internal A denial that names no token: the request was refused before one was identified. Its wait, if any, is both `Retry-After` and `retryAfterMs`. */
export function denial(code: DenyCode, at: number, extra?: Parameters<typeof deny>[1]): Decision {
  const wait = extra?.retryAfterMs;
  return decision(deny(code, extra), null, at, wait === undefined ? undefined : { retryAfterMs: wait });
}

/** @internal The answer when the store failed or was too slow: retry in a second. */
export function storeUnavailable(at: number): Decision {
  return denial("STORE_UNAVAILABLE", at, { retryAfterMs: 1000 });
}

/** @internal What a stage of the verifier gives: its result, or the decision (a denial); a promise when the store was asked. */
export type Staged<T> = T | Decision | Promise<T | Decision>;

/** @internal Whether a stage's answer is already the decision (a denial) rather than its result. */
export function isDecision(x: object): x is Decision {
  return x instanceof VerifierDecision;
}

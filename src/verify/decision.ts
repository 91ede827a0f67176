// The verifier's answer: the pure evaluator's decision plus what the request
// path learned (which token, credits left, when to retry).
import { toRecord } from "../model/record.js";
import type { StoredToken, TokenRecord } from "../model/types.js";
import { CREDENTIAL_CODES, type DecisionStatus, type DenyCode, type PolicyDecision } from "../policy/decision.js";

/** What a decision adds to the policy decision when the token was identified. */
export interface DecisionExtras {
  remaining?: number | undefined;
  retryAfterMs?: number | undefined;
  /** Credits charged. */
  cost?: number | undefined;
}

/**
 * The verdict on a request. `ok`, `code`, `status` and `headers` are what to
 * answer; credential failures (401) carry no token and look identical to the
 * caller, the specific `code` is for logs.
 */
export class Decision {
  readonly ok: boolean;
  /** `"OK"`, or why the request was denied. */
  readonly code: "OK" | DenyCode;
  readonly status: DecisionStatus;
  /** Headers to answer with: `WWW-Authenticate` on 401, `Retry-After` on 429 / 503, rate-limit and credit state. */
  readonly headers: Record<string, string>;
  /** The token's id when it was identified (never for credential failures). */
  readonly tokenId: string | null;
  /** The token's owner when it was identified (never for credential failures). */
  readonly owner: string | null;
  /** Credits charged to the token (and its account) for this request: 0 unless allowed with credits. */
  readonly cost: number;
  /** Credits left after this request, when the token has a credit limit. */
  readonly remaining: number | undefined;
  /** How long to wait before retrying, for 429 and 503. */
  readonly retryAfterMs: number | undefined;
  /** The missing scope, for SCOPE_DENIED. */
  readonly scope: string | undefined;
  readonly #stored: StoredToken | null;
  readonly #at: number;
  #view: TokenRecord | undefined;

  /** @internal */
  constructor(policy: PolicyDecision, stored: StoredToken | null, at: number, extras?: DecisionExtras) {
    const hide = !policy.ok && CREDENTIAL_CODES.has(policy.code);
    this.ok = policy.ok;
    this.code = policy.code;
    this.status = policy.status;
    this.headers = policy.headers;
    this.scope = policy.ok ? undefined : policy.scope;
    this.#stored = hide ? null : stored;
    this.#at = at;
    this.tokenId = this.#stored?.id ?? null;
    this.owner = this.#stored?.owner ?? null;
    this.cost = extras?.cost ?? 0;
    this.remaining = extras?.remaining;
    this.retryAfterMs = extras?.retryAfterMs;
  }

  /** The token's public record (no hash, no key), when it was identified; built on first access. */
  get token(): TokenRecord | null {
    if (this.#stored === null) return null;
    this.#view ??= toRecord(this.#stored, this.#at);
    return this.#view;
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
    };
  }
}

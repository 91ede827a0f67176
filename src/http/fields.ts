// Response fields that describe a token's limits and what a request must
// carry: IETF RateLimit / RateLimit-Policy and RFC 9421 Accept-Signature.
// Pure: data in, header values out.
import type { AccountCreditsPolicy } from "../model/account.js";
import type { CreditsPolicy, RateLimitPolicy, StoredSigning } from "../model/types.js";
import { parseComponentId } from "../signing/components.js";
import { serializeItem } from "../signing/structured-serialize.js";
import { DEFAULT_REQUIRED, PARAM_NAMES } from "../signing/verify.js";

/** Counter state learned while metering one request. */
export interface MeterState {
  /** Requests left in the rate-limit window, when the rate limit was checked. */
  rateRemaining?: number | undefined;
  /** Credits left, when credits were checked. */
  creditsRemaining?: number | undefined;
  /** Wait before the next try, ms: for the rate limit when RATE_LIMITED, until the pool can hold the cost when CREDITS_EXHAUSTED. */
  retryAfterMs?: number | undefined;
  /** Which counter denied the request, if one did: a rate limit, the token's credits or its account's pool. */
  denied?: "requests" | "credits" | "account-credits" | undefined;
  /** The answers of the token's `rateLimits` (same order), when they were checked. */
  more?: readonly RateAnswer[] | undefined;
  /** The answers of the account's counters, when they were reached. */
  account?: { rateLimit?: RateAnswer | null | undefined; creditsRemaining?: number | undefined } | undefined;
}

/** A rate limit's answer to one request. */
interface RateAnswer {
  allowed: boolean;
  remaining: number;
  retryAfterMs: number;
}

/** The token's limits besides `rateLimit` and its default pool, and its account's. */
export interface MoreLimits {
  /** More rate limits: policies `"requests-<window>"` (`"requests-86400s"`, `"requests-1500ms"`). */
  rateLimits?: readonly RateLimitPolicy[] | undefined;
  /** The pool `credits` is (absent or `"default"`: policy `"credits"`; else `"credits-<pool>"`). */
  pool?: string | undefined;
  /**
   * The account's limits: policies `"account-requests"` (its rate limit) and
   * `"account-credits"` or `"account-credits-<pool>"` (its pool of that name,
   * `q` counting the overage).
   */
  account?: { rateLimit: RateLimitPolicy | null; credits: AccountCreditsPolicy | null } | undefined;
}

/** The policy name of one of `rateLimits`: unique, as their windows are. */
const windowName = (ms: number) => (ms % 1000 === 0 ? `requests-${ms / 1000}s` : `requests-${ms}ms`);

/** The window of a pool in seconds, when it has one: its refill interval, or a UTC day (a month has no fixed length). */
function poolWindow(credits: Pick<CreditsPolicy, "refill" | "reset">): string {
  if (credits.refill) return `;w=${seconds(credits.refill.intervalMs)}`;
  return credits.reset === "day" ? ";w=86400" : "";
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/** A rate limit's `RateLimit` item: what is left, or none left and when one more fits. */
const rateItem = (name: string, r: RateAnswer) => (r.allowed ? `"${name}";r=${r.remaining}` : `"${name}";r=0;t=${seconds(r.retryAfterMs)}`);

/** A pool's `RateLimit` item: what is left, and when it denied the request and a refill or reset can bring the cost back, how long until then. */
const creditsItem = (name: string, remaining: number, waitMs: number | undefined) =>
  `"${name}";r=${remaining}${waitMs === undefined ? "" : `;t=${seconds(waitMs)}`}`;

/** The name of a pool's policy: `base` for the default pool, else `base-<pool>`. */
const poolName = (base: string, pool: string | undefined) => (pool === undefined || pool === "default" ? base : `${base}-${pool}`);

/**
 * `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-10
 * §3 and §4: Structured Field lists of quota policies, `q` quota, `w` window
 * in seconds; `r` remaining, `t` seconds until the quota is back). The
 * policies: `"requests"` (the rate limit), one `"requests-<window>"` per
 * further rate limit (the draft allows several policies), and `"credits"`
 * or `"credits-<pool>"` for the pool the route draws from (`w` is the refill
 * interval, or 86400 for a daily reset; absent otherwise). The token's
 * account, when it has limits, adds its own policies (see
 * {@link MoreLimits.account}): a denial by the account names the policy that
 * denied it. `RateLimit` is sent only for the counters this request reached.
 */
export function limitFields(
  rateLimit: RateLimitPolicy | null,
  credits: CreditsPolicy | null,
  state: MeterState,
  more: MoreLimits = {},
): Record<string, string> {
  const policies: string[] = [];
  const current: string[] = [];
  if (rateLimit) {
    policies.push(`"requests";q=${rateLimit.limit};w=${seconds(rateLimit.windowMs)}`);
    // Denied by another limit, this one had room: its count is shown, not a wait.
    if (state.denied === "requests" && !state.rateRemaining) current.push(`"requests";r=0;t=${seconds(state.retryAfterMs ?? rateLimit.windowMs)}`);
    else if (state.rateRemaining !== undefined) current.push(`"requests";r=${state.rateRemaining}`);
  }
  (more.rateLimits ?? []).forEach((l, i) => {
    const name = windowName(l.windowMs);
    policies.push(`"${name}";q=${l.limit};w=${seconds(l.windowMs)}`);
    const r = state.more?.[i];
    if (r) current.push(rateItem(name, r));
  });
  if (credits) {
    const name = poolName("credits", more.pool);
    policies.push(`"${name}";q=${credits.limit}${poolWindow(credits)}`);
    if (state.creditsRemaining !== undefined) {
      current.push(creditsItem(name, state.creditsRemaining, state.denied === "credits" ? state.retryAfterMs : undefined));
    }
  }
  const account = more.account;
  if (account?.rateLimit) {
    policies.push(`"account-requests";q=${account.rateLimit.limit};w=${seconds(account.rateLimit.windowMs)}`);
    const r = state.account?.rateLimit;
    if (r) current.push(rateItem("account-requests", r));
  }
  if (account?.credits) {
    const name = poolName("account-credits", more.pool);
    const pool = account.credits;
    // The overage is room too: what is left counts it.
    policies.push(`"${name}";q=${pool.limit + pool.overage}${poolWindow(pool)}`);
    const left = state.account?.creditsRemaining;
    if (left !== undefined) current.push(creditsItem(name, left, state.denied === "account-credits" ? state.retryAfterMs : undefined));
  }
  const out: Record<string, string> = {};
  if (policies.length > 0) out["ratelimit-policy"] = policies.join(", ");
  if (current.length > 0) out.ratelimit = current.join(", ");
  return out;
}

/**
 * The components `Accept-Signature` asks to cover, serialized for its inner
 * list: those the verifier requires (the instance's `signatures.required`,
 * else its default), without the signature parameters; and
 * `content-digest` for a request with a body, which the verifier requires
 * too (RFC 9530).
 */
export function acceptedComponents(required: readonly string[] | undefined, hasBody: boolean): string {
  const ids = (required ?? DEFAULT_REQUIRED).filter((entry) => !PARAM_NAMES.has(entry)).map(parseComponentId);
  if (hasBody && !ids.some((id) => id[0] === "content-digest")) ids.push(["content-digest", new Map()]);
  return ids.map(serializeItem).join(" ");
}

/**
 * `Accept-Signature` (RFC 9421 §5.1) for a token that requires signed
 * requests: the components to cover (from {@link acceptedComponents}), the
 * parameters the verifier wants, the token's id as `keyid` and its algorithm.
 */
export function acceptSignature(tokenId: string, signing: StoredSigning | null, components: string): string {
  const alg = signing ? `;alg="${signing.alg}"` : "";
  return `sig1=(${components});created;expires;nonce;keyid="${tokenId}"${alg}`;
}

// Response fields that describe a token's limits and what a request must
// carry: IETF RateLimit / RateLimit-Policy and RFC 9421 Accept-Signature.
// Pure: data in, header values out.
import type { CreditsPolicy, RateLimitPolicy, StoredSigning } from "../model/types.js";

/** Counter state learned while metering one request. */
export interface MeterState {
  /** Requests left in the rate-limit window, when the rate limit was checked. */
  rateRemaining?: number | undefined;
  /** Credits left, when credits were checked. */
  creditsRemaining?: number | undefined;
  /** Wait before the next try, ms: for the rate limit when RATE_LIMITED, for the next refill when CREDITS_EXHAUSTED. */
  retryAfterMs?: number | undefined;
  /** Which counter denied the request, if one did. */
  denied?: "requests" | "credits" | undefined;
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

/**
 * `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-10
 * §3 and §4: Structured Field lists of quota policies, `q` quota, `w` window
 * in seconds; `r` remaining, `t` seconds until the quota is back). Two
 * policies: `"requests"` (the rate limit) and `"credits"` (`w` is the refill
 * interval, absent without a refill). `RateLimit` is sent only for the
 * counters this request reached.
 */
export function limitFields(
  rateLimit: RateLimitPolicy | null,
  credits: CreditsPolicy | null,
  state: MeterState,
): Record<string, string> {
  const policies: string[] = [];
  const current: string[] = [];
  if (rateLimit) {
    policies.push(`"requests";q=${rateLimit.limit};w=${seconds(rateLimit.windowMs)}`);
    if (state.denied === "requests") current.push(`"requests";r=0;t=${seconds(state.retryAfterMs ?? rateLimit.windowMs)}`);
    else if (state.rateRemaining !== undefined) current.push(`"requests";r=${state.rateRemaining}`);
  }
  if (credits) {
    policies.push(`"credits";q=${credits.limit}${credits.refill ? `;w=${seconds(credits.refill.intervalMs)}` : ""}`);
    if (state.creditsRemaining !== undefined) {
      const t = state.denied === "credits" && state.retryAfterMs !== undefined ? `;t=${seconds(state.retryAfterMs)}` : "";
      current.push(`"credits";r=${state.creditsRemaining}${t}`);
    }
  }
  const out: Record<string, string> = {};
  if (policies.length > 0) out["ratelimit-policy"] = policies.join(", ");
  if (current.length > 0) out.ratelimit = current.join(", ");
  return out;
}

/**
 * `Accept-Signature` (RFC 9421 §5.1) for a token that requires signed
 * requests: the components and parameters keyward's verifier wants by
 * default, the token's id as `keyid` and its algorithm. A request with a
 * body covers `content-digest` too (RFC 9530), which keyward's client does.
 */
export function acceptSignature(tokenId: string, signing: StoredSigning | null): string {
  const alg = signing ? `;alg="${signing.alg}"` : "";
  return `sig1=("@method" "@target-uri");created;expires;nonce;keyid="${tokenId}"${alg}`;
}

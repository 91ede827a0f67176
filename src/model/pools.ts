// Named credit pools and several rate limits: how a route's pool name picks
// the policy it draws from. Pure; shared by the verifier, the admin API and
// the stores' kit.
import type { CreditsPolicy, RateLimitPolicy } from "./types.js";

/** The pool a route draws from when it names none: a token's (or an account's) `credits`. */
export const DEFAULT_POOL = "default";

/** A pool name: a lowercase letter, then up to 31 lowercase letters, digits, `_` or `-`. */
export const POOL_NAME_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

/**
 * Largest credit amount: a pool's limit (with an account's overage), a
 * refill, a top-up, a balance an admin operation leaves, a route's cost.
 */
export const MAX_CREDIT_BALANCE = 1e15;
/** The longest idempotency key of a credit top-up or reset (as Stripe's). */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255;

/** Most named pools besides the default one. */
export const MAX_POOLS = 16;
/** Most rate limits besides `rateLimit` (`rateLimits`). */
export const MAX_RATE_LIMITS = 8;

/** Whether `name` is a well-formed pool name. */
export function isPoolName(name: unknown): name is string {
  return typeof name === "string" && POOL_NAME_PATTERN.test(name);
}

/**
 * The policy of the pool named `pool` in a token's or an account's policy:
 * for the default pool `credits` (null: unmetered, as ever); for a named
 * pool `pools[pool]`, null when the policy has no pool at all (unmetered
 * for every pool), `undefined` when it has pools but not this one (the
 * request is denied with `POOL_UNKNOWN`).
 */
export function poolOf<P extends CreditsPolicy>(
  policy: { credits: P | null; pools?: Record<string, P> | undefined },
  pool: string,
): P | null | undefined {
  if (pool === DEFAULT_POOL) return policy.credits;
  const named = policy.pools;
  const hasNamed = named !== undefined && Object.keys(named).length > 0;
  if (hasNamed && Object.hasOwn(named, pool)) return named[pool]!;
  return policy.credits === null && !hasNamed ? null : undefined;
}

/** Every rate limit of a policy: `rateLimit` first, then `rateLimits`. */
export function rateLimitsOf(policy: { rateLimit: RateLimitPolicy | null; rateLimits?: RateLimitPolicy[] | undefined }): RateLimitPolicy[] {
  const more = policy.rateLimits ?? [];
  return policy.rateLimit === null ? more : [policy.rateLimit, ...more];
}

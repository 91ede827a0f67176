// Stage 3, meter: only for a request the policy allows. A signed request's
// nonce is spent first (a replay is not the token holder's request, so it is
// charged nothing); then the rate limits and credits of the token and of its
// account, all or nothing in one atomic store call.
import type { ResolvedConfig } from "../config.js";
import { DEFAULT_POOL, poolOf } from "../model/pools.js";
import type { CreditsPolicy, StoredToken, TokenPolicy } from "../model/types.js";
import { allow, deny } from "../policy/decision.js";
import { hasLocalCounters } from "../store/shared-reads.js";
import type { CreditResult, MeterRequest, MeterResult } from "../store/types.js";
import type { SignedNonce } from "./authenticate.js";
import { type AccountPlanMeter, type Authorized, hasPools } from "./authorize.js";
import { DeadlineRace } from "./deadlines.js";
import { type AccountAnswers, type Decision, decision, denial, storeUnavailable } from "./decision.js";
import type { RouteCharge } from "./options.js";

/** Whether nothing of the token or its account is counted. */
function unmetered(policy: TokenPolicy, account: AccountPlanMeter | null): boolean {
  return account === null && policy.rateLimit === null && policy.credits === null && !policy.rateLimits?.length && !hasPools(policy);
}

/** @internal The metering stage of the verifier. */
export class Meter {
  readonly #cfg: ResolvedConfig;
  /**
   * The deadlines of the store's meter and nonce calls (`lookupTimeoutMs`,
   * like a lookup); null for a store whose counters run in this process
   * without I/O (MemoryStore's own), which cannot keep a request waiting.
   */
  readonly #deadlines: DeadlineRace | null;

  constructor(config: ResolvedConfig) {
    this.#cfg = config;
    this.#deadlines = hasLocalCounters(config.store.adapter) ? null : new DeadlineRace(config.lookupTimeoutMs);
  }

  /** `done` of the store's answer; `failed()` when the call fails or (with a deadline) has not answered in time. */
  #call<T, R>(call: () => Promise<T>, done: (answer: T) => R, failed: () => R): Promise<R> {
    if (this.#deadlines !== null) return this.#deadlines.race(call, done, failed);
    try {
      return call().then(done).catch(failed);
    } catch {
      return Promise.resolve(failed());
    }
  }

  /** The decision on an authorized request: nonce (for a signed request), then the meter when anything is limited. */
  charge(a: Authorized, route: RouteCharge, now: number, nonce?: SignedNonce): Decision | Promise<Decision> {
    if (nonce !== undefined) return this.#spendNonce(a, route, now, nonce);
    if (unmetered(a.policy, a.account)) return decision(allow(), a.stored, now);
    return this.#meter(a, route, now);
  }

  /** Replay check, after the policy allowed the request and before anything is charged (never rejects). */
  async #spendNonce(a: Authorized, route: RouteCharge, now: number, nonce: SignedNonce): Promise<Decision> {
    const fresh = await this.#call(
      () => this.#cfg.store.rememberNonce({ tokenId: a.stored.id, nonce: nonce.nonce }, nonce.expiresAtMs, now),
      (f) => f,
      () => null,
    );
    if (fresh === null) return storeUnavailable(now);
    if (!fresh) return denial("REPLAYED", now);
    try {
      if (unmetered(a.policy, a.account)) return decision(allow(), a.stored, now);
      return await this.#meter(a, route, now);
    } catch {
      return storeUnavailable(now);
    }
  }

  /**
   * Rate limits, then credits, of the token and of its account (see
   * `meterStep` in the store kit). The route's pool picks the token's and
   * the account's pool of that name. A failed store call, or one that has
   * not answered within `lookupTimeoutMs`, is `STORE_UNAVAILABLE`, on the
   * bearer and the signed path alike (a call abandoned at its deadline may
   * still be counted by the store when it recovers).
   */
  #meter({ stored, policy, account }: Authorized, route: RouteCharge, now: number): Promise<Decision> {
    const pool = route.pool ?? DEFAULT_POOL;
    const credits = poolOf(policy, pool);
    const acctCredits = account === null ? null : poolOf({ credits: account.meter.credits, pools: account.pools }, pool);
    if (credits === undefined || acctCredits === undefined) {
      return Promise.resolve(decision(deny("POOL_UNKNOWN"), stored, now, { pool, policy }));
    }
    const spend = credits || acctCredits ? (route.cost ?? 1) : 0;
    const request: MeterRequest = { tokenId: stored.id, cost: spend, rateLimit: policy.rateLimit, credits };
    if (policy.rateLimits?.length) request.rateLimits = policy.rateLimits;
    if (pool !== DEFAULT_POOL) request.pool = pool;
    if (account !== null) {
      const m = account.meter;
      request.account = pool === DEFAULT_POOL ? m : { owner: m.owner, rateLimit: m.rateLimit, credits: acctCredits };
    }
    return this.#call(
      () => this.#cfg.store.meter(request, now),
      (m) => metered(stored, policy, request, spend, m, now, pool),
      () => storeUnavailable(now),
    );
  }
}

/**
 * The earliest time the pool that refused a request of `cost` could hold it
 * again (epoch ms): the refill that brings enough back (each gives back at
 * most `refill.amount`), or its next calendar reset; null when it has
 * neither, or when none ever can: refills and resets give back plan credits
 * only (`limit`, with an account pool's `overage`), so a cost above them and
 * the bought credits left needs a top-up.
 */
function roomAt(c: CreditResult, pool: CreditsPolicy & { overage?: number }, cost: number): number | null {
  if (c.nextRefillAt === null || cost > pool.limit + (pool.overage ?? 0) + (c.bought ?? 0)) return null;
  if (!pool.refill) return c.nextRefillAt;
  const refills = Math.max(1, Math.ceil((cost - c.remaining) / pool.refill.amount));
  return c.nextRefillAt + (refills - 1) * pool.refill.intervalMs;
}

/** The denials a store's `meter` answers. */
const METER_DENIALS: ReadonlySet<unknown> = new Set<MeterResult["deniedBy"]>(["rateLimit", "accountRateLimit", "credits", "accountCredits"]);

/**
 * Whether a grant answers every check the request asked for, each passed: a rate limit
 * allowed for each of the request's, credits granted from each pool it draws from. A grant
 * with a part missing or refused (an adapter that skipped a check, or built its answer by
 * hand and got the top level wrong) says the store did not do what was asked.
 */
function grantAnswers(request: MeterRequest, m: MeterResult): boolean {
  // Truthiness, as meterStep asks: a limit absent (null or undefined) is not checked.
  if (request.rateLimit && m.rateLimit?.allowed !== true) return false;
  if (request.credits && m.credits?.granted !== true) return false;
  const more = request.rateLimits;
  if (more?.length && (m.rateLimits?.length !== more.length || !m.rateLimits.every((r) => r?.allowed === true))) return false;
  const a = request.account;
  return !a || ((!a.rateLimit || m.account?.rateLimit?.allowed === true) && (!a.credits || m.account?.credits?.granted === true));
}

/** The decision from the meter's answer. */
function metered(stored: StoredToken, policy: TokenPolicy, request: MeterRequest, spend: number, m: MeterResult, now: number, pool: string): Decision {
  // Only a grant allows: an answer that is neither a grant of every check asked for nor a denial
  // this version knows (an adapter's bug, its own copy of another version of the kit) is never taken for one.
  if (m.deniedBy === null ? m.granted !== true || !grantAnswers(request, m) : !METER_DENIALS.has(m.deniedBy)) return storeUnavailable(now);
  const account = request.account ?? null;
  const more = m.rateLimits;
  // The token's own counters, and the account's apart: each is shown under its own policy.
  const rateRemaining = m.rateLimit?.allowed === false ? 0 : m.rateLimit?.remaining;
  const acct: AccountAnswers | undefined =
    account === null ? undefined : { limits: account, rateLimit: m.account?.rateLimit ?? null, credits: m.account?.credits ?? null };
  const base = { rateRemaining, more, pool, policy, account: acct };
  if (m.deniedBy === "rateLimit" || m.deniedBy === "accountRateLimit") {
    // Every full limit must have room again: the longest of their waits.
    let wait = 0;
    for (const x of [m.rateLimit, ...(more ?? []), m.account?.rateLimit]) if (x && !x.allowed) wait = Math.max(wait, x.retryAfterMs);
    return decision(deny("RATE_LIMITED", { retryAfterMs: wait }), stored, now, { ...base, retryAfterMs: wait });
  }
  const own = m.credits;
  if (m.deniedBy === "credits" || m.deniedBy === "accountCredits") {
    const byToken = m.deniedBy === "credits";
    const c = (byToken ? own : m.account?.credits)!;
    const at = roomAt(c, (byToken ? poolOf(policy, pool) : account?.credits)!, spend);
    const wait = at === null ? undefined : Math.max(0, at - now);
    const d = deny("CREDITS_EXHAUSTED", wait === undefined ? undefined : { retryAfterMs: wait });
    // Refused by the account's pool, the token was not charged: its balance is not shown.
    const tokenRemaining = byToken ? c.remaining : undefined;
    return decision(d, stored, now, { ...base, remaining: c.remaining, tokenRemaining, retryAfterMs: wait });
  }
  const acctCredits = m.account?.credits ?? null;
  if (own === null && acctCredits === null) return decision(allow(), stored, now, base);
  // What the caller can still spend: the tighter of the token and its account.
  const remaining = own === null ? acctCredits!.remaining : acctCredits === null ? own.remaining : Math.min(own.remaining, acctCredits.remaining);
  return decision(allow(), stored, now, { ...base, remaining, tokenRemaining: own?.remaining, cost: spend });
}

// Metering, all or nothing: a request is counted against its rate limits and
// charged its credits together, or not at all. Checks run in this order:
//   1. the token's rate limits (`rateLimit`, then every one of `rateLimits`),
//      then the account's (one hit per request): all are checked, so the
//      answer knows the longest wait; over a limit → RATE_LIMITED (by the
//      token's when one of them is full, else by the account's);
//   2. the token's pool the request draws from, then the account's pool of
//      the same name (`cost`): short → CREDITS_EXHAUSTED;
// and only when every check passes is every counter written. So a request
// denied for credits uses no rate-limit capacity, a rate-limited one spends
// no credits, and a token's credits are never spent when its account's pool
// is short (nor the reverse).
import { DEFAULT_POOL } from "../../model/pools.js";
import type { CreditResult, MeterRequest, MeterResult, RateLimitResult } from "../types.js";
import { spendAccountCredits } from "./account-credits.js";
import { type CreditState, spendCredits } from "./credits.js";
import { checkHit, countHit, type RateWindowState } from "./rate-window.js";

/** Separates a token id or an owner from a pool name or a window in a counter key (no token id or owner holds it). */
export const COUNTER_KEY_SEPARATOR = "\u001f";

/**
 * The counter key of the pool `pool` of a token (by id) or an account (by
 * owner): the id or owner itself for the default pool, so balances stored
 * before pools keep their key; else `<id or owner>U+001F<pool>`. Owners and
 * token ids never hold U+001F (a control character), so no two keys collide.
 */
export function poolKey(base: string, pool: string | undefined): string {
  return pool === undefined || pool === DEFAULT_POOL ? base : `${base}${COUNTER_KEY_SEPARATOR}${pool}`;
}

/** The counter key of one of a token's `rateLimits` (the one of `rateLimit` is the token id): `<id>U+001F<windowMs>ms`. */
export function rateKey(base: string, windowMs: number): string {
  return `${base}${COUNTER_KEY_SEPARATOR}${windowMs}ms`;
}

/** Whether a counter key belongs to the token or owner `base` (its default key or a composite one). */
export function isCounterKeyOf(key: string, base: string): boolean {
  return key === base || (key.length > base.length && key.startsWith(base) && key[base.length] === COUNTER_KEY_SEPARATOR);
}

/** An account's counters as read inside the store's atomic section (absent: none yet). */
export interface AccountCounters {
  rate: RateWindowState | null | undefined;
  credits: CreditState | null | undefined;
}

/** What {@link meterStep} decided and what the store writes (null: leave that counter as it is). */
export interface MeterStep {
  result: MeterResult;
  /** The rate-limit state to store (the one given, advanced and counted in place, or a new one). A denial changes no state given. */
  rate: RateWindowState | null;
  credits: CreditState | null;
  /** The account's counters to store, when the request had an account and was granted. */
  account: { rate: RateWindowState | null; credits: CreditState | null } | null;
  /** The states of the request's `rateLimits` to store, in order (null when denied or without them). */
  rates: RateWindowState[] | null;
}

/** The counters of a request's `rateLimits` as read inside the store's atomic section, in order (absent: none yet). */
export interface MoreCounters {
  rates: ReadonlyArray<RateWindowState | null | undefined>;
}

/**
 * One metering decision over a token's counters (and its account's, when
 * `request.account` is given) as read inside the store's atomic section:
 * `rate` under the token id, `credits` under `poolKey(tokenId, request.pool)`,
 * the account's under `owner` and `poolKey(owner, request.pool)`, and those
 * of `request.rateLimits` under `rateKey(tokenId, windowMs)` (`more`).
 * The caller writes every non-null state in the same atomic section.
 */
export function meterStep(
  rate: RateWindowState | null | undefined,
  credits: CreditState | null | undefined,
  request: MeterRequest,
  now: number,
  account?: AccountCounters,
  more?: MoreCounters,
): MeterStep {
  const acct = request.account ?? null;
  let rateResult: RateLimitResult | null = null;
  let acctRate: RateLimitResult | null = null;
  let creditResult: CreditResult | null = null;
  let acctCredits: CreditResult | null = null;
  let nextCredits: CreditState | null = null;
  let nextAcctCredits: CreditState | null = null;
  let deniedBy: MeterResult["deniedBy"] = null;

  // Every check reads the counters as they are; only a grant changes them (below).
  if (request.rateLimit) {
    rateResult = checkHit(rate, request.rateLimit.windowMs, request.rateLimit.limit, now, 1);
    if (!rateResult.allowed) deniedBy = "rateLimit";
  }
  const limits = request.rateLimits ?? [];
  const rateResults: RateLimitResult[] = [];
  for (let i = 0; i < limits.length; i++) {
    const l = limits[i]!;
    const r = checkHit(more?.rates[i], l.windowMs, l.limit, now, 1);
    rateResults.push(r);
    if (!r.allowed) deniedBy = "rateLimit";
  }
  // Checked too when a token's rate limit is full: the answer then knows every full limit's wait.
  if ((deniedBy === null || deniedBy === "rateLimit") && acct?.rateLimit) {
    acctRate = checkHit(account?.rate, acct.rateLimit.windowMs, acct.rateLimit.limit, now, 1);
    if (!acctRate.allowed && deniedBy === null) deniedBy = "accountRateLimit";
  }
  if (deniedBy === null && request.credits) {
    const step = spendCredits(credits, request.credits, request.cost, now);
    creditResult = step.result;
    if (creditResult.granted) nextCredits = step.next;
    else deniedBy = "credits";
  }
  if (deniedBy === null && acct?.credits) {
    const step = spendAccountCredits(account?.credits, acct.credits, request.cost, now);
    acctCredits = step.result;
    if (acctCredits.granted) nextAcctCredits = step.next;
    else deniedBy = "accountCredits";
  }
  const result: MeterResult = { granted: deniedBy === null, deniedBy, rateLimit: rateResult, credits: creditResult };
  // Absent for an empty list, as the one-statement paths of SQL stores answer.
  if (limits.length > 0) result.rateLimits = rateResults;
  if (acct) result.account = { rateLimit: acctRate, credits: acctCredits };
  if (deniedBy !== null) {
    // Not counted: each hit was allowed only if everything else passed too.
    if (rateResult?.allowed) rateResult.remaining += 1;
    for (const r of rateResults) if (r.allowed) r.remaining += 1;
    if (acctRate?.allowed) acctRate.remaining += 1;
    return { result, rate: null, credits: null, account: null, rates: null };
  }
  const window = request.rateLimit ? countHit(rate, request.rateLimit.windowMs, now, 1) : null;
  const acctWindow = acct?.rateLimit ? countHit(account?.rate, acct.rateLimit.windowMs, now, 1) : null;
  return {
    result,
    rate: window,
    credits: nextCredits,
    account: acct ? { rate: acctWindow, credits: nextAcctCredits } : null,
    rates: limits.length > 0 ? limits.map((l, i) => countHit(more?.rates[i], l.windowMs, now, 1)) : null,
  };
}

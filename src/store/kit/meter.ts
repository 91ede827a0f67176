// Metering, all or nothing: a request is counted against its rate limits and
// charged its credits together, or not at all. Checks run in this order:
//   1. the token's rate limit, then the account's (one hit per request):
//      over a limit → RATE_LIMITED;
//   2. the token's credits, then the account's pool (`cost`): short →
//      CREDITS_EXHAUSTED;
// and only when every check passes is every counter written. So a request
// denied for credits uses no rate-limit capacity, a rate-limited one spends
// no credits, and a token's credits are never spent when its account's pool
// is short (nor the reverse).
import type { CreditResult, MeterRequest, MeterResult, RateLimitResult } from "../types.js";
import { spendAccountCredits } from "./account-credits.js";
import { type CreditState, spendCredits } from "./credits.js";
import { advanceWindow, checkHit, countHit, type RateWindowState } from "./rate-window.js";

/** An account's counters as read inside the store's atomic section (absent: none yet). */
export interface AccountCounters {
  rate: RateWindowState | null | undefined;
  credits: CreditState | null | undefined;
}

/** What {@link meterStep} decided and what the store writes (null: leave that counter as it is). */
export interface MeterStep {
  result: MeterResult;
  /** The rate-limit state to store (the one given, advanced and counted in place, or a new one). */
  rate: RateWindowState | null;
  credits: CreditState | null;
  /** The account's counters to store, when the request had an account and was granted. */
  account: { rate: RateWindowState | null; credits: CreditState | null } | null;
}

/**
 * One metering decision over a token's counters (and its account's, when
 * `request.account` is given) as read inside the store's atomic section.
 * The caller writes every non-null state in the same atomic section.
 */
export function meterStep(
  rate: RateWindowState | null | undefined,
  credits: CreditState | null | undefined,
  request: MeterRequest,
  now: number,
  account?: AccountCounters,
): MeterStep {
  const acct = request.account ?? null;
  let window: RateWindowState | null = null;
  let rateResult: RateLimitResult | null = null;
  let acctWindow: RateWindowState | null = null;
  let acctRate: RateLimitResult | null = null;
  let creditResult: CreditResult | null = null;
  let acctCredits: CreditResult | null = null;
  let nextCredits: CreditState | null = null;
  let nextAcctCredits: CreditState | null = null;
  let deniedBy: MeterResult["deniedBy"] = null;

  if (request.rateLimit) {
    window = advanceWindow(rate, request.rateLimit.windowMs, now);
    rateResult = checkHit(window, request.rateLimit.limit, now, 1);
    if (!rateResult.allowed) deniedBy = "rateLimit";
  }
  if (deniedBy === null && acct?.rateLimit) {
    acctWindow = advanceWindow(account?.rate, acct.rateLimit.windowMs, now);
    acctRate = checkHit(acctWindow, acct.rateLimit.limit, now, 1);
    if (!acctRate.allowed) deniedBy = "accountRateLimit";
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
  if (acct) result.account = { rateLimit: acctRate, credits: acctCredits };
  if (deniedBy !== null) {
    // Not counted: each hit was allowed only if everything after it passed too.
    if (rateResult && deniedBy !== "rateLimit") rateResult.remaining += 1;
    if (acctRate && deniedBy !== "accountRateLimit") acctRate.remaining += 1;
    return { result, rate: null, credits: null, account: null };
  }
  if (window) countHit(window, 1);
  if (acctWindow) countHit(acctWindow, 1);
  return { result, rate: window, credits: nextCredits, account: acct ? { rate: acctWindow, credits: nextAcctCredits } : null };
}

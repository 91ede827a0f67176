// Metering, all or nothing: a request is counted against its rate limit and
// charged its credits together, or not at all. Checks run in this order:
//   1. rate limit (one hit per request): over the limit → RATE_LIMITED;
//   2. credits (`cost`): short → CREDITS_EXHAUSTED;
// and only when both pass are both written. So a request denied for credits
// uses no rate-limit capacity, and a rate-limited one spends no credits.
import type { MeterRequest, MeterResult } from "../types.js";
import { type CreditState, spendCredits } from "./credits.js";
import { advanceWindow, checkHit, countHit, type RateWindowState } from "./rate-window.js";

/** What {@link meterStep} decided and what the store writes (null: leave that counter as it is). */
export interface MeterStep {
  result: MeterResult;
  /** The rate-limit state to store (the one given, advanced and counted in place, or a new one). */
  rate: RateWindowState | null;
  credits: CreditState | null;
}

/**
 * One metering decision over a token's counters as read inside the store's
 * atomic section. The caller writes `rate` and `credits` when not null,
 * in the same atomic section.
 */
export function meterStep(
  rate: RateWindowState | null | undefined,
  credits: CreditState | null | undefined,
  request: MeterRequest,
  now: number,
): MeterStep {
  let window: RateWindowState | null = null;
  let rateResult = null;
  if (request.rateLimit) {
    window = advanceWindow(rate, request.rateLimit.windowMs, now);
    rateResult = checkHit(window, request.rateLimit.limit, now, 1);
    if (!rateResult.allowed) {
      return { result: { granted: false, deniedBy: "rateLimit", rateLimit: rateResult, credits: null }, rate: null, credits: null };
    }
  }
  let creditResult = null;
  let nextCredits: CreditState | null = null;
  if (request.credits) {
    const step = spendCredits(credits, request.credits, request.cost, now);
    creditResult = step.result;
    if (!creditResult.granted) {
      // Not counted: the hit was allowed only if credits were too.
      if (rateResult) rateResult.remaining += 1;
      return { result: { granted: false, deniedBy: "credits", rateLimit: rateResult, credits: creditResult }, rate: null, credits: null };
    }
    nextCredits = step.next;
  }
  if (window) countHit(window, 1);
  return {
    result: { granted: true, deniedBy: null, rateLimit: rateResult, credits: creditResult },
    rate: window,
    credits: nextCredits,
  };
}

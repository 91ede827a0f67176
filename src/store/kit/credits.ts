// Credit balances. A store keeps the amount used (so a new limit applies at
// once) and the start of the refill period, anchored on the first
// consumption; `refill.amount` comes back per elapsed `refill.intervalMs`,
// never above the limit. A pool with a calendar `reset` is full again at the
// first use in a later UTC day or month than its period's start.
import type { CreditsPolicy } from "../../model/types.js";
import type { CreditResult } from "../types.js";
import { nextPeriodStartUtc, periodStartUtc } from "./calendar.js";

/** What a store keeps per token. Plain data. */
export interface CreditState {
  used: number;
  /** Start of the current refill period, or null before the first consumption. */
  periodStart: number | null;
}

/** The outcome of {@link spendCredits}: the answer, and the state to store when it changed (else null). */
export interface CreditStep {
  result: CreditResult;
  next: CreditState | null;
}

/**
 * Spends `cost` credits if the balance (after any refill due at `now`)
 * holds that many; `cost` 0 reads the balance. Pure: `state` is not changed.
 */
export function spendCredits(state: CreditState | null | undefined, policy: CreditsPolicy, cost: number, now: number): CreditStep {
  let used = state?.used ?? 0;
  let periodStart = state?.periodStart ?? null;
  const refill = policy.refill;
  const reset = policy.reset ?? null;
  let changed = false;
  if (reset !== null && periodStart !== null && periodStartUtc(periodStart, reset) < periodStartUtc(now, reset)) {
    // A new day or month: what was spent is forgotten, what was topped up (a negative `used`) is kept.
    used = Math.min(0, used);
    periodStart = null;
    changed = true;
  }
  if (refill && periodStart !== null && now - periodStart >= refill.intervalMs) {
    const k = Math.floor((now - periodStart) / refill.intervalMs);
    // A negative `used` is a top-up (store kit, account-credits.ts): a refill never takes it away.
    if (used > 0) used = Math.max(0, used - k * refill.amount);
    periodStart += k * refill.intervalMs;
    changed = true;
  }
  const granted = cost <= Math.max(0, policy.limit - used);
  if (granted && cost > 0) {
    used += cost;
    periodStart ??= now;
    changed = true;
  }
  return {
    result: {
      granted,
      remaining: Math.max(0, policy.limit - used),
      nextRefillAt: reset !== null ? nextPeriodStartUtc(now, reset) : refill && periodStart !== null ? periodStart + refill.intervalMs : null,
    },
    next: changed ? { used, periodStart } : null,
  };
}

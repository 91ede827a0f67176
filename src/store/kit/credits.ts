// Credit balances. A store keeps two amounts: the plan credits used in the
// current period (so a new limit applies at once), and the credits bought
// (top-ups) not spent yet; and the start of the refill period, anchored on
// the first consumption. A spend takes the plan's credits first, then the
// bought ones, then an account pool's overage. `refill.amount` comes back
// per elapsed `refill.intervalMs`, never above the limit; a pool with a
// calendar `reset` is full again at the first use in a later UTC day or
// month than its period's start. Refills and resets give back plan credits
// only: bought credits are kept until spent.
import type { CreditsPolicy } from "../../model/types.js";
import type { CreditResult } from "../types.js";
import { nextPeriodStartUtc, periodStartUtc } from "./calendar.js";

/**
 * What a store keeps per balance (a token's pool, an account's pool). Plain
 * data: a store writes each field as the kit returned it. A state written
 * before `bought` existed (no `bought`; a top-up was a negative `used`) is
 * read as the same balance: `bought` 0, and a negative `used` as bought
 * credits.
 */
export interface CreditState {
  /** Plan credits (overage included) spent in the current period: what a refill or a calendar reset gives back. */
  used: number;
  /** Credits bought (top-ups) and not spent yet: spent after the plan's, kept across refills and resets. */
  bought: number;
  /** Start of the current refill period, or null before the first consumption. */
  periodStart: number | null;
}

/** The outcome of {@link spendCredits}: the answer, and the state to store when it changed (else null). */
export interface CreditStep {
  result: CreditResult;
  next: CreditState | null;
}

/**
 * A stored state as the kit reads it: absent is a fresh balance; one
 * written before `bought` existed gets it (a negative `used` was bought
 * credits). Pure.
 *
 * @param state - the stored state, or null / undefined when none is stored
 * @returns the state with every field, `used` 0 or more
 * @example
 * ```ts
 * creditState({ used: -5, periodStart: null } as CreditState); // { used: 0, bought: 5, periodStart: null }
 * ```
 */
export function creditState(state: CreditState | null | undefined): CreditState {
  const used = state?.used ?? 0;
  const bought = state?.bought ?? 0;
  const periodStart = state?.periodStart ?? null;
  return used < 0 ? { used: 0, bought: bought - used, periodStart } : { used, bought, periodStart };
}

/**
 * The balance of a state under a pool of `limit` plan credits per period and
 * `overage` more: the plan's credits left, the bought ones, and the overage
 * left (plan credits spent beyond `limit`). Pure; no refill or reset is
 * applied (see {@link spendCredits}).
 *
 * @param state - `used` (0 or more: read it with {@link creditState}) and `bought`
 * @param limit - the pool's plan credits per period
 * @param overage - credits that may be spent beyond `limit` per period (an account pool's; default 0)
 * @returns the credits that can be spent
 * @example
 * ```ts
 * creditsLeft({ used: 900, bought: 500 }, 1000); // 600
 * ```
 */
export function creditsLeft(state: Pick<CreditState, "used" | "bought">, limit: number, overage = 0): number {
  return Math.max(0, limit + overage - state.used) + state.bought;
}

/**
 * Spends `cost` credits if the balance (after any refill or calendar reset
 * due at `now`) holds that many: the plan's first, then bought credits, then
 * the pool's `overage` (an account pool's; none for a token's); `cost` 0
 * reads the balance. Pure: `state` is not changed.
 */
export function spendCredits(
  state: CreditState | null | undefined,
  policy: CreditsPolicy & { overage?: number },
  cost: number,
  now: number,
): CreditStep {
  let { used, bought, periodStart } = creditState(state);
  const { limit, refill } = policy;
  const overage = policy.overage ?? 0;
  const reset = policy.reset ?? null;
  let changed = false;
  if (reset !== null && periodStart !== null && periodStartUtc(periodStart, reset) < periodStartUtc(now, reset)) {
    // A new day or month: the plan's credits spent are forgotten; bought ones are kept.
    used = 0;
    periodStart = null;
    changed = true;
  }
  if (refill && periodStart !== null && now - periodStart >= refill.intervalMs) {
    const k = Math.floor((now - periodStart) / refill.intervalMs);
    used = Math.max(0, used - k * refill.amount);
    periodStart += k * refill.intervalMs;
    changed = true;
  }
  const granted = cost <= creditsLeft({ used, bought }, limit, overage);
  if (granted && cost > 0) {
    const fromBought = Math.min(bought, Math.max(0, cost - Math.max(0, limit - used)));
    used += cost - fromBought;
    bought -= fromBought;
    periodStart ??= now;
    changed = true;
  }
  const nextRefillAt = reset !== null ? nextPeriodStartUtc(now, reset) : refill && periodStart !== null ? periodStart + refill.intervalMs : null;
  return {
    result: {
      granted,
      remaining: creditsLeft({ used, bought }, limit, overage),
      nextRefillAt,
      // Only where a refill or reset comes: what it can make room for is the plan's credits and these.
      ...(nextRefillAt !== null && bought > 0 && { bought }),
    },
    next: changed ? { used, bought, periodStart } : null,
  };
}

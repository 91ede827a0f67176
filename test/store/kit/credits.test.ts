import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AccountCreditsPolicy } from "../../../src/model/account.js";
import { adjustCredits, spendAccountCredits, tokenPool } from "../../../src/store/kit/account-credits.js";
import { type CreditState, spendCredits } from "../../../src/store/kit/credits.js";

const T = Date.UTC(2025, 0, 1);

describe("credits", () => {
  it("a grant deducts exactly the cost from the balance read just before (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 50 }),
        fc.option(fc.record({ amount: fc.nat({ max: 20 }), intervalMs: fc.integer({ min: 1, max: 1000 }) })),
        fc.array(fc.record({ dt: fc.nat({ max: 700 }), cost: fc.nat({ max: 15 }) }), { maxLength: 60 }),
        (limit, refill, ops) => {
          const policy = { limit, refill };
          let state: CreditState | null = null;
          let now = T;
          for (const { dt, cost } of ops) {
            now += dt;
            const before = spendCredits(state, policy, 0, now).result.remaining;
            const step = spendCredits(state, policy, cost, now);
            if (step.next) state = step.next;
            expect(before).toBeGreaterThanOrEqual(0);
            expect(before).toBeLessThanOrEqual(limit);
            expect(step.result.granted).toBe(cost <= before);
            expect(step.result.remaining).toBe(step.result.granted ? before - cost : before);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("anchors the refill on the first consumption and never goes above the limit", () => {
    const p = { limit: 10, refill: { amount: 4, intervalMs: 1000 } };
    const a = spendCredits(null, p, 10, T + 500);
    expect(a.result).toEqual({ granted: true, remaining: 0, nextRefillAt: T + 1500 });
    expect(spendCredits(a.next, p, 0, T + 1500).result).toEqual({ granted: true, remaining: 4, nextRefillAt: T + 2500 });
    expect(spendCredits(a.next, p, 0, T + 60_000).result.remaining).toBe(10);
  });

  it("is pure: the state given is not changed, and a read writes nothing", () => {
    const state = { used: 3, bought: 2, periodStart: T };
    const frozen = Object.freeze({ ...state });
    expect(spendCredits(frozen, { limit: 5, refill: null }, 1, T).next).toEqual({ used: 4, bought: 2, periodStart: T });
    expect(spendCredits(frozen, { limit: 5, refill: null }, 0, T).next).toBeNull();
    expect(spendCredits(frozen, { limit: 5, refill: null }, 5, T).next).toBeNull();
  });
});

describe("bought credits (top-ups)", () => {
  const HOUR = 3_600_000;
  const nov20 = Date.UTC(2026, 10, 20, 12);
  const dec1 = Date.UTC(2026, 11, 1, 0, 0, 1);
  /** The state after spending `cost` then topping up `amount`, under `policy`, at `at`. */
  const spentThenTopped = (policy: AccountCreditsPolicy, cost: number, amount: number, at: number) => {
    const spent = spendAccountCredits(null, policy, cost, at);
    expect(spent.result.granted).toBe(true);
    return adjustCredits(spent.next, policy, { op: "topUp", amount }, at).next;
  };

  it("a top-up bought after the plan's credits were spent is kept across the next calendar reset", () => {
    const p = tokenPool({ limit: 10, refill: null, reset: "month" });
    const state = spentThenTopped(p, 10, 5, nov20);
    expect(state).toEqual({ used: 10, bought: 5, periodStart: nov20 });
    expect(spendAccountCredits(state, p, 0, nov20 + 1).result.remaining).toBe(5);
    expect(spendAccountCredits(state, p, 0, dec1).result.remaining).toBe(15);
    // 900 of 1000 spent, 500 bought: 1500 on the 1st.
    const month = tokenPool({ limit: 1000, refill: null, reset: "month" });
    expect(spendAccountCredits(spentThenTopped(month, 900, 500, nov20), month, 0, dec1).result.remaining).toBe(1500);
  });

  it("a top-up is kept across a refill, and the plan's credits spent before it come back", () => {
    const p = tokenPool({ limit: 10, refill: { amount: 10, intervalMs: HOUR } });
    expect(spendAccountCredits(spentThenTopped(p, 10, 5, T), p, 0, T + HOUR).result.remaining).toBe(15);
    // 4 spent, then 5 bought (11): an hour later the plan's 10 and the 5.
    expect(spendAccountCredits(spentThenTopped(p, 4, 5, T), p, 0, T + HOUR).result.remaining).toBe(15);
  });

  it("spends the plan's credits first, then the bought ones, then the overage", () => {
    const p = { limit: 10, refill: null, reset: "month" as const, overage: 5 };
    const state = spentThenTopped(p, 8, 5, nov20); // 2 of the plan, 5 bought, 5 overage
    const step = spendAccountCredits(state, p, 9, nov20);
    expect(step.next).toEqual({ used: 12, bought: 0, periodStart: nov20 });
    expect(step.result.remaining).toBe(3);
    // The overage is room of the period: back in December, with nothing bought left.
    expect(spendAccountCredits(step.next, p, 0, dec1).result.remaining).toBe(15);
    expect(spendAccountCredits(step.next, p, 4, nov20).result.granted).toBe(false);
  });

  it("an admin reset is a full balance and a new period: bought credits left are dropped", () => {
    const p = tokenPool({ limit: 10, refill: null });
    const step = adjustCredits(spentThenTopped(p, 3, 50, T), p, { op: "reset" }, T);
    expect(step.next).toEqual({ used: 0, bought: 0, periodStart: null });
    expect(step.result.remaining).toBe(10);
  });

  it("reads a state stored before bought credits had their own field (a top-up was a negative used) as the same balance", () => {
    const p = tokenPool({ limit: 10, refill: null, reset: "day" });
    const legacy = { used: -5, periodStart: T } as unknown as CreditState;
    expect(spendAccountCredits(legacy, p, 0, T).result.remaining).toBe(15);
    expect(spendAccountCredits(legacy, p, 12, T).next).toEqual({ used: 10, bought: 3, periodStart: T });
    expect(adjustCredits(legacy, p, { op: "topUp", amount: 1 }, T).next).toEqual({ used: 0, bought: 6, periodStart: T });
    expect(spendAccountCredits(legacy, p, 0, T + 86_400_000).result.remaining).toBe(15);
  });
});

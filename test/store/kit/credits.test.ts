import fc from "fast-check";
import { describe, expect, it } from "vitest";
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
    const state = { used: 3, periodStart: T };
    const frozen = Object.freeze({ ...state });
    expect(spendCredits(frozen, { limit: 5, refill: null }, 1, T).next).toEqual({ used: 4, periodStart: T });
    expect(spendCredits(frozen, { limit: 5, refill: null }, 0, T).next).toBeNull();
    expect(spendCredits(frozen, { limit: 5, refill: null }, 3, T).next).toBeNull();
  });
});

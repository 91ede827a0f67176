import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CalendarReset } from "../../../src/model/types.js";
import { monthStartUtc, nextMonthStartUtc, spendAccountCredits } from "../../../src/store/kit/account-credits.js";
import { nextPeriodStartUtc, periodStartUtc } from "../../../src/store/kit/calendar.js";
import { type CreditState, spendCredits } from "../../../src/store/kit/credits.js";

const DAY = 86_400_000;
// 1970 to 2200: leap years by the Gregorian rule (2000 is one, 2100 is not).
const instant = fc.integer({ min: 0, max: Date.UTC(2200, 0, 1) });
const reset = fc.constantFrom<CalendarReset>("day", "month");
const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

describe("calendar periods (UTC)", () => {
  it("a period holds its instant, starts at 00:00 UTC, and the next one starts where it ends (property)", () => {
    fc.assert(
      fc.property(instant, reset, (at, r) => {
        const start = periodStartUtc(at, r);
        const next = nextPeriodStartUtc(at, r);
        expect(start).toBeLessThanOrEqual(at);
        expect(next).toBeGreaterThan(at);
        expect(start % DAY).toBe(0);
        expect(next % DAY).toBe(0);
        expect(periodStartUtc(next, r)).toBe(next);
        expect(periodStartUtc(next - 1, r)).toBe(start);
        if (r === "day") expect(next - start).toBe(DAY);
        else {
          const d = new Date(start);
          expect(d.getUTCDate()).toBe(1);
          const y = d.getUTCFullYear();
          const m = d.getUTCMonth();
          expect((next - start) / DAY).toBe(m === 1 && isLeap(y) ? 29 : MONTH_DAYS[m]);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("months of every length, leap years by the Gregorian rule", () => {
    expect((nextPeriodStartUtc(Date.UTC(2028, 1, 10), "month") - Date.UTC(2028, 1, 1)) / DAY).toBe(29);
    expect((nextPeriodStartUtc(Date.UTC(2100, 1, 10), "month") - Date.UTC(2100, 1, 1)) / DAY).toBe(28);
    expect((nextPeriodStartUtc(Date.UTC(2000, 1, 10), "month") - Date.UTC(2000, 1, 1)) / DAY).toBe(29);
    expect(nextPeriodStartUtc(Date.UTC(2026, 11, 31, 23, 59, 59, 999), "month")).toBe(Date.UTC(2027, 0, 1));
    expect(nextPeriodStartUtc(Date.UTC(2026, 11, 31, 23, 59, 59, 999), "day")).toBe(Date.UTC(2027, 0, 1));
    expect(periodStartUtc(Date.UTC(2028, 1, 29, 12), "day")).toBe(Date.UTC(2028, 1, 29));
  });

  it("the account pools' month helpers are the month periods", () => {
    fc.assert(
      fc.property(instant, (at) => {
        expect(monthStartUtc(at)).toBe(periodStartUtc(at, "month"));
        expect(nextMonthStartUtc(at)).toBe(nextPeriodStartUtc(at, "month"));
      }),
    );
  });
});

describe("a pool with a calendar reset", () => {
  it("grants within a period no more than its limit plus its top-ups, and is full again in the next one (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20 }),
        reset,
        fc.integer({ min: Date.UTC(2024, 0, 1), max: Date.UTC(2030, 0, 1) }),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 9 * DAY }), cost: fc.nat({ max: 8 }) }), { maxLength: 60 }),
        (limit, r, start, ops) => {
          const policy = { limit, refill: null, reset: r };
          let state: CreditState | null = null;
          let now = start;
          const spent = new Map<number, number>();
          for (const { dt, cost } of ops) {
            now += dt;
            const period = periodStartUtc(now, r);
            const step = spendCredits(state, policy, cost, now);
            if (step.next) state = step.next;
            const before = spent.get(period) ?? 0;
            // Everything spent in earlier periods is forgotten: the answer depends on this period alone.
            expect(step.result.granted).toBe(before + cost <= limit);
            if (step.result.granted) spent.set(period, before + cost);
            expect(step.result.remaining).toBe(limit - (spent.get(period) ?? 0));
            expect(step.result.nextRefillAt).toBe(nextPeriodStartUtc(now, r));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("keeps bought credits across a reset, as account pools do", () => {
    const policy = { limit: 10, refill: null, reset: "day" as const, overage: 0 };
    const t = Date.UTC(2027, 5, 30, 23);
    const topped: CreditState = { used: 10, bought: 5, periodStart: t };
    expect(spendAccountCredits(topped, policy, 0, t + 2 * 3_600_000).result.remaining).toBe(15);
    const spentAll: CreditState = { used: 10, bought: 0, periodStart: t };
    expect(spendCredits(spentAll, policy, 10, Date.UTC(2027, 6, 1)).result).toMatchObject({ granted: true, remaining: 0 });
  });

  it("a record stored before calendar resets (no reset key) behaves as before", () => {
    const old = { limit: 3, refill: null };
    const step = spendCredits({ used: 3, bought: 0, periodStart: Date.UTC(2020, 0, 1) }, old, 1, Date.UTC(2030, 0, 1));
    expect(step.result).toEqual({ granted: false, remaining: 0, nextRefillAt: null });
  });
});

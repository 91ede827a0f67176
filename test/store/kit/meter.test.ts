import { describe, expect, it } from "vitest";
import { isCounterKeyOf, meterStep, poolKey, rateKey } from "../../../src/store/kit/meter.js";
import type { MeterRequest } from "../../../src/store/types.js";

const T = Date.UTC(2025, 0, 1);

describe("meterStep", () => {
  const req: MeterRequest = {
    tokenId: "tok_a",
    cost: 1,
    rateLimit: { limit: 2, windowMs: 60_000 },
    credits: { limit: 1, refill: null },
  };

  it("checks the rate limit first, then credits, and writes both or neither", () => {
    const ok = meterStep(null, null, req, T);
    expect(ok.result).toMatchObject({ granted: true, deniedBy: null });
    expect(ok.rate?.counts.reduce((a, b) => a + b, 0)).toBe(1);
    expect(ok.credits).toEqual({ used: 1, bought: 0, periodStart: T });

    const noCredits = meterStep(ok.rate, ok.credits, req, T + 1);
    expect(noCredits).toMatchObject({ rate: null, credits: null, result: { granted: false, deniedBy: "credits" } });
    // Not counted: the window still has one hit, and says so.
    expect(noCredits.result.rateLimit).toMatchObject({ allowed: true, remaining: 1 });
    expect(ok.rate?.counts.reduce((a, b) => a + b, 0)).toBe(1);
  });

  it("a rate-limited request does not reach credits", () => {
    const r = { ...req, rateLimit: { limit: 1, windowMs: 60_000 }, credits: { limit: 10, refill: null } };
    const first = meterStep(null, null, r, T);
    const second = meterStep(first.rate, first.credits, r, T + 1);
    expect(second.result).toMatchObject({ granted: false, deniedBy: "rateLimit", credits: null });
    expect(second.credits).toBeNull();
  });
});

describe("counter keys", () => {
  it("the default pool is the id itself; other pools and windows are composite keys of their id only", () => {
    expect(poolKey("tok_a", undefined)).toBe("tok_a");
    expect(poolKey("tok_a", "default")).toBe("tok_a");
    for (const key of [poolKey("tok_a", "premium"), rateKey("tok_a", 60_000), "tok_a"]) {
      expect(isCounterKeyOf(key, "tok_a")).toBe(true);
      expect(isCounterKeyOf(key, "tok_ab")).toBe(false);
    }
    // A longer id that starts with the same characters is another token's.
    expect(isCounterKeyOf(poolKey("tok_ab", "premium"), "tok_a")).toBe(false);
    expect(isCounterKeyOf(rateKey("tok_ab", 1000), "tok_a")).toBe(false);
    expect(isCounterKeyOf("tok_", "tok_a")).toBe(false);
  });
});

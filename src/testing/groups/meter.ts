// Conformance group "meter" of describeTokenStore: rate limit and credits
// together, all or nothing. Order of checks: rate limit, then credits.
import { expect, it } from "vitest";
import type { MeterRequest } from "../../store/types.js";
import { randomId } from "../fixtures.js";
import { consume, hit, type SuiteContext, T } from "../suite.js";

/** Registers the "meter" tests; `ctx.store` is the store of the running test. */
export function meterGroup(ctx: SuiteContext): void {
  const request = (tokenId: string, cost = 1): MeterRequest => ({
    tokenId,
    cost,
    rateLimit: { limit: 2, windowMs: 60_000 },
    credits: { limit: 1, refill: null },
  });

  it("a request denied for credits uses no rate-limit capacity (credit limit 1, rate limit 2)", async () => {
    const id = randomId("tok");
    const first = await ctx.store.meter(request(id), T);
    expect(first).toMatchObject({ granted: true, deniedBy: null, credits: { granted: true, remaining: 0 } });
    expect(first.rateLimit).toMatchObject({ allowed: true, remaining: 1 });
    for (let i = 1; i <= 5; i++) {
      const r = await ctx.store.meter(request(id), T + i);
      expect(r).toMatchObject({ granted: false, deniedBy: "credits", credits: { granted: false, remaining: 0 } });
    }
    // One hit of the two is still free: the denied requests were not counted.
    expect(await hit(ctx.store, id, 2, 60_000, T + 10)).toMatchObject({ allowed: true, remaining: 0 });
  });

  it("a denied request changes no counter, even a rate limit it passed: a request stamped earlier is answered as without it", async () => {
    const id = randomId("tok");
    const rateLimit = { limit: 1, windowMs: 1000 };
    expect(await hit(ctx.store, id, 1, 1000, T)).toMatchObject({ allowed: true });
    // The hit at T has left the window: the rate limit passes, the credits do not.
    const denied = await ctx.store.meter({ tokenId: id, cost: 1, rateLimit, credits: { limit: 0, refill: null } }, T + 5000);
    expect(denied).toMatchObject({ granted: false, deniedBy: "credits", rateLimit: { allowed: true } });
    // Stamped earlier (another server's clock), a request still finds the hit at T in its window.
    expect(await hit(ctx.store, id, 1, 1000, T + 500)).toEqual({ allowed: false, remaining: 0, retryAfterMs: 600 });
  });

  it("a rate-limited request spends no credits", async () => {
    const id = randomId("tok");
    const req: MeterRequest = { tokenId: id, cost: 3, rateLimit: { limit: 1, windowMs: 60_000 }, credits: { limit: 10, refill: null } };
    expect((await ctx.store.meter(req, T)).granted).toBe(true);
    const denied = await ctx.store.meter(req, T + 1);
    expect(denied).toMatchObject({ granted: false, deniedBy: "rateLimit", rateLimit: { allowed: false } });
    expect(denied.rateLimit!.retryAfterMs).toBeGreaterThan(0);
    expect((await consume(ctx.store, id, 0, { limit: 10, refill: null }, T + 2)).remaining).toBe(7);
  });

  it("without either policy it grants and reports nothing", async () => {
    const r = await ctx.store.meter({ tokenId: randomId("tok"), cost: 5, rateLimit: null, credits: null }, T);
    expect(r).toEqual({ granted: true, deniedBy: null, rateLimit: null, credits: null });
  });

  it(`concurrent requests on rate limit 30 and 20 credits grant exactly 20 and count exactly 20 hits`, async () => {
    const id = randomId("tok");
    const req: MeterRequest = { tokenId: id, cost: 1, rateLimit: { limit: 30, windowMs: 60_000 }, credits: { limit: 20, refill: null } };
    const n = Math.min(ctx.concurrency, 100);
    const rs = await Promise.all(Array.from({ length: n }, () => ctx.store.meter(req, T)));
    expect(rs.filter((r) => r.granted)).toHaveLength(20);
    expect(rs.filter((r) => r.deniedBy === "credits")).toHaveLength(n - 20);
    // 10 hits left: the credit denials took none.
    expect(await hit(ctx.store, id, 30, 60_000, T)).toMatchObject({ allowed: true, remaining: 9 });
  });
}

// Conformance group "rateLimit" of describeTokenStore: "at most `limit`
// requests in any `windowMs`", through `meter` with a rate limit only.
import { expect, it } from "vitest";
import { randomId } from "../fixtures.js";
import { hit, type SuiteContext, T } from "../suite.js";

/** Registers the "rateLimit" tests; `ctx.store` is the store of the running test. */
export function rateLimitGroup(ctx: SuiteContext): void {
  it("allows up to limit hits, then denies with 0 < retryAfterMs ≤ 1.1 × windowMs", async () => {
    const key = randomId("tok");
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await hit(ctx.store, key, 3, 1000, T + 100 + i));
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, false]);
    expect(results.map((r) => r.remaining)).toEqual([2, 1, 0, 0]);
    expect(results.slice(0, 3).every((r) => r.retryAfterMs === 0)).toBe(true);
    expect(results[3]!.retryAfterMs).toBeGreaterThan(0);
    expect(results[3]!.retryAfterMs).toBeLessThanOrEqual(1100);
  });

  it("does not count denied hits", async () => {
    const key = randomId("tok");
    for (let i = 0; i < 3; i++) expect((await hit(ctx.store, key, 3, 1000, T + 100)).allowed).toBe(true);
    for (let i = 0; i < 50; i++) expect((await hit(ctx.store, key, 3, 1000, T + 200)).allowed).toBe(false);
    let allowed = 0;
    for (let i = 0; i < 5; i++) if ((await hit(ctx.store, key, 3, 1000, T + 1200)).allowed) allowed++;
    expect(allowed).toBe(3);
  });

  it("no burst at a window edge: nothing more until the burst has left every span of windowMs", async () => {
    const key = randomId("tok");
    for (let i = 0; i < 10; i++) expect((await hit(ctx.store, key, 10, 1000, T + 900)).allowed).toBe(true);
    for (const at of [T + 1000, T + 1100, T + 1500, T + 1899]) {
      expect((await hit(ctx.store, key, 10, 1000, at)).allowed).toBe(false);
    }
  });

  it("allows a hit once retryAfterMs has passed, and not 1 ms before", async () => {
    const key = randomId("tok");
    for (let i = 0; i < 10; i++) await hit(ctx.store, key, 10, 1000, T + 950 + i);
    const r = await hit(ctx.store, key, 10, 1000, T + 1300);
    expect(r.allowed).toBe(false);
    expect((await hit(ctx.store, key, 10, 1000, T + 1300 + r.retryAfterMs - 1)).allowed).toBe(false);
    expect((await hit(ctx.store, key, 10, 1000, T + 1300 + r.retryAfterMs)).allowed).toBe(true);
  });

  it("never allows more than limit hits in any span of windowMs (random arrivals)", async () => {
    const key = randomId("tok");
    const limit = 7;
    const windowMs = 1000;
    let seed = 12345;
    const next = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const allowedAt: number[] = [];
    let now = T;
    for (let i = 0; i < 400; i++) {
      now += Math.floor(next() * 60);
      if ((await hit(ctx.store, key, limit, windowMs, now)).allowed) allowedAt.push(now);
    }
    for (let i = 0; i < allowedAt.length; i++) {
      const inSpan = allowedAt.filter((t) => t > allowedAt[i]! - windowMs && t <= allowedAt[i]!).length;
      expect(inSpan).toBeLessThanOrEqual(limit);
    }
    // And the long-run rate is not far below the limit: at least 80 % of it over the run.
    expect(allowedAt.length).toBeGreaterThanOrEqual(Math.floor(((now - T) / windowMs) * limit * 0.8));
  });

  it("keeps keys separate", async () => {
    const a = randomId("tok");
    const b = randomId("tok");
    for (let i = 0; i < 2; i++) await hit(ctx.store, a, 2, 1000, T);
    expect((await hit(ctx.store, a, 2, 1000, T)).allowed).toBe(false);
    expect(await hit(ctx.store, b, 2, 1000, T)).toMatchObject({ allowed: true, remaining: 1 });
  });
}

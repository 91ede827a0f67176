// Conformance group "credits" of describeTokenStore.
import { beforeEach, expect, it } from "vitest";
import type { CreditsPolicy } from "../../model/types.js";
import { makeStoredToken } from "../fixtures.js";
import { consume, type SuiteContext, T } from "../suite.js";

/** Registers the "credits" tests; `ctx.store` is the store of the running test. */
export function creditsGroup(ctx: SuiteContext): void {
    const flat = (limit: number): CreditsPolicy => ({ limit, refill: null });
    let id: string;
    beforeEach(async () => {
      const t = makeStoredToken();
      await ctx.store.insert(t);
      id = t.id;
    });

    it("grants while the balance suffices and deducts the cost", async () => {
      expect(await consume(ctx.store, id, 3, flat(10), T)).toEqual({ granted: true, remaining: 7, nextRefillAt: null });
      expect(await consume(ctx.store, id, 7, flat(10), T)).toMatchObject({ granted: true, remaining: 0 });
      expect(await consume(ctx.store, id, 1, flat(10), T)).toMatchObject({ granted: false, remaining: 0 });
    });

    it("denies a cost above the balance and deducts nothing", async () => {
      await consume(ctx.store, id, 3, flat(5), T);
      expect(await consume(ctx.store, id, 3, flat(5), T)).toMatchObject({ granted: false, remaining: 2 });
      expect(await consume(ctx.store, id, 2, flat(5), T)).toMatchObject({ granted: true, remaining: 0 });
      for (let i = 0; i < 5; i++) {
        expect((await consume(ctx.store, id, 1, flat(5), T + i)).remaining).toBe(0);
      }
    });

    it("keeps balances and costs beyond 2^32 exact, up to 10^15 (a 32-bit or float column would not)", async () => {
      const big = flat(1e15);
      const a = 2 ** 31 + 1;
      const b = 2 ** 32 + 3;
      expect(await consume(ctx.store, id, a, big, T)).toEqual({ granted: true, remaining: 1e15 - a, nextRefillAt: null });
      expect(await consume(ctx.store, id, b, big, T)).toMatchObject({ granted: true, remaining: 1e15 - a - b });
      expect(await consume(ctx.store, id, 1e15 - a - b + 1, big, T)).toMatchObject({ granted: false, remaining: 1e15 - a - b });
      expect(await consume(ctx.store, id, 1e15 - a - b - 1, big, T)).toMatchObject({ granted: true, remaining: 1 });
      expect(await consume(ctx.store, id, 0, big, T)).toMatchObject({ granted: true, remaining: 1 });
    });

    it("cost 0 reads the balance without changing it", async () => {
      expect((await consume(ctx.store, id, 0, flat(10), T)).remaining).toBe(10);
      await consume(ctx.store, id, 4, flat(10), T);
      expect((await consume(ctx.store, id, 0, flat(10), T)).remaining).toBe(6);
      expect((await consume(ctx.store, id, 0, flat(10), T)).remaining).toBe(6);
      await consume(ctx.store, id, 6, flat(10), T);
      expect((await consume(ctx.store, id, 0, flat(10), T)).remaining).toBe(0);
    });

    it("refills amount per interval since the first consumption, never above the limit", async () => {
      const p: CreditsPolicy = { limit: 10, refill: { amount: 4, intervalMs: 1000 } };
      expect(await consume(ctx.store, id, 10, p, T + 500)).toEqual({
        granted: true,
        remaining: 0,
        nextRefillAt: T + 1500,
      });
      expect(await consume(ctx.store, id, 1, p, T + 1499)).toMatchObject({ granted: false, remaining: 0 });
      expect(await consume(ctx.store, id, 0, p, T + 1500)).toEqual({
        granted: true,
        remaining: 4,
        nextRefillAt: T + 2500,
      });
      expect(await consume(ctx.store, id, 0, p, T + 3000)).toMatchObject({ remaining: 8, nextRefillAt: T + 3500 });
      expect((await consume(ctx.store, id, 0, p, T + 60_000)).remaining).toBe(10);
      expect(await consume(ctx.store, id, 3, p, T + 60_000)).toMatchObject({ granted: true, remaining: 7 });
    });

    it("applies a raised or lowered limit at once (the store keeps the amount used)", async () => {
      await consume(ctx.store, id, 5, flat(5), T);
      expect((await consume(ctx.store, id, 0, flat(8), T)).remaining).toBe(3);
      expect(await consume(ctx.store, id, 3, flat(8), T)).toMatchObject({ granted: true, remaining: 0 });
      expect((await consume(ctx.store, id, 0, flat(20), T)).remaining).toBe(12);
      expect(await consume(ctx.store, id, 1, flat(4), T)).toMatchObject({ granted: false, remaining: 0 });
      expect((await consume(ctx.store, id, 0, flat(20), T)).remaining).toBe(12);
    });

    it("keeps each token's balance separate", async () => {
      const other = makeStoredToken();
      await ctx.store.insert(other);
      await consume(ctx.store, id, 9, flat(10), T);
      expect((await consume(ctx.store, other.id, 0, flat(10), T)).remaining).toBe(10);
      expect(await consume(ctx.store, other.id, 10, flat(10), T)).toMatchObject({ granted: true, remaining: 0 });
      expect((await consume(ctx.store, id, 0, flat(10), T)).remaining).toBe(1);
    });
}

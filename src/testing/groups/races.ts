// Conformance group "races" of describeTokenStore.
import { expect, it } from "vitest";
import type { GuardedStore } from "../../store/guard.js";
import { makeStoredToken, randomHash, randomId } from "../fixtures.js";
import { callsAcross, consume, hit, type SuiteContext, T } from "../suite.js";

/** Registers the "races" tests; `ctx.store` is the store of the running test. */
export function racesGroup(ctx: SuiteContext): void {
    const settle = async <R>(n: number, f: (i: number, store: GuardedStore) => Promise<R>) => Promise.allSettled(await callsAcross(ctx, n, f));
    const fulfilled = <R>(rs: PromiseSettledResult<R>[]) =>
      rs.filter((r): r is PromiseFulfilledResult<R> => r.status === "fulfilled").map((r) => r.value);
    const codes = (rs: PromiseSettledResult<unknown>[]) =>
      rs.filter((r) => r.status === "rejected").map((r) => (r.reason as { code?: unknown }).code);

    it(`${ctx.concurrency} concurrent meter calls of 1 on a limit of ${Math.floor(ctx.concurrency / 2)} grant exactly the limit`, async () => {
      const t = makeStoredToken();
      await ctx.store.insert(t);
      const limit = Math.floor(ctx.concurrency / 2);
      const rs = await settle(ctx.concurrency, (_, store) => consume(store, t.id, 1, { limit, refill: null }, T));
      expect(codes(rs)).toEqual([]);
      const results = fulfilled(rs);
      expect(results.filter((r) => r.granted)).toHaveLength(limit);
      expect(results.every((r) => r.remaining >= 0)).toBe(true);
      expect((await consume(ctx.store, t.id, 0, { limit, refill: null }, T)).remaining).toBe(0);
    });

    it(`${ctx.concurrency} concurrent meter calls on one pool, half with a rate limit and half without, grant exactly the limit`, async () => {
      // As while a policy change adding a rate limit spreads through a fleet: a store may meter the
      // two halves differently (one statement, a transaction), from the first use of the pool on.
      const limit = Math.floor(ctx.concurrency / 2);
      const credits = { limit, refill: null };
      for (const pool of [undefined, "premium"]) {
        const t = makeStoredToken();
        await ctx.store.insert(t);
        const rs = await settle(ctx.concurrency, (i, store) =>
          store.meter({ tokenId: t.id, cost: 1, rateLimit: i % 2 ? { limit: 1e6, windowMs: 60_000 } : null, credits, pool }, T),
        );
        expect(codes(rs)).toEqual([]);
        expect(fulfilled(rs).filter((r) => r.granted)).toHaveLength(limit);
        expect((await ctx.store.meter({ tokenId: t.id, cost: 0, rateLimit: null, credits, pool }, T)).credits?.remaining).toBe(0);
      }
    });

    it("concurrent compare-and-set updates on one revision: exactly one wins", async () => {
      const n = Math.min(ctx.concurrency, 50);
      const t = makeStoredToken({ revision: 1 });
      await ctx.store.insert(t);
      const rs = await settle(n, (i, store) => store.update({ ...t, name: `writer-${i}` }, 1));
      const wins = fulfilled(rs);
      expect(wins).toHaveLength(1);
      expect(codes(rs)).toEqual(Array(n - 1).fill("REVISION_CONFLICT"));
      const stored = await ctx.store.get(t.id);
      expect(stored?.revision).toBe(2);
      expect(stored?.name).toBe(wins[0]?.name);
    });

    it("concurrent rememberNonce of one key: exactly one true", async () => {
      const n = Math.min(ctx.concurrency, 100);
      const key = { tokenId: randomId("tok"), nonce: randomId("nonce") };
      const rs = await settle(n, (_, store) => store.rememberNonce(key, T + 60_000, T));
      expect(codes(rs)).toEqual([]);
      expect(fulfilled(rs).filter((x) => x)).toHaveLength(1);
    });

    it("concurrent inserts of one id: exactly one succeeds", async () => {
      const n = Math.min(ctx.concurrency, 50);
      const id = randomId("tok");
      const ts = Array.from({ length: n }, () => makeStoredToken({ id }));
      const rs = await settle(n, (i, store) => store.insert(ts[i]!));
      expect(fulfilled(rs)).toHaveLength(1);
      expect(codes(rs)).toEqual(Array(n - 1).fill("TOKEN_ALREADY_EXISTS"));
      const winner = ts[rs.findIndex((r) => r.status === "fulfilled")]!;
      expect(await ctx.store.get(id)).toEqual(winner);
      for (const t of ts) expect(await ctx.store.findByHash(t.hash)).toEqual(t === winner ? winner : null);
    });

    it("concurrent inserts of one hash: exactly one succeeds", async () => {
      const n = Math.min(ctx.concurrency, 50);
      const hash = randomHash();
      const ts = Array.from({ length: n }, () => makeStoredToken({ hash }));
      const rs = await settle(n, (i, store) => store.insert(ts[i]!));
      expect(fulfilled(rs)).toHaveLength(1);
      expect(codes(rs)).toEqual(Array(n - 1).fill("TOKEN_ALREADY_EXISTS"));
      const winner = ts[rs.findIndex((r) => r.status === "fulfilled")]!;
      expect((await ctx.store.findByHash(hash))?.id).toBe(winner.id);
      for (const t of ts) if (t !== winner) expect(await ctx.store.get(t.id)).toBeNull();
    });

    it(`${ctx.concurrency} concurrent rate-limited meter calls on a limit of ${Math.floor(ctx.concurrency / 2)} allow exactly the limit`, async () => {
      const limit = Math.floor(ctx.concurrency / 2);
      const key = randomId("rl");
      const rs = await settle(ctx.concurrency, (_, store) => hit(store, key, limit, 60_000, T + 1));
      expect(codes(rs)).toEqual([]);
      expect(fulfilled(rs).filter((r) => r.allowed)).toHaveLength(limit);
    });

    it("a revocation never loses against a concurrent update", async () => {
      const [store, peer = store] = await ctx.stores();
      for (let round = 0; round < 10; round++) {
        const t = makeStoredToken();
        await ctx.store.insert(t);
        const update = () => peer!.update({ ...t, name: "concurrent" }, t.revision);
        const revoke = () => store!.revoke(t.id, T + 7);
        const rs = await Promise.allSettled(round % 2 ? [update(), revoke()] : [revoke(), update()]);
        const rev = rs[round % 2 ? 1 : 0]!;
        expect(rev.status).toBe("fulfilled");
        const stored = await ctx.store.get(t.id);
        expect(stored?.revokedAt).toBe(T + 7);
        expect(stored?.revision).toBe(t.revision + (rs.every((r) => r.status === "fulfilled") ? 2 : 1));
      }
    });
}

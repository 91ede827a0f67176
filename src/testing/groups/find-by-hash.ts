// Conformance group "findByHash" of describeTokenStore.
import { expect, it } from "vitest";
import { makeStoredToken, randomHash } from "../fixtures.js";
import { type SuiteContext, T } from "../suite.js";

/** Registers the "findByHash" tests; `ctx.store` is the store of the running test. */
export function findByHashGroup(ctx: SuiteContext): void {
    it("finds a token by its current hash", async () => {
      const t = makeStoredToken();
      await ctx.store.insert(t);
      expect(await ctx.store.findByHash(t.hash)).toEqual(t);
    });

    it("finds a token by each previous hash, even an expired one", async () => {
      const p1 = randomHash();
      const p2 = randomHash();
      const t = makeStoredToken({
        previous: [
          { hash: p1, expiresAt: T - 1 },
          { hash: p2, expiresAt: T + 60_000 },
        ],
      });
      await ctx.store.insert(t);
      expect(await ctx.store.findByHash(p1)).toEqual(t);
      expect(await ctx.store.findByHash(p2)).toEqual(t);
    });

    it("returns null for an unknown hash", async () => {
      await ctx.store.insert(makeStoredToken());
      expect(await ctx.store.findByHash(randomHash())).toBeNull();
    });

    it("a hash not found is found once a token takes it: an insert, or an update as current or previous hash", async () => {
      const [h1, h2, p2] = [randomHash(), randomHash(), randomHash()];
      for (const h of [h1, h2, p2]) expect(await ctx.store.findByHash(h)).toBeNull();
      const t = makeStoredToken({ hash: h1 });
      await ctx.store.insert(t);
      expect(await ctx.store.findByHash(h1)).toEqual(t);
      const saved = await ctx.store.update({ ...t, hash: h2, previous: [{ hash: p2, expiresAt: T }] }, t.revision);
      expect(await ctx.store.findByHash(h2)).toEqual(saved);
      expect(await ctx.store.findByHash(p2)).toEqual(saved);
      expect(await ctx.store.findByHash(h1)).toBeNull();
    });

    it("returns a copy: mutating it does not change the store", async () => {
      const t = makeStoredToken();
      await ctx.store.insert(t);
      const got = (await ctx.store.findByHash(t.hash))!;
      got.hash = randomHash();
      got.policy.ips.push("10.0.0.0/8");
      expect(await ctx.store.findByHash(t.hash)).toEqual(t);
    });

    it("finds revoked tokens (the caller decides)", async () => {
      const t = makeStoredToken();
      await ctx.store.insert(t);
      await ctx.store.revoke(t.id, T + 5);
      expect((await ctx.store.findByHash(t.hash))?.revokedAt).toBe(T + 5);
    });
}

// Conformance group "findByHash" of describeTokenStore.
import { expect, it } from "vitest";
import { makeStoredToken, randomHash } from "../fixtures.js";
import { type SuiteContext, T } from "../suite.js";

/** `hash` with every character after the first `kept` ones changed: another hash, same start. */
function nearMiss(hash: string, kept: number): string {
  const flip = (c: string) => (c === "0" ? "1" : "0");
  return hash.slice(0, kept) + [...hash.slice(kept)].map(flip).join("");
}

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

    it("matches the whole hash: a hash sharing all but its tail with a current or previous one finds nothing", async () => {
      const prev = randomHash();
      const t = makeStoredToken({ previous: [{ hash: prev, expiresAt: T }] });
      await ctx.store.insert(t);
      for (const h of [t.hash, prev]) {
        for (const kept of [8, 16, 32, 63]) {
          expect(await ctx.store.findByHash(nearMiss(h, kept))).toBeNull();
        }
      }
    });

    it("finds by hash only: the token's id, owner or display start finds nothing", async () => {
      const t = makeStoredToken();
      await ctx.store.insert(t);
      for (const other of [t.id, t.owner, t.start]) expect(await ctx.store.findByHash(other)).toBeNull();
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

    it("returns a copy: mutating it, nested fields included, does not change the store", async () => {
      const prev = randomHash();
      const t = makeStoredToken({ metadata: { tags: ["a"] }, previous: [{ hash: prev, expiresAt: T }] });
      await ctx.store.insert(t);
      for (const h of [t.hash, prev]) {
        const got = (await ctx.store.findByHash(h))!;
        got.hash = randomHash();
        got.policy.ips.push("10.0.0.0/8");
        got.policy.scopes.push("admin:write");
        (got.metadata.tags as string[]).push("b");
        got.previous[0]!.expiresAt = T + 1;
        expect(await ctx.store.findByHash(h)).toEqual(t);
      }
    });

    it("finds revoked tokens (the caller decides)", async () => {
      const t = makeStoredToken();
      await ctx.store.insert(t);
      await ctx.store.revoke(t.id, T + 5);
      expect((await ctx.store.findByHash(t.hash))?.revokedAt).toBe(T + 5);
    });
}

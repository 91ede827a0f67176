// Conformance group "list" of describeTokenStore.
import { expect, it } from "vitest";
import { makeStoredToken, randomHash, randomId } from "../fixtures.js";
import { listAll, type SuiteContext, T } from "../suite.js";

/** Registers the "list" tests; `ctx.store` is the store of the running test. */
export function listGroup(ctx: SuiteContext): void {
    it("returns an empty page for an owner without tokens", async () => {
      expect(await ctx.store.list(randomId("acct"))).toEqual({ items: [], nextCursor: null });
    });

    it("lists oldest first by createdAt, then id, revoked tokens included, other owners excluded", async () => {
      const owner = randomId("acct");
      const mk = (createdAt: number, idPrefix: string) =>
        makeStoredToken({ owner, createdAt, id: `tok_${idPrefix}${randomId("x").slice(2)}` });
      const expected = [mk(T, "a"), mk(T + 1, "a"), mk(T + 1, "b"), mk(T + 1, "c"), mk(T + 2, "0")];
      const shuffled = [expected[3]!, expected[0]!, expected[4]!, expected[2]!, expected[1]!];
      for (const t of shuffled) await ctx.store.insert(t);
      await ctx.store.insert(makeStoredToken({ owner: randomId("acct"), createdAt: T + 1 }));
      await ctx.store.revoke(expected[2]!.id, T + 10);
      const page = await ctx.store.list(owner);
      expect(page.items.map((t) => t.id)).toEqual(expected.map((t) => t.id));
      expect(page.items[2]?.revokedAt).toBe(T + 10);
      expect(page.items[0]).toEqual(expected[0]);
      expect(page.nextCursor).toBeNull();
    });

    it("orders the ids of one createdAt in code-unit order (keyward's base62 ids differ by case: B < Z < a < z), page by page", async () => {
      // A listing in a database's locale collation (a < B < z < Z) is in another order: compare ids as bytes ("C").
      // Ids are keyward's: ASCII letters and digits after `tok_` (a column of ASCII only holds them).
      const owner = randomId("acct");
      const stem = `tok_${randomId("x").slice(2)}`;
      const expected = ["B", "Z", "a", "z"].map((tail) => makeStoredToken({ owner, createdAt: T, id: `${stem}${tail}` }));
      for (const t of [expected[2]!, expected[3]!, expected[0]!, expected[1]!]) await ctx.store.insert(t);
      expect((await ctx.store.list(owner)).items.map((t) => t.id)).toEqual(expected.map((t) => t.id));
      expect((await listAll(ctx.store, owner, 1)).ids).toEqual(expected.map((t) => t.id));
    });

    it("paginates with limit and cursor without skipping or repeating", async () => {
      const owner = randomId("acct");
      const ts = Array.from({ length: 7 }, (_, i) => makeStoredToken({ owner, createdAt: T + i }));
      for (const t of ts) await ctx.store.insert(t);
      const seen = await listAll(ctx.store, owner, 3);
      expect(seen.ids).toEqual(ts.map((t) => t.id));
      expect(seen.pages).toBeLessThanOrEqual(4);
      const first = await ctx.store.list(owner, { limit: 3 });
      expect(first.items).toHaveLength(3);
      expect(typeof first.nextCursor).toBe("string");
    });

    it("defaults to 100 items per page", async () => {
      const owner = randomId("acct");
      for (let i = 0; i < 101; i++) await ctx.store.insert(makeStoredToken({ owner, createdAt: T + i }));
      const first = await ctx.store.list(owner);
      expect(first.items).toHaveLength(100);
      expect(first.nextCursor).not.toBeNull();
      const second = await ctx.store.list(owner, { cursor: first.nextCursor });
      expect(second.items).toHaveLength(1);
      expect(second.items[0]?.createdAt).toBe(T + 100);
    });

    it("accepts limit 1 and 1000", async () => {
      const owner = randomId("acct");
      await ctx.store.insert(makeStoredToken({ owner }));
      await ctx.store.insert(makeStoredToken({ owner, createdAt: T + 1 }));
      expect((await ctx.store.list(owner, { limit: 1 })).items).toHaveLength(1);
      expect((await ctx.store.list(owner, { limit: 1000 })).items).toHaveLength(2);
    });

    it("is stable under inserts between pages", async () => {
      const owner = randomId("acct");
      const before = Array.from({ length: 4 }, (_, i) => makeStoredToken({ owner, createdAt: T + i }));
      for (const t of before) await ctx.store.insert(t);
      const first = await ctx.store.list(owner, { limit: 2 });
      const after = Array.from({ length: 3 }, (_, i) => makeStoredToken({ owner, createdAt: T + 100 + i }));
      for (const t of after) await ctx.store.insert(t);
      const ids = first.items.map((t) => t.id);
      let cursor = first.nextCursor;
      for (let i = 0; cursor !== null && i < 10; i++) {
        const page = await ctx.store.list(owner, { limit: 2, cursor });
        ids.push(...page.items.map((t) => t.id));
        cursor = page.nextCursor;
      }
      expect(ids).toEqual([...before, ...after].map((t) => t.id));
    });

    it("returns copies: mutating them, nested fields included, does not change the store", async () => {
      const owner = randomId("acct");
      const t = makeStoredToken({ owner, metadata: { tags: ["a"] }, previous: [{ hash: randomHash(), expiresAt: T }] });
      await ctx.store.insert(t);
      const page = await ctx.store.list(owner);
      const got = page.items[0]!;
      got.name = "mutated";
      got.policy.scopes.push("admin:write");
      got.policy.ips.push("10.0.0.0/8");
      (got.metadata.tags as string[]).push("b");
      got.previous[0]!.expiresAt = T + 1;
      expect(await ctx.store.get(t.id)).toEqual(t);
      expect((await ctx.store.list(owner)).items).toEqual([t]);
    });
}

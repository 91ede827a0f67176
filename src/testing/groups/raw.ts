// Conformance group "raw" of describeTokenStore.
import { expect, it } from "vitest";
import { makeStoredToken, randomHash, randomId } from "../fixtures.js";
import { consume, expectCode, type SuiteContext, T } from "../suite.js";

/** Registers the "raw" tests; `ctx.store` is the store of the running test. */
export function rawGroup(ctx: SuiteContext): void {
    const dump = async () => (ctx.raw ? await ctx.raw(ctx.adapter) : "");

    it("writes reach the database: the dump holds the id and the hashes", async () => {
      const prev = randomHash();
      const t = makeStoredToken({ previous: [{ hash: prev, expiresAt: T }] });
      await ctx.store.insert(t);
      const text = await dump();
      for (const s of [t.id, t.hash, prev]) expect(text).toContain(s);
    });

    it("a rejected insert leaves no trace", async () => {
      const a = makeStoredToken({ previous: [{ hash: randomHash(), expiresAt: T }] });
      await ctx.store.insert(a);
      const before = await dump();
      const dupId = makeStoredToken({ id: a.id, previous: [{ hash: randomHash(), expiresAt: T }] });
      await expectCode(ctx.store.insert(dupId), "TOKEN_ALREADY_EXISTS");
      const dupPrev = makeStoredToken({ previous: [{ hash: a.previous[0]!.hash, expiresAt: T }] });
      await expectCode(ctx.store.insert(dupPrev), "TOKEN_ALREADY_EXISTS");
      const after = await dump();
      expect(after).toBe(before);
      for (const s of [dupId.hash, dupId.previous[0]!.hash, dupPrev.id, dupPrev.hash]) {
        expect(after).not.toContain(s);
      }
    });

    it("a rejected update leaves no trace", async () => {
      const a = makeStoredToken();
      const b = makeStoredToken();
      await ctx.store.insert(a);
      await ctx.store.insert(b);
      const before = await dump();
      const fresh = randomHash();
      await expectCode(ctx.store.update({ ...a, hash: fresh }, a.revision + 1), "REVISION_CONFLICT");
      await expectCode(
        ctx.store.update({ ...a, hash: fresh, previous: [{ hash: b.hash, expiresAt: T }] }, a.revision),
        "TOKEN_ALREADY_EXISTS",
      );
      await expectCode(ctx.store.update(makeStoredToken({ hash: fresh }), 1), "TOKEN_NOT_FOUND");
      await expectCode(ctx.store.revoke(randomId("tok"), T), "TOKEN_NOT_FOUND");
      const after = await dump();
      expect(after).toBe(before);
      expect(after).not.toContain(fresh);
    });

    it("rejected counters leave no trace", async () => {
      const a = makeStoredToken();
      await ctx.store.insert(a);
      await consume(ctx.store, a.id, 1, { limit: 1, refill: null }, T);
      const before = await dump();
      expect((await consume(ctx.store, a.id, 1, { limit: 1, refill: null }, T)).granted).toBe(false);
      expect(await dump()).toBe(before);
    });
}

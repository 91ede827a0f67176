// Conformance group "revoke" of describeTokenStore.
import { expect, it } from "vitest";
import { makeAuditEntry, makeStoredToken, randomHash, randomId } from "../fixtures.js";
import { expectCode, lookups, type SuiteContext, T } from "../suite.js";

/** Registers the "revoke" tests; `ctx.store` is the store of the running test. */
export function revokeGroup(ctx: SuiteContext): void {
    it("sets revokedAt, increments the revision and returns what is stored", async () => {
      const t = makeStoredToken({ revision: 2 });
      await ctx.store.insert(t);
      const r = await ctx.store.revoke(t.id, T + 500);
      expect(r.revokedAt).toBe(T + 500);
      expect(r.updatedAt).toBe(T + 500);
      expect(r.revision).toBe(3);
      expect(r.hash).toBe(t.hash);
      expect(r.name).toBe(t.name);
      expect(await ctx.store.get(t.id)).toEqual(r);
    });

    it("reads made before a revoke see it after: get and findByHash by current and previous hash", async () => {
      const prev = randomHash();
      const t = makeStoredToken({ previous: [{ hash: prev, expiresAt: T + 1 }] });
      await ctx.store.insert(t);
      expect(await lookups(ctx.store, t.id, [t.hash, prev])).toEqual([t, t, t]);
      const r = await ctx.store.revoke(t.id, T + 500);
      expect(r.revokedAt).toBe(T + 500);
      expect(await lookups(ctx.store, t.id, [t.hash, prev])).toEqual([r, r, r]);
      const again = await ctx.store.revoke(t.id, T + 600);
      expect(await lookups(ctx.store, t.id, [t.hash, prev])).toEqual([again, again, again]);
    });

    it("reads made before a revoke written through the peer (another process) see it after", async () => {
      // A cache of the adapter that only its own writes drop passes the test above, and never sees another
      // process's revocation: the verifier's bound (revocationBoundMs) assumes the store answers what is stored.
      const [store, peer = store] = await ctx.stores();
      const t = makeStoredToken();
      await store!.insert(t);
      expect(await lookups(store!, t.id, [t.hash])).toEqual([t, t]);
      const r = await peer!.revoke(t.id, T + 500);
      expect(await lookups(store!, t.id, [t.hash])).toEqual([r, r]);
    });

    it("is idempotent: a second revoke keeps the first time and still bumps the revision", async () => {
      const t = makeStoredToken({ revision: 1 });
      await ctx.store.insert(t);
      await ctx.store.revoke(t.id, T + 1);
      const again = await ctx.store.revoke(t.id, T + 2);
      expect(again.revokedAt).toBe(T + 1);
      expect(again.revision).toBe(3);
      expect((await ctx.store.get(t.id))?.revokedAt).toBe(T + 1);
    });

    it("appends the audit entry of the revoke that revokes only: of concurrent revokes, one", async () => {
      const t = makeStoredToken();
      await ctx.store.insert(t);
      const entries = [1, 2, 3].map((i) => makeAuditEntry({ tokenId: t.id, owner: t.owner, action: "revoke", changes: ["revokedAt"], at: T + i }));
      await Promise.all(entries.map((e, i) => ctx.store.revoke(t.id, T + 1 + i, e)));
      await ctx.store.revoke(t.id, T + 9, makeAuditEntry({ tokenId: t.id, owner: t.owner, action: "revoke", at: T + 9 }));
      const { items } = await ctx.store.listAudit({ tokenId: t.id });
      expect(items).toHaveLength(1);
      expect(entries).toContainEqual(items[0]);
      expect((await ctx.store.get(t.id))?.revokedAt).toBe(items[0]!.at);
    });

    it("rejects an unknown id with TOKEN_NOT_FOUND", async () => {
      await expectCode(ctx.store.revoke(randomId("tok"), T), "TOKEN_NOT_FOUND");
    });

    it("makes an update based on the revision before it conflict", async () => {
      const t = makeStoredToken();
      await ctx.store.insert(t);
      await ctx.store.revoke(t.id, T + 1);
      await expectCode(ctx.store.update({ ...t, name: "stale", revokedAt: null }, t.revision), "REVISION_CONFLICT");
      expect((await ctx.store.get(t.id))?.revokedAt).toBe(T + 1);
    });

    it("is final: an update at the current revision rejects with TOKEN_REVOKED and cannot un-revoke", async () => {
      const t = makeStoredToken();
      await ctx.store.insert(t);
      const r = await ctx.store.revoke(t.id, T + 1);
      await expectCode(ctx.store.update({ ...r, name: "back", revokedAt: null }, r.revision), "TOKEN_REVOKED");
      expect(await ctx.store.get(t.id)).toEqual(r);
    });

    it("returns a copy", async () => {
      const t = makeStoredToken();
      await ctx.store.insert(t);
      const r = await ctx.store.revoke(t.id, T + 1);
      r.revokedAt = null;
      expect((await ctx.store.get(t.id))?.revokedAt).toBe(T + 1);
    });
}

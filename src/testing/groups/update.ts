// Conformance group "update" of describeTokenStore.
import { expect, it } from "vitest";
import type { StoredToken } from "../../model/types.js";
import { makeStoredToken, makeTokenPolicy, randomHash, randomId } from "../fixtures.js";
import { DAY, deepFreeze, expectCode, HOUR, lookups, type SuiteContext, T } from "../suite.js";

/** Registers the "update" tests; `ctx.store` is the store of the running test. */
export function updateGroup(ctx: SuiteContext): void {
    it("replaces the token and increments the revision when the revision matches", async () => {
      const t = makeStoredToken({ revision: 3 });
      await ctx.store.insert(t);
      const next = { ...structuredClone(t), name: "renamed", updatedAt: T + 1, metadata: { k: "v" } };
      const stored = await ctx.store.update(next, 3);
      expect(stored).toEqual({ ...next, revision: 4 });
      expect(await ctx.store.get(t.id)).toEqual(stored);
      const again = await ctx.store.update({ ...stored, name: "again" }, 4);
      expect(again.revision).toBe(5);
    });

    it("stores every field of next: policy, scheduled revisions, signing key, previous secrets, metadata; and their removal", async () => {
      const t = makeStoredToken();
      await ctx.store.insert(t);
      const policy = makeTokenPolicy({ scopes: ["core:read", "datasets/prices:write"], ips: ["203.0.113.0/24"], expiresAt: T + DAY });
      const later = makeTokenPolicy({ scopes: ["premium:read"], credits: { limit: 10, refill: { amount: 10, intervalMs: DAY } } });
      const next: StoredToken = {
        ...structuredClone(t),
        kind: "publishable",
        policy,
        scheduled: [{ effectiveAt: T + HOUR, policy: later }],
        signing: { alg: "hmac-sha256", sealed: { kid: "k1", iv: "aXZpdml2aXZpdml2", ciphertext: "Y2lwaGVydGV4dA" } },
        previous: [{ hash: randomHash(), expiresAt: T + HOUR }],
        metadata: { plan: "pro" },
        updatedAt: T + 1,
      };
      const stored = await ctx.store.update(next, t.revision);
      expect(stored).toEqual({ ...next, revision: t.revision + 1 });
      for (const read of await lookups(ctx.store, t.id, [t.hash, next.previous[0]!.hash])) expect(read).toEqual(stored);
      // An update that drops them (the schedule applied, signing turned off) drops them.
      const cleared: StoredToken = { ...structuredClone(stored), policy: later, scheduled: [], signing: null, previous: [], metadata: {} };
      const again = await ctx.store.update(cleared, stored.revision);
      expect(again).toEqual({ ...cleared, revision: stored.revision + 1 });
      expect(await ctx.store.get(t.id)).toEqual(again);
    });

    it("reads made before an update see it after: get and findByHash by current and previous hash", async () => {
      const prev = randomHash();
      const t = makeStoredToken({ previous: [{ hash: prev, expiresAt: T + 1 }] });
      await ctx.store.insert(t);
      expect(await lookups(ctx.store, t.id, [t.hash, prev])).toEqual([t, t, t]);
      const next = {
        ...structuredClone(t),
        name: "renamed",
        metadata: { plan: "pro" },
        policy: { ...t.policy, scopes: ["core:write"] },
        disabledAt: T + 1,
        updatedAt: T + 1,
      };
      const saved = await ctx.store.update(next, t.revision);
      expect(await lookups(ctx.store, t.id, [t.hash, prev])).toEqual([saved, saved, saved]);
      const again = await ctx.store.update({ ...saved, name: "again", disabledAt: null }, saved.revision);
      expect(await lookups(ctx.store, t.id, [t.hash, prev])).toEqual([again, again, again]);
    });

    it("reads made before a rotation see it after: the new hash found, the kept one too, the dropped one not", async () => {
      const prev = randomHash();
      const t = makeStoredToken({ previous: [{ hash: prev, expiresAt: T + 1 }] });
      await ctx.store.insert(t);
      const newHash = randomHash();
      expect(await lookups(ctx.store, t.id, [t.hash, prev, newHash])).toEqual([t, t, t, null]);
      const rotated = await ctx.store.update(
        { ...t, hash: newHash, previous: [{ hash: t.hash, expiresAt: T + 60_000 }], rotatedAt: T + 1 },
        t.revision,
      );
      expect(rotated).toMatchObject({ hash: newHash, previous: [{ hash: t.hash }] });
      expect(await lookups(ctx.store, t.id, [t.hash, prev, newHash])).toEqual([rotated, rotated, null, rotated]);
    });

    it("ignores next.revokedAt: an update cannot revoke a live token", async () => {
      const t = makeStoredToken();
      await ctx.store.insert(t);
      const saved = await ctx.store.update({ ...t, name: "renamed", revokedAt: T + 5 }, t.revision);
      expect(saved).toMatchObject({ name: "renamed", revokedAt: null, revision: t.revision + 1 });
      expect(await lookups(ctx.store, t.id, [t.hash])).toEqual([saved, saved]);
      // Still live: a further update is no TOKEN_REVOKED.
      expect((await ctx.store.update({ ...saved, name: "again" }, saved.revision)).revokedAt).toBeNull();
    });

    it("keeps no reference to next: mutating it after the call changes nothing stored", async () => {
      const t = makeStoredToken({ metadata: { tags: ["a"] } });
      await ctx.store.insert(t);
      const next = structuredClone(t);
      next.name = "renamed";
      const saved = structuredClone(await ctx.store.update(next, t.revision));
      next.name = "mutated";
      next.policy.scopes.push("admin:write");
      (next.metadata.tags as string[]).push("b");
      next.previous.push({ hash: randomHash(), expiresAt: T });
      expect(await ctx.store.get(t.id)).toEqual(saved);
      expect(await ctx.store.findByHash(t.hash)).toEqual(saved);
      expect((await ctx.store.list(t.owner)).items).toEqual([saved]);
    });

    it("stores expectedRevision + 1 whatever next.revision says", async () => {
      const t = makeStoredToken({ revision: 1 });
      await ctx.store.insert(t);
      expect((await ctx.store.update({ ...t, revision: 41 }, 1)).revision).toBe(2);
      expect((await ctx.store.get(t.id))?.revision).toBe(2);
    });

    it("does not mutate its argument and returns a copy", async () => {
      const t = makeStoredToken();
      await ctx.store.insert(t);
      const next = deepFreeze({ ...structuredClone(t), name: "frozen" });
      const stored = await ctx.store.update(next, t.revision);
      stored.name = "mutated";
      stored.policy.scopes.push("x:write");
      expect((await ctx.store.get(t.id))?.name).toBe("frozen");
      expect((await ctx.store.get(t.id))?.policy.scopes).toEqual(["core:read"]);
    });

    it("rejects a stale revision with REVISION_CONFLICT and writes nothing", async () => {
      const t = makeStoredToken({ revision: 5 });
      await ctx.store.insert(t);
      const newHash = randomHash();
      for (const rev of [4, 6, 0]) {
        await expectCode(ctx.store.update({ ...t, name: "lost", hash: newHash }, rev), "REVISION_CONFLICT");
      }
      expect(await ctx.store.get(t.id)).toEqual(t);
      expect(await ctx.store.findByHash(newHash)).toBeNull();
      expect((await ctx.store.findByHash(t.hash))?.id).toBe(t.id);
    });

    it("rejects an unknown id with TOKEN_NOT_FOUND", async () => {
      const t = makeStoredToken();
      await expectCode(ctx.store.update(t, t.revision), "TOKEN_NOT_FOUND");
      expect(await ctx.store.get(t.id)).toBeNull();
      expect(await ctx.store.findByHash(t.hash)).toBeNull();
    });

    it("rejects a new hash that belongs to another token with TOKEN_ALREADY_EXISTS and writes nothing", async () => {
      const oldOfB = randomHash();
      const a = makeStoredToken();
      const b = makeStoredToken({ previous: [{ hash: oldOfB, expiresAt: T + 1000 }] });
      await ctx.store.insert(a);
      await ctx.store.insert(b);
      const cases: StoredToken[] = [
        { ...a, hash: b.hash, name: "x" },
        { ...a, hash: oldOfB, name: "x" },
        { ...a, hash: randomHash(), previous: [{ hash: a.hash, expiresAt: T }, { hash: b.hash, expiresAt: T }] },
        { ...a, previous: [{ hash: oldOfB, expiresAt: T }] },
      ];
      for (const next of cases) {
        await expectCode(ctx.store.update(next, a.revision), "TOKEN_ALREADY_EXISTS");
        expect(await ctx.store.get(a.id)).toEqual(a);
        expect(await ctx.store.get(b.id)).toEqual(b);
        expect((await ctx.store.findByHash(a.hash))?.id).toBe(a.id);
        expect((await ctx.store.findByHash(b.hash))?.id).toBe(b.id);
        expect((await ctx.store.findByHash(oldOfB))?.id).toBe(b.id);
        if (next.hash !== a.hash) expect((await ctx.store.findByHash(next.hash))?.id ?? null).not.toBe(a.id);
      }
    });

    it("rotation: the new hash and the kept previous hash both find the token", async () => {
      const t = makeStoredToken();
      await ctx.store.insert(t);
      const newHash = randomHash();
      const rotated = await ctx.store.update(
        { ...t, hash: newHash, previous: [{ hash: t.hash, expiresAt: T + 60_000 }] },
        t.revision,
      );
      expect((await ctx.store.findByHash(newHash))?.id).toBe(t.id);
      expect((await ctx.store.findByHash(t.hash))?.id).toBe(t.id);
      expect(await ctx.store.findByHash(newHash)).toEqual(rotated);
    });

    it("dropped hashes stop finding the token and become free; new hashes find it", async () => {
      const p = randomHash();
      const t = makeStoredToken({ previous: [{ hash: p, expiresAt: T + 1 }] });
      await ctx.store.insert(t);
      const h2 = randomHash();
      const p2 = randomHash();
      await ctx.store.update({ ...t, hash: h2, previous: [{ hash: p2, expiresAt: T + 2 }] }, t.revision);
      expect(await ctx.store.findByHash(t.hash)).toBeNull();
      expect(await ctx.store.findByHash(p)).toBeNull();
      expect((await ctx.store.findByHash(h2))?.id).toBe(t.id);
      expect((await ctx.store.findByHash(p2))?.id).toBe(t.id);
      const reuse = makeStoredToken({ hash: t.hash, previous: [{ hash: p, expiresAt: T }] });
      await ctx.store.insert(reuse);
      expect((await ctx.store.findByHash(t.hash))?.id).toBe(reuse.id);
    });

    it("keeping the same hashes is not a conflict", async () => {
      const t = makeStoredToken({ previous: [{ hash: randomHash(), expiresAt: T }] });
      await ctx.store.insert(t);
      await ctx.store.update({ ...t, name: "same hashes" }, t.revision);
      expect((await ctx.store.findByHash(t.previous[0]!.hash))?.name).toBe("same hashes");
    });

    it("moves the token in listings when owner or createdAt change", async () => {
      const o1 = randomId("acct");
      const o2 = randomId("acct");
      const a = makeStoredToken({ owner: o1, createdAt: T });
      const b = makeStoredToken({ owner: o1, createdAt: T + 1 });
      await ctx.store.insert(a);
      await ctx.store.insert(b);
      await ctx.store.update({ ...a, createdAt: T + 2 }, a.revision);
      expect((await ctx.store.list(o1)).items.map((t) => t.id)).toEqual([b.id, a.id]);
      await ctx.store.update({ ...b, owner: o2 }, b.revision);
      expect((await ctx.store.list(o1)).items.map((t) => t.id)).toEqual([a.id]);
      expect((await ctx.store.list(o2)).items.map((t) => t.id)).toEqual([b.id]);
    });
}

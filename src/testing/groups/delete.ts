// Conformance group "delete" of describeTokenStore: the optional hard delete.
import { expect, it } from "vitest";
import { makeAuditEntry, makeStoredToken, randomHash, randomId } from "../fixtures.js";
import { consume, expectCode, HOUR, hit, lookups, type SuiteContext, T } from "../suite.js";

/** Registers the "delete" tests; they skip themselves when `capabilities.hardDelete` is not true. */
export function deleteGroup(ctx: SuiteContext): void {
  it("announces the capability consistently; without it the guard refuses with STORE_UNSUPPORTED", async () => {
    const declared = ctx.store.capabilities.hardDelete === true;
    expect(typeof ctx.adapter.delete === "function" || !declared).toBe(true);
    if (!declared) await expectCode(ctx.store.delete(randomId("tok")), "STORE_UNSUPPORTED");
  });

  it("removes the record, every hash, credits, rate window, nonces and usage, and counts them; the audit log stays", async (test) => {
    if (ctx.store.capabilities.hardDelete !== true) return test.skip();
    const prev = randomHash();
    const t = makeStoredToken({ previous: [{ hash: prev, expiresAt: T + HOUR }] });
    const other = makeStoredToken({ owner: t.owner });
    await ctx.store.insert(t, makeAuditEntry({ tokenId: t.id, owner: t.owner, action: "create" }));
    await ctx.store.insert(other);
    await consume(ctx.store, t.id, 3, { limit: 10, refill: null }, T);
    await hit(ctx.store, t.id, 5, 60_000, T);
    await ctx.store.rememberNonce({ tokenId: t.id, nonce: "n1" }, T + HOUR, T);
    await ctx.store.rememberNonce({ tokenId: t.id, nonce: "n2" }, T + HOUR, T);
    await ctx.store.recordUsage([
      { tokenId: t.id, at: T, ok: true, cost: 3 },
      { tokenId: t.id, at: T + HOUR, ok: false, cost: 0 },
      { tokenId: other.id, at: T, ok: true, cost: 1 },
    ]);
    await consume(ctx.store, other.id, 1, { limit: 10, refill: null }, T);

    const audit = makeAuditEntry({ tokenId: t.id, owner: t.owner, at: T + 1, action: "delete", changes: ["record"] });
    const d = await ctx.store.delete(t.id, audit);
    expect(d.token).toEqual(t);
    expect(d.removed).toEqual({ hashes: 2, credits: 1, rateLimits: 1, nonces: 2, usage: 2 });
    expect(await ctx.store.get(t.id)).toBeNull();
    expect(await ctx.store.findByHash(t.hash)).toBeNull();
    expect(await ctx.store.findByHash(prev)).toBeNull();
    expect((await ctx.store.list(t.owner)).items.map((x) => x.id)).toEqual([other.id]);
    expect(await ctx.store.getUsage(t.id, { from: T, to: T + 2 * HOUR, granularity: "hour" })).toEqual([]);
    // Counters start afresh: a new balance, a fresh window, nonces usable again.
    expect((await consume(ctx.store, t.id, 0, { limit: 10, refill: null }, T)).remaining).toBe(10);
    expect((await hit(ctx.store, t.id, 5, 60_000, T)).remaining).toBe(4);
    expect(await ctx.store.rememberNonce({ tokenId: t.id, nonce: "n1" }, T + HOUR, T)).toBe(true);
    // Nothing of the other token was touched.
    expect(await ctx.store.get(other.id)).toEqual(other);
    expect(await ctx.store.getUsage(other.id, { from: T, to: T + HOUR, granularity: "hour" })).toHaveLength(1);
    expect((await consume(ctx.store, other.id, 0, { limit: 10, refill: null }, T)).remaining).toBe(9);
    const kept = (await ctx.store.listAudit({ tokenId: t.id })).items.map((e) => e.action);
    expect(kept).toEqual(["create", "delete"]);
  });

  it("reads made before a delete find nothing after it: get and findByHash by current and previous hash", async (test) => {
    if (ctx.store.capabilities.hardDelete !== true) return test.skip();
    const prev = randomHash();
    const t = makeStoredToken({ previous: [{ hash: prev, expiresAt: T + HOUR }] });
    await ctx.store.insert(t);
    expect(await lookups(ctx.store, t.id, [t.hash, prev])).toEqual([t, t, t]);
    await ctx.store.delete(t.id);
    expect(await lookups(ctx.store, t.id, [t.hash, prev])).toEqual([null, null, null]);
    expect((await ctx.store.list(t.owner)).items).toEqual([]);
  });

  it("frees the hashes: a new token may take them", async (test) => {
    if (ctx.store.capabilities.hardDelete !== true) return test.skip();
    const t = makeStoredToken();
    await ctx.store.insert(t);
    await ctx.store.delete(t.id);
    const again = makeStoredToken({ hash: t.hash });
    await ctx.store.insert(again);
    expect((await ctx.store.findByHash(t.hash))?.id).toBe(again.id);
  });

  it("rejects an unknown id with TOKEN_NOT_FOUND; a second delete too; a used audit id writes nothing", async (test) => {
    if (ctx.store.capabilities.hardDelete !== true) return test.skip();
    await expectCode(ctx.store.delete(randomId("tok")), "TOKEN_NOT_FOUND");
    const t = makeStoredToken();
    const entry = makeAuditEntry({ tokenId: t.id, owner: t.owner });
    await ctx.store.insert(t, entry);
    await expectCode(ctx.store.delete(t.id, entry), "INVALID_INPUT");
    expect(await ctx.store.get(t.id)).toEqual(t);
    await ctx.store.delete(t.id);
    await expectCode(ctx.store.delete(t.id), "TOKEN_NOT_FOUND");
  });

  it("of concurrent deletes exactly one succeeds; an update racing it never brings the record back", async (test) => {
    if (ctx.store.capabilities.hardDelete !== true) return test.skip();
    const t = makeStoredToken();
    await ctx.store.insert(t);
    const results = await Promise.allSettled([
      ...Array.from({ length: ctx.concurrency }, () => ctx.store.delete(t.id)),
      ctx.store.update({ ...t, name: "late" }, t.revision),
      ctx.store.revoke(t.id, T + 1),
    ]);
    expect(results.slice(0, ctx.concurrency).filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(await ctx.store.get(t.id)).toBeNull();
    expect(await ctx.store.findByHash(t.hash)).toBeNull();
  });
}

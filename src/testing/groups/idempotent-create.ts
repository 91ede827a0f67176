// Conformance group "idempotentCreate" of describeTokenStore: the optional insertOnce.
import { expect, it } from "vitest";
import type { StoredToken } from "../../model/types.js";
import type { CreateKey } from "../../store/types.js";
import { makeAuditEntry, makeStoredToken, randomHash, randomId } from "../fixtures.js";
import { callsAcross, expectCode, HOUR, type SuiteContext, T } from "../suite.js";

/** A SHA-256 in hex, as the request's: any 64 lowercase hex digits. */
const request = (): string => randomHash();

/** Registers the "idempotentCreate" tests; they skip themselves when `capabilities.idempotentCreate` is not true. */
export function idempotentCreateGroup(ctx: SuiteContext): void {
  const key = (overrides: Partial<CreateKey> = {}): CreateKey => ({ actor: "user:1", key: randomId("idem"), request: request(), expiresAt: T + HOUR, ...overrides });
  /** A second token of the same owner: another id and hash, as a request sent again makes. */
  const again = (t: StoredToken) => makeStoredToken({ owner: t.owner });
  const audited = (t: StoredToken) => makeAuditEntry({ tokenId: t.id, owner: t.owner, action: "create" });

  it("announces the capability consistently; without it the guard refuses with STORE_UNSUPPORTED", async () => {
    const declared = ctx.store.capabilities.idempotentCreate === true;
    expect(typeof ctx.adapter.insertOnce === "function" || !declared).toBe(true);
    if (!declared) await expectCode(ctx.store.insertOnce(makeStoredToken(), key(), T), "STORE_UNSUPPORTED");
  });

  it("inserts the token with its audit entry; the same request under the key again answers its id and writes nothing", async (test) => {
    if (ctx.store.capabilities.idempotentCreate !== true) return test.skip();
    const t = makeStoredToken();
    const k = key();
    expect(await ctx.store.insertOnce(t, k, T, audited(t))).toEqual({ tokenId: t.id, replayed: false });
    expect(await ctx.store.get(t.id)).toEqual(t);
    expect((await ctx.store.findByHash(t.hash))?.id).toBe(t.id);
    const second = again(t);
    expect(await ctx.store.insertOnce(second, k, T + HOUR - 1, audited(second))).toEqual({ tokenId: t.id, replayed: true });
    expect(await ctx.store.get(second.id)).toBeNull();
    expect(await ctx.store.findByHash(second.hash)).toBeNull();
    expect((await ctx.store.list(t.owner)).items.map((x) => x.id)).toEqual([t.id]);
    expect((await ctx.store.listAudit({ owner: t.owner })).items.map((e) => e.tokenId)).toEqual([t.id]);
  });

  it("refuses another request under the key (IDEMPOTENCY_KEY_REUSED), writing nothing", async (test) => {
    if (ctx.store.capabilities.idempotentCreate !== true) return test.skip();
    const t = makeStoredToken();
    const k = key();
    await ctx.store.insertOnce(t, k, T);
    const second = again(t);
    await expectCode(ctx.store.insertOnce(second, { ...k, request: request() }, T + 1, audited(second)), "IDEMPOTENCY_KEY_REUSED");
    expect(await ctx.store.get(second.id)).toBeNull();
    expect((await ctx.store.listAudit({ owner: t.owner })).items).toEqual([]);
    // The key still holds the first request.
    expect(await ctx.store.insertOnce(again(t), k, T + 2)).toEqual({ tokenId: t.id, replayed: true });
  });

  it("keeps keys per owner and per actor, compared as given: another owner's, actor's or case is another key", async (test) => {
    if (ctx.store.capabilities.idempotentCreate !== true) return test.skip();
    const t = makeStoredToken();
    const k = key({ key: "Order-42" });
    await ctx.store.insertOnce(t, k, T);
    const others: [StoredToken, CreateKey][] = [
      [makeStoredToken(), k],
      [again(t), { ...k, actor: "user:2" }],
      [again(t), { ...k, key: "order-42" }],
      [again(t), { ...k, key: "Order-42 " }],
      [again(t), { ...k, actor: "user:1 " }],
    ];
    for (const [other, otherKey] of others) expect(await ctx.store.insertOnce(other, otherKey, T)).toEqual({ tokenId: other.id, replayed: false });
    // Odd keys are data: quotes, a separator a store might join the three strings with, an astral character, 255 characters.
    for (const odd of ["'; DROP TABLE x; --", '"],["', "a\u0001b", "\u{1F600}", "x".repeat(255)]) {
      const u = makeStoredToken();
      expect(await ctx.store.insertOnce(u, key({ key: odd }), T)).toEqual({ tokenId: u.id, replayed: false });
      expect(await ctx.store.insertOnce(again(u), key({ key: odd, request: "0".repeat(64) }), T).catch((e: { code?: string }) => e.code)).toBe("IDEMPOTENCY_KEY_REUSED");
    }
  });

  it("forgets a key from its expiry on (expired at now ≥ expiresAt): the request then makes a new token, which the key then holds", async (test) => {
    if (ctx.store.capabilities.idempotentCreate !== true) return test.skip();
    const t = makeStoredToken();
    const k = key({ expiresAt: T + 1500 });
    await ctx.store.insertOnce(t, k, T);
    expect((await ctx.store.insertOnce(again(t), k, T + 1499)).replayed).toBe(true);
    const later = again(t);
    const renewed = { ...k, request: request(), expiresAt: T + 9000 };
    expect(await ctx.store.insertOnce(later, renewed, T + 1500)).toEqual({ tokenId: later.id, replayed: false });
    expect(await ctx.store.insertOnce(again(t), renewed, T + 8999)).toEqual({ tokenId: later.id, replayed: true });
    expect((await ctx.store.list(t.owner)).items.map((x) => x.id).sort()).toEqual([t.id, later.id].sort());
  });

  it("keeps no key when the insert fails (id or hash taken, audit id used): a retry under it inserts", async (test) => {
    if (ctx.store.capabilities.idempotentCreate !== true) return test.skip();
    const t = makeStoredToken();
    await ctx.store.insert(t, audited(t));
    const k = key();
    const used = makeAuditEntry({ id: (await ctx.store.listAudit({ tokenId: t.id })).items[0]!.id });
    const fresh = again(t);
    await expectCode(ctx.store.insertOnce({ ...again(t), id: t.id }, k, T), "TOKEN_ALREADY_EXISTS");
    await expectCode(ctx.store.insertOnce({ ...again(t), hash: t.hash }, k, T), "TOKEN_ALREADY_EXISTS");
    await expectCode(ctx.store.insertOnce(fresh, k, T, used), "INVALID_INPUT");
    expect(await ctx.store.get(fresh.id)).toBeNull();
    expect(await ctx.store.insertOnce(fresh, k, T)).toEqual({ tokenId: fresh.id, replayed: false });
  });

  it("leaves the key of a token deleted since (replayed with its id), when the store deletes", async (test) => {
    if (ctx.store.capabilities.idempotentCreate !== true || ctx.store.capabilities.hardDelete !== true) return test.skip();
    const t = makeStoredToken();
    const k = key();
    await ctx.store.insertOnce(t, k, T);
    await ctx.store.delete(t.id);
    expect(await ctx.store.insertOnce(again(t), k, T + 1)).toEqual({ tokenId: t.id, replayed: true });
  });

  it("refuses malformed keys in the guard (INVALID_INPUT), before the adapter sees them", async (test) => {
    if (ctx.store.capabilities.idempotentCreate !== true) return test.skip();
    const t = makeStoredToken();
    const bad: Partial<CreateKey>[] = [
      { key: "" },
      { key: "x".repeat(256) },
      { key: "k\u0000a" },
      { key: "k\uD800" },
      { actor: "" },
      { request: "sha" },
      { request: "A".repeat(64) },
      { expiresAt: T },
      { expiresAt: Number.NaN },
    ];
    for (const b of bad) await expectCode(ctx.store.insertOnce(t, key(b), T), "INVALID_INPUT");
    expect(await ctx.store.get(t.id)).toBeNull();
  });

  it("of concurrent calls with one key, exactly one inserts; the others answer its id", async (test) => {
    if (ctx.store.capabilities.idempotentCreate !== true) return test.skip();
    const n = Math.min(ctx.concurrency, 50);
    const owner = randomId("acct");
    const k = key();
    const tokens = Array.from({ length: n }, () => makeStoredToken({ owner }));
    const rs = await Promise.allSettled(await callsAcross(ctx, n, (i, store) => store.insertOnce(tokens[i]!, k, T, audited(tokens[i]!))));
    expect(rs.filter((r) => r.status === "rejected").map((r) => (r.reason as { code?: unknown }).code)).toEqual([]);
    const results = rs.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const inserted = results.filter((r) => !r.replayed);
    expect(inserted).toHaveLength(1);
    expect(new Set(results.map((r) => r.tokenId))).toEqual(new Set([inserted[0]!.tokenId]));
    expect((await ctx.store.list(owner)).items.map((x) => x.id)).toEqual([inserted[0]!.tokenId]);
    expect((await ctx.store.listAudit({ owner })).items).toHaveLength(1);
  });
}

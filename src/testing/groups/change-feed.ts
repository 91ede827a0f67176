// Conformance group "changeFeed" of describeTokenStore.
import { expect, it } from "vitest";
import type { StoredAccount } from "../../model/account.js";
import type { StoredToken } from "../../model/types.js";
import type { ChangeEvent } from "../../store/types.js";
import { makeStoredToken, randomHash, randomId } from "../fixtures.js";
import { expectCode, type SuiteContext, sleep, T, waitFor } from "../suite.js";

/**
 * A listener on the feed and a token inserted after it, with one previous
 * hash, once its insert was announced (the store's feed must be on).
 */
async function subscribedToNewToken(ctx: SuiteContext) {
  const events: ChangeEvent[] = [];
  const off = ctx.store.subscribe!((e) => events.push(e));
  const prev = randomHash();
  const t = makeStoredToken({ previous: [{ hash: prev, expiresAt: T + 60_000 }] });
  await ctx.store.insert(t);
  await waitFor(() => events.some((e) => e.tokenId === t.id));
  return { events, off, t, prev };
}

/** Registers the "changeFeed" tests; `ctx.store` is the store of the running test. */
export function changeFeedGroup(ctx: SuiteContext): void {
    it("announces the capability consistently", async () => {
      expect(typeof ctx.store.capabilities.changeFeed).toBe("boolean");
      if (ctx.store.capabilities.changeFeed) expect(typeof ctx.store.subscribe).toBe("function");
    });

    it("announces insert, update and revoke with every old and new hash", async (test) => {
      if (!ctx.store.capabilities.changeFeed || !ctx.store.subscribe) return test.skip();
      const events: ChangeEvent[] = [];
      const off = ctx.store.subscribe((e) => events.push(e));
      const prev = randomHash();
      const t = makeStoredToken({ previous: [{ hash: prev, expiresAt: T }] });
      await ctx.store.insert(t);
      await waitFor(() => events.some((e) => e.tokenId === t.id));
      expect(events.find((e) => e.tokenId === t.id)?.hashes).toEqual(expect.arrayContaining([t.hash, prev]));

      events.length = 0;
      const h2 = randomHash();
      const updated = await ctx.store.update({ ...t, hash: h2, previous: [{ hash: t.hash, expiresAt: T }] }, t.revision);
      await waitFor(() => events.some((e) => e.tokenId === t.id));
      expect(events.find((e) => e.tokenId === t.id)?.hashes).toEqual(expect.arrayContaining([t.hash, prev, h2]));

      events.length = 0;
      await ctx.store.revoke(t.id, T + 1);
      await waitFor(() => events.some((e) => e.tokenId === t.id));
      expect(events.find((e) => e.tokenId === t.id)?.hashes).toEqual(expect.arrayContaining([h2, t.hash]));
      expect(updated.revision).toBe(t.revision + 1);
      off();
    });

    it("announces every update, not only those that change a hash: name, policy, metadata, disable, enable", async (test) => {
      if (!ctx.store.capabilities.changeFeed || !ctx.store.subscribe) return test.skip();
      const { events, off, t, prev } = await subscribedToNewToken(ctx);
      const changes: ((cur: StoredToken) => StoredToken)[] = [
        (cur) => ({ ...cur, name: "renamed" }),
        (cur) => ({ ...cur, policy: { ...cur.policy, scopes: [] } }),
        (cur) => ({ ...cur, metadata: { plan: "free" } }),
        (cur) => ({ ...cur, disabledAt: T + 1 }),
        (cur) => ({ ...cur, disabledAt: null }),
      ];
      let cur = t;
      for (const change of changes) {
        events.length = 0;
        cur = await ctx.store.update(change(cur), cur.revision);
        await waitFor(() => events.some((e) => e.tokenId === t.id));
        expect(events.find((e) => e.tokenId === t.id)?.hashes).toEqual(expect.arrayContaining([t.hash, prev]));
      }
      off();
    });

    it("announces a hard delete with every hash the token had", async (test) => {
      if (!ctx.store.capabilities.changeFeed || !ctx.store.subscribe || ctx.store.capabilities.hardDelete !== true) {
        return test.skip();
      }
      const { events, off, t, prev } = await subscribedToNewToken(ctx);
      events.length = 0;
      await ctx.store.delete(t.id);
      await waitFor(() => events.some((e) => e.tokenId === t.id));
      expect(events.find((e) => e.tokenId === t.id)?.hashes).toEqual(expect.arrayContaining([t.hash, prev]));
      off();
    });

    it("announces every account write (putAccount) with its owner, and no token; a rejected one not at all", async (test) => {
      if (!ctx.store.capabilities.changeFeed || !ctx.store.subscribe || ctx.store.capabilities.accounts !== true) return test.skip();
      const events: ChangeEvent[] = [];
      const off = ctx.store.subscribe((e) => events.push(e));
      const owner = randomId("acct");
      const ofOwner = () => events.filter((e) => e.kind === "account" && e.owner === owner);
      const account: StoredAccount = {
        owner,
        policy: { ceiling: ["core:read"], credits: null, rateLimit: null },
        scheduled: [],
        createdAt: T,
        updatedAt: T,
        revision: 1,
      };
      await ctx.store.putAccount(account, 0);
      await waitFor(() => ofOwner().length === 1);
      // A listener that knows token events only (`tokenId`, `hashes`) drops nothing on it.
      expect(ofOwner()[0]).toEqual({ kind: "account", owner, tokenId: "", hashes: [] });
      await ctx.store.putAccount({ ...account, policy: { ...account.policy, ceiling: null }, updatedAt: T + 1 }, 1);
      await waitFor(() => ofOwner().length === 2);
      await expectCode(ctx.store.putAccount({ ...account, updatedAt: T + 2 }, 1), "REVISION_CONFLICT");
      // A later write's announcement arrives after any of the rejected one's would have.
      const t = makeStoredToken();
      await ctx.store.insert(t);
      await waitFor(() => events.some((e) => e.tokenId === t.id));
      expect(ofOwner()).toHaveLength(2);
      off();
    });

    it("stops calling a listener once unsubscribed", async (test) => {
      if (!ctx.store.capabilities.changeFeed || !ctx.store.subscribe) return test.skip();
      const gone: ChangeEvent[] = [];
      const kept: ChangeEvent[] = [];
      const off = ctx.store.subscribe((e) => gone.push(e));
      const offKept = ctx.store.subscribe((e) => kept.push(e));
      off();
      off();
      const t = makeStoredToken();
      await ctx.store.insert(t);
      await waitFor(() => kept.some((e) => e.tokenId === t.id));
      await sleep(20);
      expect(gone).toEqual([]);
      offKept();
    });

    it("survives a listener that throws", async (test) => {
      if (!ctx.store.capabilities.changeFeed || !ctx.store.subscribe) return test.skip();
      const seen: ChangeEvent[] = [];
      const offBad = ctx.store.subscribe(() => {
        throw new Error("listener failure");
      });
      const offGood = ctx.store.subscribe((e) => seen.push(e));
      const t = makeStoredToken();
      await ctx.store.insert(t);
      await ctx.store.revoke(t.id, T + 1);
      await waitFor(() => seen.filter((e) => e.tokenId === t.id).length >= 2);
      expect((await ctx.store.get(t.id))?.revokedAt).toBe(T + 1);
      offBad();
      offGood();
    });
}

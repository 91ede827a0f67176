// Conformance group "usage" of describeTokenStore.
import { beforeEach, expect, it } from "vitest";
import { makeStoredToken, randomId } from "../fixtures.js";
import { DAY, expectCode, HOUR, type SuiteContext, T } from "../suite.js";

/** Registers the "usage" tests; `ctx.store` is the store of the running test. */
export function usageGroup(ctx: SuiteContext): void {
    let id: string;
    beforeEach(async () => {
      const t = makeStoredToken();
      await ctx.store.insert(t);
      id = t.id;
      await ctx.store.recordUsage([
        { tokenId: id, at: T + 10 * 60_000, ok: true, cost: 2 },
        { tokenId: id, at: T + 20 * 60_000, ok: false, cost: 0 },
        { tokenId: id, at: T + HOUR + 5 * 60_000, ok: true, cost: 1 },
        { tokenId: id, at: T + DAY + 60_000, ok: true, cost: 3 },
      ]);
    });

    it("aggregates per UTC hour, ascending, only hours that have usage", async () => {
      expect(await ctx.store.getUsage(id, { from: T, to: T + 2 * DAY, granularity: "hour" })).toEqual([
        { start: T, allowed: 1, denied: 1, credits: 2 },
        { start: T + HOUR, allowed: 1, denied: 0, credits: 1 },
        { start: T + DAY, allowed: 1, denied: 0, credits: 3 },
      ]);
    });

    it("sums hours per UTC day", async () => {
      expect(await ctx.store.getUsage(id, { from: T, to: T + 2 * DAY, granularity: "day" })).toEqual([
        { start: T, allowed: 2, denied: 1, credits: 3 },
        { start: T + DAY, allowed: 1, denied: 0, credits: 3 },
      ]);
    });

    it("includes from and excludes to", async () => {
      const hours = await ctx.store.getUsage(id, { from: T + HOUR, to: T + DAY, granularity: "hour" });
      expect(hours.map((b) => b.start)).toEqual([T + HOUR]);
      const first = await ctx.store.getUsage(id, { from: T, to: T + HOUR, granularity: "hour" });
      expect(first.map((b) => b.start)).toEqual([T]);
      const days = await ctx.store.getUsage(id, { from: T + DAY, to: T + 2 * DAY, granularity: "day" });
      expect(days).toEqual([{ start: T + DAY, allowed: 1, denied: 0, credits: 3 }]);
      // A day bucket is a UTC day, whatever `from` is: it starts at 00:00 UTC, and holds the hours from `from` on.
      expect(await ctx.store.getUsage(id, { from: T + HOUR, to: T + DAY + HOUR, granularity: "day" })).toEqual([
        { start: T, allowed: 1, denied: 0, credits: 1 },
        { start: T + DAY, allowed: 1, denied: 0, credits: 3 },
      ]);
      expect(await ctx.store.getUsage(id, { from: T + 2 * DAY, to: T + 3 * DAY, granularity: "day" })).toEqual([]);
    });

    it("counts credits beyond 2^32 exactly, in hours and days", async () => {
      const cost = 2 ** 32 + 1;
      await ctx.store.recordUsage([
        { tokenId: id, at: T + 50 * 60_000, ok: true, cost },
        { tokenId: id, at: T + 51 * 60_000, ok: true, cost },
      ]);
      await ctx.store.recordUsage([{ tokenId: id, at: T + 52 * 60_000, ok: true, cost }]);
      expect(await ctx.store.getUsage(id, { from: T, to: T + HOUR, granularity: "hour" })).toEqual([{ start: T, allowed: 4, denied: 1, credits: 2 + 3 * cost }]);
      expect(await ctx.store.getUsage(id, { from: T, to: T + DAY, granularity: "day" })).toEqual([{ start: T, allowed: 5, denied: 1, credits: 3 + 3 * cost }]);
    });

    it("accumulates across calls and keeps tokens separate", async () => {
      const other = makeStoredToken();
      await ctx.store.insert(other);
      await ctx.store.recordUsage([
        { tokenId: id, at: T + 30 * 60_000, ok: true, cost: 5 },
        { tokenId: other.id, at: T, ok: true, cost: 1 },
      ]);
      await ctx.store.recordUsage([]);
      const hours = await ctx.store.getUsage(id, { from: T, to: T + HOUR, granularity: "hour" });
      expect(hours).toEqual([{ start: T, allowed: 2, denied: 1, credits: 7 }]);
      expect(await ctx.store.getUsage(other.id, { from: T, to: T + DAY, granularity: "day" })).toEqual([
        { start: T, allowed: 1, denied: 0, credits: 1 },
      ]);
      expect(await ctx.store.getUsage(randomId("tok"), { from: T, to: T + DAY, granularity: "hour" })).toEqual([]);
    });

    it("a batch written again under its number adds nothing (its first write's reply was lost); a later batch, or another writer's, adds", async () => {
      const owner = randomId("acct");
      const writer = randomId("w");
      const batch = [
        { tokenId: id, owner, at: T + 40 * 60_000, ok: true, cost: 4, code: "OK" },
        { tokenId: id, owner, at: T + 41 * 60_000, ok: false, cost: 0, code: "RATE_LIMITED" },
      ];
      const hour = () => ctx.store.getUsage(id, { from: T, to: T + HOUR, granularity: "hour" });
      await ctx.store.recordUsage(batch, { writer, seq: 1 });
      await ctx.store.recordUsage(batch, { writer, seq: 1 });
      // A part of it (the rest dropped: the queue had no room), and an older batch: nothing either.
      await ctx.store.recordUsage(batch.slice(0, 1), { writer, seq: 1 });
      await ctx.store.recordUsage(batch, { writer, seq: 1 });
      expect(await hour()).toEqual([{ start: T, allowed: 2, denied: 2, credits: 6 }]);
      if (ctx.store.capabilities.billing) {
        expect(await ctx.store.billingUsage({ owner, from: T, to: T + HOUR })).toEqual([{ owner, pool: "default", requests: 1, credits: 4 }]);
      }
      await ctx.store.recordUsage(batch.slice(0, 1), { writer, seq: 3 });
      await ctx.store.recordUsage(batch.slice(0, 1), { writer, seq: 2 });
      await ctx.store.recordUsage(batch.slice(0, 1), { writer: randomId("w"), seq: 1 });
      await ctx.store.recordUsage(batch.slice(0, 1));
      expect(await hour()).toEqual([{ start: T, allowed: 5, denied: 2, credits: 18 }]);
      if (ctx.store.capabilities.billing) {
        expect(await ctx.store.billingUsage({ owner, from: T, to: T + HOUR })).toEqual([{ owner, pool: "default", requests: 4, credits: 16 }]);
      }
      await expectCode(ctx.store.recordUsage(batch, { writer: "", seq: 1 }), "INVALID_INPUT");
      await expectCode(ctx.store.recordUsage(batch, { writer, seq: 0 }), "INVALID_INPUT");
      await expectCode(ctx.store.recordUsage(batch, { writer: "w".repeat(65), seq: 9 }), "INVALID_INPUT");
      expect(await hour()).toEqual([{ start: T, allowed: 5, denied: 2, credits: 18 }]);
    });

    it("a batch written several times at once (a write given up while it ran, written again beside it) adds once", async () => {
      const writer = randomId("w");
      const batch = [{ tokenId: id, owner: randomId("acct"), at: T + 40 * 60_000, ok: true, cost: 4, code: "OK" }];
      // The writer's first batch (a new writer's row), then a later one (its row advanced), each 4 times at once.
      for (const seq of [1, 2]) await Promise.all(Array.from({ length: 4 }, () => ctx.store.recordUsage(batch, { writer, seq })));
      expect(await ctx.store.getUsage(id, { from: T, to: T + HOUR, granularity: "hour" })).toEqual([{ start: T, allowed: 3, denied: 1, credits: 10 }]);
    });

  it("refuses a time it could not give back as it was (beyond ±(2^53 - 1) ms), writing nothing of its batch; a query's bounds may be any finite number", async () => {
    const tokenId = randomId("tok");
    const ok = { tokenId, at: T, ok: true, cost: 1, owner: randomId("acct"), code: "OK", scope: null };
    // A SQLite store kept the hour 2^60 as an INTEGER, which node:sqlite then refused to read: the token's usage
    // and last use answered STORE_UNAVAILABLE for good.
    for (const at of [2 ** 60, -(2 ** 60), Number.MAX_SAFE_INTEGER + 2]) await expectCode(ctx.store.recordUsage([ok, { ...ok, at }]), "INVALID_INPUT");
    expect(await ctx.store.getUsage(tokenId, { from: -(2 ** 61), to: 2 ** 61, granularity: "hour" })).toEqual([]);
    await ctx.store.recordUsage([{ ...ok, at: Number.MAX_SAFE_INTEGER }]);
    const hour = Number.MAX_SAFE_INTEGER - (Number.MAX_SAFE_INTEGER % HOUR);
    expect(await ctx.store.getUsage(tokenId, { from: 0, to: 2 ** 61, granularity: "hour" })).toEqual([{ start: hour, allowed: 1, denied: 0, credits: 1 }]);
  });

  it("refuses a usage event whose owner, scope, code or ip holds NUL or a lone surrogate, writing nothing of its batch", async () => {
    const tokenId = randomId("tok");
    const ok = { tokenId, at: T, ok: true, cost: 1, owner: randomId("acct"), code: "OK", scope: "core:read" };
    for (const bad of [
      { owner: `${randomId("acct")}\u0000x` },
      { scope: "core\u0000:read" },
      { code: "O\u0000K" },
      // A SQLite store kept "core:\uD800" and "core:\uDBFF" as one scope, "core:\uFFFD".
      { owner: `${randomId("acct")}\uD800` },
      { scope: "core:\uDBFF" },
      { code: "\uDC00OK" },
      // PostgreSQL refused the whole batch (STORE_UNAVAILABLE: retried, and refused, for good).
      { ip: "192.0.2.1\u0000" },
    ]) {
      await expectCode(ctx.store.recordUsage([ok, { ...ok, ...bad }]), "INVALID_INPUT");
    }
    expect(await ctx.store.getUsage(tokenId, { from: T, to: T + HOUR, granularity: "hour" })).toEqual([]);
  });
}

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { combineStores, Keyward, MemoryStore, type TokenStore } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { describe, expect, it } from "vitest";
import { watchEventLoop } from "../support/slow-clients.js";
import { cpuClock } from "../support/cpu.js";

const T0 = Date.UTC(2026, 0, 10, 12);

for (const [name, make] of [
  ["MemoryStore", () => new MemoryStore()],
  ["SQLite", () => sqliteStore(":memory:")],
] as const) {
  describe(`kw.usage analytics (${name})`, () => {
    it("by token or owner, filtered and grouped; top consumers; last use without a write per request", async () => {
      const store = make();
      let now = T0;
      const kw = new Keyward({ store, prefix: "acme", env: "test", now: () => now, usage: { flushIntervalMs: 60_000 } });
      const a = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"], credits: { limit: 100 } });
      const b = await kw.tokens.create({ owner: "acct_1", kind: "secret", scopes: ["core:read"], credits: { limit: 100 } });
      for (let i = 0; i < 3; i++) await kw.check({ token: a.token, scope: "core:read", cost: 5, ip: "203.0.113.7" });
      await kw.check({ token: a.token, scope: "premium:read" });
      now += 61_000;
      await kw.check({ token: b.token, scope: "core:read", cost: 20, ip: "198.51.100.2" });
      // A route that requires no scope, and one whose scope list is longer than usage keeps.
      const long = Array.from({ length: 40 }, (_, i) => `datasets/set${i}:read`);
      await kw.check({ token: b.token, cost: 0, ip: "198.51.100.2" });
      await kw.check({ token: b.token, scope: { anyOf: long }, ip: "198.51.100.2" });
      await kw.flush();

      expect(await kw.usage.get({ owner: "acct_1" }, { from: T0, to: T0 + 3_600_000, granularity: "minute" })).toEqual([
        { start: T0, allowed: 3, denied: 1, credits: 15 },
        { start: T0 + 60_000, allowed: 2, denied: 1, credits: 20 },
      ]);
      // "" is the requests that required no scope, as groupBy names them; a long scope is found by what usage keeps of it.
      const minute = { from: T0 + 60_000, to: T0 + 120_000, granularity: "minute" } as const;
      expect(await kw.usage.get(b.record.id, { ...minute, groupBy: "scope" })).toEqual([
        { start: T0 + 60_000, key: "", allowed: 1, denied: 0, credits: 0 },
        { start: T0 + 60_000, key: `anyOf(${long.join(" ")})`.slice(0, 256), allowed: 0, denied: 1, credits: 0 },
        { start: T0 + 60_000, key: "core:read", allowed: 1, denied: 0, credits: 20 },
      ]);
      expect(await kw.usage.get(b.record.id, { ...minute, scope: "" })).toEqual([{ start: T0 + 60_000, allowed: 1, denied: 0, credits: 0 }]);
      expect(await kw.usage.get(b.record.id, { ...minute, scope: `anyOf(${long.join(" ")})` })).toEqual([{ start: T0 + 60_000, allowed: 0, denied: 1, credits: 0 }]);
      expect(await kw.usage.get(a.record.id, { from: T0, to: T0 + 3_600_000, groupBy: "code" })).toEqual([
        { start: T0, key: "OK", allowed: 3, denied: 0, credits: 15 },
        { start: T0, key: "SCOPE_DENIED", allowed: 0, denied: 1, credits: 0 },
      ]);
      expect(await kw.usage.get({ owner: "acct_1" }, { from: T0, to: T0 + 3_600_000, scope: "premium:read" })).toEqual([
        { start: T0, allowed: 0, denied: 1, credits: 0 },
      ]);
      expect(await kw.usage.top("acct_1", { from: T0, to: T0 + 3_600_000 })).toEqual([
        { tokenId: b.record.id, requests: 3, allowed: 2, denied: 1, credits: 20 },
        { tokenId: a.record.id, requests: 4, allowed: 3, denied: 1, credits: 15 },
      ]);
      expect((await kw.usage.top("acct_1", { from: T0, to: T0 + 3_600_000, by: "requests", limit: 1 }))[0]?.tokenId).toBe(a.record.id);
      expect(await kw.usage.lastUsed(a.record.id)).toEqual({ at: T0, ip: "203.0.113.7" });
      expect(await kw.usage.lastUsed(b.record.id)).toEqual({ at: T0 + 61_000, ip: "198.51.100.2" });
      await kw.close();
      await store.close();
    });
  });
}

describe("kw.usage: bad input and stores without analytics", () => {
  it("refuses bad ranges, targets and options with coded errors naming the field", async () => {
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme", now: () => T0 });
    await expect(kw.usage.get({ owner: "acct_1" }, { granularity: "minute", from: T0 - 3 * 86_400_000 })).rejects.toMatchObject({ field: "from" });
    await expect(kw.usage.get({ owner: "" })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "owner" });
    await expect(kw.usage.get({ owner: "acct_1" }, { groupBy: "ip" as never })).rejects.toMatchObject({ field: "groupBy" });
    await expect(kw.usage.top("acct_1", { limit: 0 })).rejects.toMatchObject({ field: "limit" });
    await expect(kw.usage.top("acct_1", { by: "cost" as never })).rejects.toMatchObject({ field: "by" });
    // Of another name, or both targets: a misspelt filter would widen the answer, a second target would be dropped.
    await expect(kw.usage.get({ owner: "acct_1" }, { scopes: "core:read" } as never)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "options" });
    await expect(kw.usage.top("acct_1", { limt: 1 } as never)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "options" });
    await expect(kw.usage.get({ owner: "acct_1", tokenId: "tok_1" } as never)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "target" });
    await expect(kw.usage.get({ ownr: "acct_1" } as never)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "target" });
    // lastUsed is per token: an owner is refused naming what was given, not a store-internal list.
    await expect(kw.usage.lastUsed({ owner: "acct_1" } as never)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "tokenId" });
    await expect(kw.usage.lastUsed(42 as never)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "tokenId" });
    expect(await kw.usage.lastUsed({ tokenId: "tok_1" } as never)).toBeNull();
  });

  it("a store without analytics answers a token's hours and days, and STORE_UNSUPPORTED for the rest", async () => {
    const m = new MemoryStore();
    const store: TokenStore = { ...combineStores({ records: m, counters: m, usage: m }), capabilities: { changeFeed: false } };
    const kw = new Keyward({ store, prefix: "acme", now: () => T0 });
    const { token, record } = await kw.tokens.create({ owner: "acct_1", kind: "secret" });
    await kw.check({ token });
    await kw.flush();
    expect(await kw.usage.get(record.id, { from: T0, to: T0 + 1 })).toEqual([{ start: T0, allowed: 1, denied: 0, credits: 0 }]);
    await expect(kw.usage.get({ owner: "acct_1" })).rejects.toMatchObject({ code: "STORE_UNSUPPORTED", feature: "usageAnalytics" });
    await expect(kw.usage.lastUsed(record.id)).rejects.toMatchObject({ code: "STORE_UNSUPPORTED" });
  });
});

describe("kw.usage over a large volume of rows", () => {
  const MIN = 60_000;
  const DAY = 86_400_000;
  const D0 = Date.UTC(2026, 0, 1);

  it("on a SQLite file, reading 300 000 minute rows of an owner (get, top) and 150 000 of a token leaves the event loop a turn every few thousand rows", async () => {
    const dir = mkdtempSync(join(tmpdir(), "keyward-usage-"));
    const path = join(dir, "kw.db");
    const store = sqliteStore(path);
    // Two tokens of one owner, each in 150 000 minutes (about 104 days) with one row a minute,
    // written straight into the table.
    const minutes = 150_000;
    const db = new DatabaseSync(path);
    db.exec("BEGIN");
    const insert = db.prepare(
      "INSERT INTO keyward_usage_detail (token_id, owner, minute, scope, code, requests, credits) VALUES (?, 'acct_1', ?, 'core:read', ?, 2, 3)",
    );
    for (let m = 0; m < minutes; m++) for (const id of ["tok_a", "tok_b"]) insert.run(id, D0 + m * MIN, m % 10 === 0 ? "RATE_LIMITED" : "OK");
    db.exec("COMMIT");
    db.close();
    const to = D0 + minutes * MIN;
    const kw = new Keyward({ store, prefix: "acme", now: () => to });
    try {
      // Turns of the event loop during the reads, counted; and the most CPU time between two of them.
      const loop = watchEventLoop();
      const days = await kw.usage.get({ owner: "acct_1" }, { from: D0, to, granularity: "day" });
      const top = await kw.usage.top("acct_1", { from: D0, to });
      const hours = await kw.usage.get("tok_a", { from: D0, to, granularity: "hour", groupBy: "code" });
      const { turns, gap } = loop.stop();
      expect(days).toHaveLength(Math.ceil((minutes * MIN) / DAY));
      expect(days.reduce((n, d) => n + d.allowed + d.denied, 0)).toBe(2 * minutes * 2);
      expect(top).toEqual(
        ["tok_a", "tok_b"].map((tokenId) => ({ tokenId, requests: 2 * minutes, allowed: 1.8 * minutes, denied: 0.2 * minutes, credits: 3 * minutes })),
      );
      expect(hours.reduce((n, h) => n + h.credits, 0)).toBe(3 * minutes);
      // Before, each read was one synchronous statement of every row (a turn or two in all).
      expect(turns).toBeGreaterThanOrEqual((5 * minutes) / 5000);
      // The longest step costs 5-15 ms of CPU, a garbage collection included; one read of every row, far more.
      expect(gap).toBeLessThan(150);
    } finally {
      await kw.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("on MemoryStore, a day of an owner or a token reads the rows of that day, not every row of the owner or token", async () => {
    // One token of one owner, one row a minute: 50 days, then 500 000 minutes (about 347 days).
    const storeOf = async (minutes: number) => {
      const store = new MemoryStore();
      for (let m = 0; m < minutes; m += 10_000) {
        const rows = Array.from({ length: Math.min(10_000, minutes - m) }, (_, i) => ({ tokenId: "tok_a", owner: "acct_1", at: D0 + (m + i) * MIN, ok: true, cost: 1, code: "OK", scope: null }));
        await store.recordUsage(rows);
      }
      return new Keyward({ store, prefix: "acme", now: () => D0 + minutes * MIN });
    };
    // The same 100 reads of the first 50 days: their CPU time.
    const reads = async (kw: Keyward) => {
      const cpu = cpuClock();
      for (let d = 0; d < 50; d++) {
        const day = { from: D0 + d * DAY, to: D0 + (d + 1) * DAY, granularity: "day" as const };
        const bucket = { start: day.from, allowed: 1440, denied: 0, credits: 1440 };
        expect(await kw.usage.get({ owner: "acct_1" }, day)).toEqual([bucket]);
        expect(await kw.usage.get("tok_a", { ...day, granularity: "hour", groupBy: "code" })).toHaveLength(24);
      }
      return cpu();
    };
    const [small, large] = [await storeOf(50 * 1440), await storeOf(500_000)];
    // Taken in turns, the fastest of five each: neither gains from warming up first.
    let [bestSmall, bestLarge] = [Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY];
    for (let run = 0; run < 5; run++) {
      bestSmall = Math.min(bestSmall, await reads(small));
      bestLarge = Math.min(bestLarge, await reads(large));
    }
    // Reading every row of the owner, the reads of the larger store cost 6.9x as much (its rows
    // against 72 000); reading a day's 1 440, as much.
    expect(bestLarge / bestSmall).toBeLessThan(3);
  });
});

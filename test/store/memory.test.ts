import { ConfigError } from "keyward";
import { describeTokenStore, FIXTURE_TIME, makeAuditEntry, makeStoredToken } from "keyward/testing";
import { describe, expect, it } from "vitest";
import { MEMORY_STORE_SWEEP_BUDGET, MemoryStore } from "../../src/store/memory.js";
import type { ChangeEvent } from "../../src/store/types.js";

describeTokenStore("MemoryStore", () => new MemoryStore(), { raw: (s) => (s as MemoryStore).dump() });
describeTokenStore("MemoryStore without change feed", () => new MemoryStore({ changeFeed: false }));

describe("MemoryStore specifics", () => {
  const T = FIXTURE_TIME;

  it("has frozen capabilities; subscribe exists only with the change feed", () => {
    const on = new MemoryStore();
    expect(on.capabilities).toEqual({ changeFeed: true, creditLeases: false, accounts: true, usageAnalytics: true, hardDelete: true, anomalyState: true, billing: true, idempotentCreate: true });
    expect(Object.isFrozen(on.capabilities)).toBe(true);
    expect(typeof on.subscribe).toBe("function");
    const off = new MemoryStore({ changeFeed: false });
    expect(off.capabilities.changeFeed).toBe(false);
    expect("subscribe" in off).toBe(false);
  });

  it("rejects invalid options with INVALID_CONFIG", () => {
    expect(() => new MemoryStore({ changeFeed: "yes" as unknown as boolean })).toThrow(ConfigError);
    expect(() => new MemoryStore({ onListenerError: 1 as unknown as () => void })).toThrow(ConfigError);
  });

  it("calls listeners synchronously, before the write's promise settles", async () => {
    const store = new MemoryStore();
    const events: ChangeEvent[] = [];
    store.subscribe?.((e) => events.push(e));
    const t = makeStoredToken();
    const pending = store.insert(t);
    expect(events).toEqual([{ tokenId: t.id, hashes: [t.hash] }]);
    await pending;
  });

  it("reports listener errors to onListenerError and keeps going", async () => {
    const errors: unknown[] = [];
    const store = new MemoryStore({ onListenerError: (e) => errors.push(e) });
    const boom = new Error("boom");
    store.subscribe?.(() => {
      throw boom;
    });
    await store.insert(makeStoredToken());
    expect(errors).toEqual([boom]);
  });

  it("close() removes every listener", async () => {
    const store = new MemoryStore();
    const events: ChangeEvent[] = [];
    store.subscribe?.((e) => events.push(e));
    await store.close();
    await store.insert(makeStoredToken());
    expect(events).toEqual([]);
  });

  it("purges expired nonces a bounded amount per call, never live ones", async () => {
    const store = new MemoryStore();
    const key = (nonce: string) => ({ tokenId: "tok_a", nonce });
    for (let i = 0; i < 100; i++) await store.rememberNonce(key(`old-${i}`), T + 10, T);
    for (let i = 0; i < 10; i++) await store.rememberNonce(key(`live-${i}`), T + 60_000, T);
    expect(store.stats().nonces).toBe(110);
    await store.rememberNonce(key("trigger-0"), T + 60_000, T + 20);
    expect(store.stats().nonces).toBeGreaterThanOrEqual(111 - MEMORY_STORE_SWEEP_BUDGET);
    for (let i = 1; i < 20; i++) await store.rememberNonce(key(`trigger-${i}`), T + 60_000, T + 20);
    expect(store.stats().nonces).toBe(30);
    for (let i = 0; i < 10; i++) expect(await store.rememberNonce(key(`live-${i}`), T + 60_000, T + 30)).toBe(false);
  });

  it("forgets a token's nonce group once all of it expired, through other tokens' calls", async () => {
    const store = new MemoryStore();
    for (let i = 0; i < 50; i++) await store.rememberNonce({ tokenId: "tok_old", nonce: `n${i}` }, T + 10, T);
    expect(store.stats().nonces).toBe(50);
    for (let i = 0; i < 4; i++) await store.rememberNonce({ tokenId: `tok_${i}`, nonce: "n" }, T + 60_000, T + 20);
    expect(store.stats().nonces).toBe(4);
  });

  it("purges stale rate-limit keys a bounded amount per call", async () => {
    const store = new MemoryStore();
    const hit = (tokenId: string, now: number) =>
      store.meter({ tokenId, cost: 0, rateLimit: { limit: 5, windowMs: 1000 }, credits: null }, now);
    for (let i = 0; i < 50; i++) await hit(`k-${i}`, T);
    expect(store.stats().rateLimitKeys).toBe(50);
    // Empty from T + 1100 on; kept for a minute more (requests stamped earlier may still come).
    for (let i = 0; i < 32; i++) await hit("fresh", T + 61_099);
    expect(store.stats().rateLimitKeys).toBe(51);
    await hit("fresh", T + 61_100);
    expect(store.stats().rateLimitKeys).toBeGreaterThanOrEqual(49);
    for (let i = 0; i < 30; i++) await hit("fresh", T + 61_100);
    expect(store.stats().rateLimitKeys).toBe(1);
  });

  it("keeps an empty rate-limit window a minute, so a request stamped earlier still finds its hits", async () => {
    const store = new MemoryStore();
    const hit = (tokenId: string, now: number) => store.meter({ tokenId, cost: 0, rateLimit: { limit: 1, windowMs: 1000 }, credits: null }, now);
    expect((await hit("tok_a", T)).granted).toBe(true);
    // Other tokens' requests 5 s later: sweep steps over every window.
    for (let i = 0; i < 64; i++) await hit(`tok_${i}`, T + 5000);
    // Stamped before the others (taken before they were metered), tok_a's next request finds the hit at T.
    expect((await hit("tok_a", T + 500)).rateLimit).toEqual({ allowed: false, remaining: 0, retryAfterMs: 600 });
  });

  it("purges the stale windows of `rateLimits` too, and keeps a token's live ones", async () => {
    const store = new MemoryStore();
    const hit = (tokenId: string, now: number, windowMs: number) =>
      store.meter({ tokenId, cost: 0, rateLimit: null, rateLimits: [{ limit: 5, windowMs: 1000 }, { limit: 5, windowMs }], credits: null }, now);
    for (let i = 0; i < 40; i++) await hit(`k-${i}`, T, 2000 + i);
    expect(store.stats().rateLimitKeys).toBe(80);
    // A minute after they are empty, those windows are forgotten. The sweep of the 32nd call stopped after
    // the 32nd token; the 48th call (the 8th of these) goes on with the other 8 (and "fresh"),
    // the 64th starts over: a bounded step each time, not the whole map.
    for (let i = 0; i < 7; i++) await hit("fresh", T + 65_000, 60_000);
    expect(store.stats().rateLimitKeys).toBe(82);
    await hit("fresh", T + 65_000, 60_000);
    expect(store.stats().rateLimitKeys).toBe(2 + 2 * 32);
    for (let i = 8; i < 24; i++) await hit("fresh", T + 65_000, 60_000);
    expect(store.stats().rateLimitKeys).toBe(2);
    const keys = JSON.parse(store.dump()).rateLimits.map(([k]: [string]) => k);
    expect(keys).toEqual(["fresh\u001f1000ms", "fresh\u001f60000ms"]);
  });

  it("keeps each pool's balance under the store kit's key (dump), and a delete takes every one of them", async () => {
    const store = new MemoryStore();
    const credits = { limit: 10, refill: null };
    const spend = (tokenId: string, pool?: string) => store.meter({ tokenId, cost: 1, rateLimit: null, credits, ...(pool ? { pool } : {}) }, T);
    await spend("tok_a");
    await spend("tok_a", "premium");
    await spend("tok_a", "premium");
    await spend("tok_b", "premium");
    const balances = () => JSON.parse(store.dump()).credits.map(([k]: [string]) => k);
    expect(balances()).toEqual(["tok_a", "tok_a\u001fpremium", "tok_b\u001fpremium"]);
    expect((await store.meter({ tokenId: "tok_a", cost: 0, rateLimit: null, credits, pool: "premium" }, T)).credits?.remaining).toBe(8);
    await store.insert(makeStoredToken({ id: "tok_a" }));
    expect((await store.delete("tok_a")).removed.credits).toBe(2);
    expect(balances()).toEqual(["tok_b\u001fpremium"]);
  });

  it("a rate-limit hit on a known key allocates no new state (the ring is updated in place)", async () => {
    const store = new MemoryStore();
    const req = { tokenId: "tok_a", cost: 0, rateLimit: { limit: 1000, windowMs: 1000 }, credits: null };
    await store.meter(req, T);
    const before = store.dump();
    const state = JSON.parse(before).rateLimits[0][1];
    for (let i = 1; i < 50; i++) await store.meter(req, T + i * 7);
    const after = JSON.parse(store.dump()).rateLimits[0][1];
    expect(after.counts).toHaveLength(state.counts.length);
    expect(after.counts.reduce((a: number, b: number) => a + b, 0)).toBe(50);
  });

  it("getUsage keeps the hour buckets whose start is in [from, to)", async () => {
    const store = new MemoryStore();
    await store.recordUsage([
      { tokenId: "tok_1", at: T + 10 * 60_000, ok: true, cost: 1 },
      { tokenId: "tok_1", at: T + 3_600_000, ok: true, cost: 1 },
    ]);
    const mid = await store.getUsage("tok_1", { from: T + 30 * 60_000, to: T + 86_400_000, granularity: "day" });
    expect(mid).toEqual([{ start: T, allowed: 1, denied: 0, credits: 1 }]);
  });

  it("rejects a duplicate audit id", async () => {
    const store = new MemoryStore();
    const e = makeAuditEntry();
    await store.appendAudit(e);
    await expect(store.appendAudit({ ...e })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "audit.id" });
  });

  it("dump() is deterministic and holds no more than what was stored", async () => {
    const store = new MemoryStore();
    const t = makeStoredToken();
    await store.insert(t);
    expect(store.dump()).toBe(store.dump());
    expect(store.dump()).toContain(t.hash);
  });
});

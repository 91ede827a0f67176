import fc from "fast-check";
import { ConfigError, InvalidInputError } from "keyward";
import { describeTokenStore, FIXTURE_TIME, makeAuditEntry, makeStoredToken } from "keyward/testing";
import { describe, expect, it } from "vitest";
import type { StoredToken } from "../../src/model/types.js";
import { MEMORY_STORE_SWEEP_BUDGET, MemoryStore } from "../../src/store/memory.js";
import type { ChangeEvent } from "../../src/store/types.js";

describeTokenStore("MemoryStore", () => new MemoryStore(), { raw: (s) => (s as MemoryStore).dump() });
describeTokenStore("MemoryStore without change feed", () => new MemoryStore({ changeFeed: false }));

describe("MemoryStore specifics", () => {
  const T = FIXTURE_TIME;

  it("has frozen capabilities; subscribe exists only with the change feed", () => {
    const on = new MemoryStore();
    expect(on.capabilities).toEqual({ changeFeed: true });
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
    for (let i = 0; i < 100; i++) await store.rememberNonce(`old-${i}`, T + 10, T);
    for (let i = 0; i < 10; i++) await store.rememberNonce(`live-${i}`, T + 60_000, T);
    expect(store.stats().nonces).toBe(110);
    await store.rememberNonce("trigger-0", T + 60_000, T + 20);
    expect(store.stats().nonces).toBeGreaterThanOrEqual(111 - MEMORY_STORE_SWEEP_BUDGET);
    for (let i = 1; i < 20; i++) await store.rememberNonce(`trigger-${i}`, T + 60_000, T + 20);
    expect(store.stats().nonces).toBe(30);
    for (let i = 0; i < 10; i++) expect(await store.rememberNonce(`live-${i}`, T + 60_000, T + 30)).toBe(false);
  });

  it("purges stale rate-limit keys a bounded amount per call", async () => {
    const store = new MemoryStore();
    for (let i = 0; i < 50; i++) await store.hitRateLimit(`k-${i}`, 5, 1000, T);
    expect(store.stats().rateLimitKeys).toBe(50);
    await store.hitRateLimit("fresh", 5, 1000, T + 5000);
    expect(store.stats().rateLimitKeys).toBeGreaterThanOrEqual(51 - MEMORY_STORE_SWEEP_BUDGET);
    for (let i = 0; i < 10; i++) await store.hitRateLimit("fresh", 5, 1000, T + 5000);
    expect(store.stats().rateLimitKeys).toBe(1);
  });

  it("retryAfterMs is exact: denied one ms earlier, allowed at it (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.array(fc.record({ dt: fc.nat({ max: 3000 }), cost: fc.integer({ min: 0, max: 4 }) }), { maxLength: 60 }),
        async (limit, windowMs, hits) => {
          const store = new MemoryStore();
          let now = T;
          for (const { dt, cost } of hits) {
            now += dt;
            const r = await store.hitRateLimit("k", limit, windowMs, now, cost);
            expect(r.remaining).toBeGreaterThanOrEqual(0);
            if (r.allowed || cost > limit) continue;
            expect(r.retryAfterMs).toBeGreaterThanOrEqual(1);
            const early = await store.hitRateLimit("k", limit, windowMs, now + r.retryAfterMs - 1, cost);
            expect(early.allowed).toBe(false);
            now += r.retryAfterMs;
            expect((await store.hitRateLimit("k", limit, windowMs, now, cost)).allowed).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it("credits: a grant deducts exactly the cost from the balance read just before (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 50 }),
        fc.option(fc.record({ amount: fc.nat({ max: 20 }), intervalMs: fc.integer({ min: 1, max: 1000 }) })),
        fc.array(fc.record({ dt: fc.nat({ max: 700 }), cost: fc.nat({ max: 15 }) }), { maxLength: 60 }),
        async (limit, refill, ops) => {
          const store = new MemoryStore();
          const policy = { limit, refill };
          let now = T;
          for (const { dt, cost } of ops) {
            now += dt;
            const before = (await store.consumeCredits("tok", 0, policy, now)).remaining;
            const r = await store.consumeCredits("tok", cost, policy, now);
            expect(before).toBeGreaterThanOrEqual(0);
            expect(before).toBeLessThanOrEqual(limit);
            expect(r.granted).toBe(cost <= before);
            expect(r.remaining).toBe(r.granted ? before - cost : before);
          }
        },
      ),
      { numRuns: 200 },
    );
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

  it("recordUsage validates the whole batch first and writes nothing on error", async () => {
    const store = new MemoryStore();
    const bad = [
      { tokenId: "tok_1", at: T, ok: true, cost: 1 },
      { tokenId: "tok_1", at: T, ok: true, cost: -1 },
    ];
    await expect(store.recordUsage(bad)).rejects.toMatchObject({ code: "INVALID_INPUT", field: "events[1].cost" });
    expect(store.stats().usageBuckets).toBe(0);
  });

  it("rejects a duplicate audit id and a cursor of another listing", async () => {
    const store = new MemoryStore();
    const e = makeAuditEntry();
    await store.appendAudit(e);
    await expect(store.appendAudit({ ...e })).rejects.toMatchObject({ code: "INVALID_INPUT", field: "entry.id" });
    const owner = "acct_1";
    await store.insert(makeStoredToken({ owner }));
    await store.insert(makeStoredToken({ owner, createdAt: T + 1 }));
    const { nextCursor } = await store.list(owner, { limit: 1 });
    expect(nextCursor).not.toBeNull();
    await expect(store.listAudit({ owner }, { cursor: nextCursor })).rejects.toBeInstanceOf(InvalidInputError);
  });

  it("rejects invalid arguments with INVALID_INPUT", async () => {
    const store = new MemoryStore();
    const t = makeStoredToken();
    await expect(store.insert({ ...t, previous: [{ hash: 1 }] } as unknown as StoredToken)).rejects.toMatchObject({
      code: "INVALID_INPUT",
    });
    await expect(store.consumeCredits("tok", 1, { limit: -1, refill: null }, T)).rejects.toMatchObject({
      field: "policy.limit",
    });
    await expect(
      store.consumeCredits("tok", 1, { limit: 1, refill: { amount: 1, intervalMs: 0 } }, T),
    ).rejects.toMatchObject({ field: "policy.refill.intervalMs" });
    await expect(store.hitRateLimit("k", 1, 0, T)).rejects.toMatchObject({ field: "windowMs" });
    await expect(store.rememberNonce("k", Number.NaN, T)).rejects.toMatchObject({ field: "expiresAt" });
    await expect(store.update(t, 1.5)).rejects.toMatchObject({ field: "expectedRevision" });
  });

  it("dump() is deterministic and holds no more than what was stored", async () => {
    const store = new MemoryStore();
    const t = makeStoredToken();
    await store.insert(t);
    expect(store.dump()).toBe(store.dump());
    expect(store.dump()).toContain(t.hash);
  });
});

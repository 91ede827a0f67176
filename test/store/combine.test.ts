import { combineStores, guardStore, MemoryStore } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { describeTokenStore, FIXTURE_TIME, makeStoredToken } from "keyward/testing";
import { describe, expect, it } from "vitest";

// Records in SQLite, counters and usage in memory: the whole contract still holds.
describeTokenStore(
  "combineStores (SQLite records, memory counters)",
  () => {
    const counters = new MemoryStore();
    return combineStores({ records: sqliteStore(":memory:"), counters, usage: counters });
  },
  { concurrency: 100, skip: { changeFeed: "the records part (SQLite) has no change feed" } },
);

describe("combineStores", () => {
  it("takes the change feed of the records part and closes each part once", async () => {
    let closed = 0;
    class Counting extends MemoryStore {
      override async close() {
        closed++;
        await super.close();
      }
    }
    const both = new Counting();
    const store = combineStores({ records: both, counters: both, usage: new Counting() });
    expect(store.capabilities).toEqual({ changeFeed: true, creditLeases: false, accounts: true, usageAnalytics: true, anomalyState: true, billing: false, idempotentCreate: true });
    expect(typeof store.subscribe).toBe("function");
    await store.close?.();
    expect(closed).toBe(2);
    expect(combineStores({ records: sqliteStore(":memory:"), counters: both, usage: both }).capabilities.changeFeed).toBe(false);
  });

  it("creates with idempotency keys through the records part, in its transaction; a records part without insertOnce has none", async () => {
    const records = new MemoryStore();
    const counters = new MemoryStore();
    const store = guardStore(combineStores({ records, counters, usage: counters }));
    const t = makeStoredToken();
    const key = { actor: "user:1", key: "k1", request: "a".repeat(64), expiresAt: FIXTURE_TIME + 1000 };
    expect(await store.insertOnce(t, key, FIXTURE_TIME)).toEqual({ tokenId: t.id, replayed: false });
    expect(await store.insertOnce(makeStoredToken({ owner: t.owner }), key, FIXTURE_TIME)).toEqual({ tokenId: t.id, replayed: true });
    expect((await records.get(t.id))?.id).toBe(t.id);
    // Records kept by an adapter written before the part: the combined store does not claim it.
    const older = Object.fromEntries(
      ["insert", "get", "findByHash", "list", "update", "revoke", "appendAudit", "listAudit"].map((m) => [m, (records as unknown as Record<string, (...a: unknown[]) => unknown>)[m]!.bind(records)]),
    );
    const without = guardStore(combineStores({ records: older as never, counters, usage: counters }));
    expect(without.capabilities.idempotentCreate).toBe(false);
    await expect(without.insertOnce(makeStoredToken(), key, FIXTURE_TIME)).rejects.toMatchObject({ code: "STORE_UNSUPPORTED" });
  });
});

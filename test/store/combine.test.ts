import { combineStores, MemoryStore } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { describeTokenStore } from "keyward/testing";
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
    expect(store.capabilities).toEqual({ changeFeed: true, creditLeases: false, accounts: true, usageAnalytics: true, anomalyState: true, billing: false });
    expect(typeof store.subscribe).toBe("function");
    await store.close?.();
    expect(closed).toBe(2);
    expect(combineStores({ records: sqliteStore(":memory:"), counters: both, usage: both }).capabilities.changeFeed).toBe(false);
  });
});

// Usage is written in full batches however fast requests arrive: a burst of
// checks answered at once (a warm cache, a store in this process) must not
// turn into a store write per couple of requests.
import { describe, expect, it } from "vitest";
import { Keyward, MemoryStore, type UsageEvent } from "keyward";

class CountingStore extends MemoryStore {
  batches: number[] = [];
  override async recordUsage(events: readonly UsageEvent[]): Promise<void> {
    this.batches.push(events.length);
    return super.recordUsage(events);
  }
}

describe("usage batches", () => {
  it("a burst of synchronous checks is written in full batches, the rest on flush", async () => {
    const store = new CountingStore();
    const kw = new Keyward({ store, prefix: "acme", usage: { batchSize: 100, flushIntervalMs: 60_000 } });
    const { token, record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    for (let i = 0; i < 1050; i++) expect((await kw.check({ token })).ok).toBe(true);
    expect(store.batches).toEqual(Array(10).fill(100));
    await kw.flush();
    expect(store.batches).toEqual([...Array(10).fill(100), 50]);
    const [day] = await kw.usage.get(record.id, { granularity: "day" });
    expect(day?.allowed).toBe(1050);
    await kw.close();
  });

  it("with flushIntervalMs 0, every event is written without waiting for another", async () => {
    const store = new CountingStore();
    const kw = new Keyward({ store, prefix: "acme", usage: { flushIntervalMs: 0 } });
    const { token } = await kw.tokens.create({ owner: "o", kind: "secret" });
    for (let i = 0; i < 20; i++) await kw.check({ token });
    await new Promise((r) => setTimeout(r, 0));
    expect(store.batches.reduce((a, b) => a + b, 0)).toBe(20);
    expect(store.batches.length).toBeLessThan(20);
    await kw.close();
  });
});

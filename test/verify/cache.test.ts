import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Keyward, MemoryStore } from "../../src/index.js";
import { JOIN_WINDOW_MS, LookupCache, MAX_EVICTION_STEPS, SharedLookup } from "../../src/verify/cache.js";
import { PART_ENTRIES } from "../../src/lib/parted-map.js";
import { RecordInterner } from "../../src/verify/intern.js";

// The monotonic clock stands still: these tests drive time through the decision clock
// alone (a real one let a second-long stall of a loaded machine expire their entries).
const make = (maxEntries = 3, ttlMs = 1000, negativeTtlMs = 100) => new LookupCache<string>({ maxEntries, ttlMs, negativeTtlMs, clock: () => 0 });

const T_WALL = Date.UTC(2026, 0, 1);

describe("LookupCache", () => {
  it("expires positive entries after ttlMs and negative ones after negativeTtlMs, counted from the lookup start", () => {
    const c = make();
    c.set("a", "A", 0, c.generation);
    c.set("n", null, 0, c.generation);
    expect(c.get("a", 999)?.value).toBe("A");
    expect(c.get("n", 99)?.value).toBeNull();
    expect(c.get("n", 100)).toBeUndefined();
    expect(c.get("a", 1000)).toBeUndefined();
  });

  it("counts ages on the monotonic clock too: a decision clock stepped back does not stretch them", () => {
    const mono = { t: 0 };
    const c = new LookupCache<string>({ maxEntries: 3, ttlMs: 1000, negativeTtlMs: 100, clock: () => mono.t });
    c.set("a", "A", T_WALL, c.generation);
    // The decision clock stepped back an hour, and goes on from there.
    mono.t = 999;
    expect(c.get("a", T_WALL - 3_600_000)?.value).toBe("A");
    mono.t = 1000;
    expect(c.get("a", T_WALL - 3_600_000 + 1)).toBeUndefined();
  });

  it("evicts the least recently used entry first (second chance)", () => {
    const c = make(3);
    for (const k of ["a", "b", "c"]) c.set(k, k, 0, c.generation);
    c.get("a", 1); // a was used: b is now the oldest unused
    c.set("d", "d", 0, c.generation);
    expect(c.get("b", 1)).toBeUndefined();
    expect(c.get("a", 1)?.value).toBe("a");
    expect(c.size).toBe(3);
  });

  it("never grows past maxEntries (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 50 })), { maxLength: 500 }), (ops) => {
        const c = make(10);
        for (const [isGet, k] of ops) {
          if (isGet) c.get(String(k), 0);
          else c.set(String(k), String(k), 0, c.generation);
          expect(c.size).toBeLessThanOrEqual(10);
        }
      }),
    );
  });

  it("does not cache a lookup that started before an invalidation", () => {
    const c = make();
    const gen = c.generation;
    c.invalidate(["x"]);
    c.set("x", "stale", 0, gen);
    expect(c.get("x", 1)).toBeUndefined();
    c.set("x", "fresh", 0, c.generation);
    expect(c.get("x", 1)?.value).toBe("fresh");
  });

  it("clear drops every entry and makes lookups in flight uncacheable; it caches again after", () => {
    const c = make(3);
    c.set("x", "1", 0, c.generation);
    c.set("y", null, 0, c.generation);
    const gen = c.generation;
    c.clear();
    expect(c.size).toBe(0);
    expect(c.get("x", 1)).toBeUndefined();
    expect(c.get("y", 1)).toBeUndefined();
    c.set("x", "stale", 0, gen);
    expect(c.get("x", 1)).toBeUndefined();
    for (const k of ["a", "b", "c", "d"]) c.set(k, k, 0, c.generation);
    expect(c.size).toBe(3);
    expect(c.get("d", 1)?.value).toBe("d");
  });

  it("caches nothing when disabled", () => {
    const c = make(0);
    c.set("a", "A", 0, c.generation);
    expect(c.get("a", 0)).toBeUndefined();
  });

  it.each([10_000, 100_000])("pays at most MAX_EVICTION_STEPS per insertion into a full, fully hit cache of %i", (n) => {
    const c = make(n, 60_000, 60_000);
    for (let i = 0; i < n; i++) c.set(`k${i}`, "v", 0, c.generation);
    for (let i = 0; i < n; i++) c.get(`k${i}`, 1);
    // Every entry has its second-chance bit set: the worst case of CLOCK.
    const before = c.evictionSteps;
    c.set("first-miss", "v", 0, c.generation);
    expect(c.evictionSteps - before).toBeLessThanOrEqual(MAX_EVICTION_STEPS);
    const start = c.evictionSteps;
    const misses = 5_000;
    for (let i = 0; i < misses; i++) {
      const prev = c.evictionSteps;
      c.set(`miss${i}`, "v", 0, c.generation);
      expect(c.evictionSteps - prev).toBeLessThanOrEqual(MAX_EVICTION_STEPS);
    }
    expect(c.size).toBe(n);
    expect((c.evictionSteps - start) / misses).toBeLessThanOrEqual(MAX_EVICTION_STEPS);
  });

  // V8 rebuilds a Map's table in one step once enough entries were replaced:
  // split, a rebuild touches one part, not the whole cache.
  it("keeps its index in parts of a few thousand entries, however large the cache", () => {
    const n = 100_000;
    const c = make(n, 60_000, 60_000);
    const key = (i: number) => `${i.toString(16).padStart(8, "0")}${(i * 2654435761).toString(36)}`;
    for (let i = 0; i < n + 50_000; i++) c.set(key(i), "v", 0, c.generation);
    expect(c.size).toBe(n);
    expect(c.largestPart).toBeLessThanOrEqual(2 * PART_ENTRIES);
  });

  it("reuses the slots of invalidated and expired entries before evicting", () => {
    const c = make(3, 1000, 100);
    for (const k of ["a", "b", "c"]) c.set(k, k, 0, c.generation);
    c.invalidate(["b"]);
    c.set("d", "d", 0, c.generation);
    expect(c.evictionSteps).toBe(0);
    expect(c.get("a", 1)?.value).toBe("a");
    expect(c.get("c", 1)?.value).toBe("c");
    expect(c.get("a", 1000)).toBeUndefined(); // expired: its slot is freed
    c.set("e", "e", 1000, c.generation);
    expect(c.evictionSteps).toBe(0);
    expect(c.size).toBe(3);
  });
});

describe("SharedLookup", () => {
  const bounds = { maxEntries: 100, ttlMs: 10_000, negativeTtlMs: 1_000 };

  it("shares a lookup with requests that arrive within the join window only", async () => {
    const calls: ((v: string | null) => void)[] = [];
    const lookup = new SharedLookup<string>(bounds, () => new Promise((resolve) => calls.push(resolve)), 60_000);
    const first = lookup.fetch("k", 0);
    const joined = lookup.fetch("k", JOIN_WINDOW_MS);
    expect(calls).toHaveLength(1);
    // A request arriving later (say after a revocation elsewhere) starts its own lookup.
    const late = lookup.fetch("k", 1_500);
    expect(calls).toHaveLength(2);
    // The newer lookup answers first; the older one must not overwrite it in the cache.
    calls[1]!("fresh");
    expect(await late).toBe("fresh");
    calls[0]!("stale");
    expect(await first).toBe("stale");
    expect(await joined).toBe("stale");
    expect(lookup.peek("k", 1_600)?.value).toBe("fresh");
  });

  it("with a revocation bound under the join window, a request joins no lookup older than the bound (0: only one begun in the same millisecond)", async () => {
    for (const ttlMs of [0, 40]) {
      const calls: ((v: string | null) => void)[] = [];
      const lookup = new SharedLookup<string>({ maxEntries: 100, ttlMs, negativeTtlMs: 0 }, () => new Promise((resolve) => calls.push(resolve)), 60_000);
      const first = lookup.fetch("k", 1_000);
      const joined = lookup.fetch("k", 1_000 + ttlMs);
      expect(calls).toHaveLength(1);
      // A revocation elsewhere may have committed since the first lookup read: past the bound, no join.
      const late = lookup.fetch("k", 1_000 + ttlMs + 1);
      expect(calls).toHaveLength(2);
      calls[0]!("stale");
      calls[1]!("fresh");
      expect([await first, await joined, await late]).toEqual(["stale", "stale", "fresh"]);
    }
  });

  it("clear drops what is cached and in flight: a later request starts its own lookup, and the older answer is not cached", async () => {
    const calls: ((v: string | null) => void)[] = [];
    const lookup = new SharedLookup<string>(bounds, () => new Promise((resolve) => calls.push(resolve)), 60_000);
    const first = lookup.fetch("k", 0);
    lookup.clear();
    const second = lookup.fetch("k", 1);
    expect(calls).toHaveLength(2);
    calls[0]!("stale");
    expect(await first).toBe("stale");
    expect(lookup.peek("k", 2)).toBeUndefined();
    calls[1]!("fresh");
    expect(await second).toBe("fresh");
    expect(lookup.peek("k", 2)?.value).toBe("fresh");
  });
});

describe("RecordInterner: what is derived per record survives cache misses", () => {
  // Every store lookup returns a fresh copy; the verifier compiles matchers and unseals keys
  // per object, so it must hand the same objects back for the same revision and content.
  it("keeps one record per token revision and one policy object per distinct policy", async () => {
    const store = new MemoryStore();
    const kw = new Keyward({ store, prefix: "acme" });
    const a = await kw.tokens.create({ owner: "o", kind: "publishable", domains: ["*.example.com"], ips: ["10.0.0.0/8"] });
    const b = await kw.tokens.create({ owner: "o", kind: "publishable", domains: ["*.example.com"], ips: ["10.0.0.0/8"] });
    const { intern } = new RecordInterner(16);
    const first = intern(await store.get(a.record.id))!;
    const again = intern(await store.get(a.record.id))!;
    expect(again).toBe(first);
    // Another token with the same rules shares the policy object (and so its compiled matchers).
    expect(intern(await store.get(b.record.id))!.policy).toBe(first.policy);
    // A new revision is a new record; a change of rules is a new policy object.
    await kw.tokens.update(a.record.id, { name: "renamed" });
    const renamed = intern(await store.get(a.record.id))!;
    expect(renamed).not.toBe(first);
    expect(renamed.policy).toBe(first.policy);
    await kw.tokens.update(a.record.id, { ips: ["192.0.2.0/24"] }, { effectiveAt: new Date() });
    const changed = intern(await store.get(a.record.id))!;
    expect(changed.policy).not.toBe(first.policy);
    expect(changed.policy.ips).toEqual(["192.0.2.0/24"]);
  });

  it("does not take a revision number for the content: a restored store reuses revisions with other content", async () => {
    const store = new MemoryStore();
    const kw = new Keyward({ store, prefix: "acme" });
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const { intern } = new RecordInterner(16);
    const active = intern(await store.get(record.id))!;
    // Another history after a restore: the same revision number, revoked.
    const revoked = { ...structuredClone(active), revokedAt: active.updatedAt };
    const kept = intern(revoked)!;
    expect(kept).not.toBe(active);
    expect(kept.revokedAt).toBe(active.updatedAt);
    expect(intern(structuredClone(revoked))).toBe(kept);
  });

  it("decodes a row's text once, and again when the text differs under the same revision", async () => {
    const store = new MemoryStore();
    const kw = new Keyward({ store, prefix: "acme" });
    const { record } = await kw.tokens.create({ owner: "o", kind: "secret" });
    const { decode } = new RecordInterner(16);
    const text = JSON.stringify(await store.get(record.id));
    const first = decode(record.id, text);
    expect(decode(record.id, text)).toBe(first);
    const revoked = decode(record.id, JSON.stringify({ ...first, revokedAt: first.updatedAt }));
    expect(revoked).not.toBe(first);
    expect(revoked.revision).toBe(first.revision);
    expect(revoked.revokedAt).toBe(first.updatedAt);
  });
});

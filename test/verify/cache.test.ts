import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LookupCache } from "../../src/verify/cache.js";

const make = (maxEntries = 3, ttlMs = 1000, negativeTtlMs = 100) => new LookupCache<string>({ maxEntries, ttlMs, negativeTtlMs });

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

  it("caches nothing when disabled", () => {
    const c = make(0);
    c.set("a", "A", 0, c.generation);
    expect(c.get("a", 0)).toBeUndefined();
  });
});

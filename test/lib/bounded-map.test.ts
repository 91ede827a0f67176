import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BoundedMap } from "../../src/lib/bounded-map.js";
import { PART_ENTRIES } from "../../src/lib/parted-map.js";

describe("BoundedMap (the verifier's record interner, the leak receiver's answers)", () => {
  it("forgets the oldest keys first, and a key set again keeps its place", () => {
    const m = new BoundedMap<number>(3);
    for (const [i, k] of ["a", "b", "c"].entries()) m.set(k, i);
    m.set("a", 10); // held: updated in place, still the oldest
    m.set("d", 3);
    expect(m.get("a")).toBeUndefined();
    expect([m.get("b"), m.get("c"), m.get("d")]).toEqual([1, 2, 3]);
    m.set("e", 4);
    expect(m.get("b")).toBeUndefined();
    expect(m.size).toBe(3);
  });

  it("stays within its bound and in small parts under churn (property on the order; 100 000 keys)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 300 }), (keys) => {
        const m = new BoundedMap<number>(8);
        const order: string[] = []; // reference: first in, first out
        for (const k of keys) {
          const key = String(k);
          if (!order.includes(key)) {
            order.push(key);
            if (order.length > 8) order.shift();
          }
          m.set(key, k);
        }
        expect(m.size).toBe(order.length);
        for (const key of order) expect(m.get(key)).toBe(Number(key));
      }),
    );
    const big = new BoundedMap<number>(100_000);
    for (let i = 0; i < 250_000; i++) big.set(`tok_${i.toString(36)}`, i);
    expect(big.size).toBe(100_000);
    expect(big.get(`tok_${(149_999).toString(36)}`)).toBeUndefined();
    expect(big.get(`tok_${(150_000).toString(36)}`)).toBe(150_000);
    expect(big.largestPart).toBeLessThanOrEqual(2 * PART_ENTRIES);
  });
});

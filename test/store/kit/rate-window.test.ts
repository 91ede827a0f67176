import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  advanceWindow,
  bucketMsOf,
  checkHit,
  countHit,
  RATE_WINDOW_BUCKETS,
  type RateWindowState,
  windowExpired,
} from "../../../src/store/kit/rate-window.js";

const T = Date.UTC(2025, 0, 1);

/** One hit through the kit, as a store does it: check, count when allowed. */
function hit(state: RateWindowState | null, limit: number, windowMs: number, now: number, cost = 1) {
  const r = checkHit(state, windowMs, limit, now, cost);
  return { state: r.allowed ? countHit(state, windowMs, now, cost) : state, r };
}

describe("rate window", () => {
  it("cuts a window into at most 10 buckets that cover it", () => {
    for (const w of [1, 2, 9, 10, 11, 15, 99, 1000, 60_000, 86_400_001]) {
      const b = bucketMsOf(w);
      const n = Math.ceil(w / b);
      expect(n).toBeLessThanOrEqual(RATE_WINDOW_BUCKETS);
      expect(n * b).toBeGreaterThanOrEqual(w);
      expect(advanceWindow(null, w, T).counts).toHaveLength(n + 1);
    }
  });

  it("at most limit hits in ANY span of windowMs, whatever the arrivals (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.array(fc.record({ dt: fc.nat({ max: 800 }), cost: fc.integer({ min: 1, max: 3 }) }), { maxLength: 150 }),
        (limit, windowMs, hits) => {
          let state: RateWindowState | null = null;
          let now = T;
          const allowed: { at: number; cost: number }[] = [];
          for (const { dt, cost } of hits) {
            now += dt;
            const { state: s, r } = hit(state, limit, windowMs, now, cost);
            state = s;
            if (r.allowed) allowed.push({ at: now, cost });
          }
          // Every span (t - windowMs, t] that ends at an allowed hit holds at most `limit`.
          for (const end of allowed) {
            let sum = 0;
            for (const a of allowed) if (a.at > end.at - windowMs && a.at <= end.at) sum += a.cost;
            expect(sum).toBeLessThanOrEqual(limit);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("retryAfterMs is exact: denied 1 ms earlier, allowed at it (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.array(fc.record({ dt: fc.nat({ max: 3000 }), cost: fc.integer({ min: 0, max: 4 }) }), { maxLength: 60 }),
        (limit, windowMs, hits) => {
          let state: RateWindowState | null = null;
          let now = T;
          for (const { dt, cost } of hits) {
            now += dt;
            const first = hit(state, limit, windowMs, now, cost);
            state = first.state;
            expect(first.r.remaining).toBeGreaterThanOrEqual(0);
            if (first.r.allowed || cost > limit) continue;
            expect(first.r.retryAfterMs).toBeGreaterThanOrEqual(1);
            expect(hit(state, limit, windowMs, now + first.r.retryAfterMs - 1, cost).r.allowed).toBe(false);
            now += first.r.retryAfterMs;
            const later = hit(state, limit, windowMs, now, cost);
            state = later.state;
            expect(later.r.allowed).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a steady client at exactly the limit keeps at least n/(n+1) of it", () => {
    let state: RateWindowState | null = null;
    let allowed = 0;
    const limit = 100;
    for (let i = 0; i < 10_000; i++) {
      const { state: s, r } = hit(state, limit, 1000, T + i * 10);
      state = s;
      if (r.allowed) allowed++;
    }
    expect(allowed).toBeGreaterThanOrEqual(Math.floor((10_000 * RATE_WINDOW_BUCKETS) / (RATE_WINDOW_BUCKETS + 1)) - limit);
    expect(allowed).toBeLessThanOrEqual(10_000);
  });

  it("updates the state in place and starts afresh for another window length", () => {
    const { state } = hit(null, 5, 1000, T);
    const again = hit(state, 5, 1000, T + 5000).state;
    expect(again).toBe(state);
    expect(again?.counts.reduce((a, b) => a + b, 0)).toBe(1);
    const other = hit(state, 5, 2000, T + 5000).state;
    expect(other).not.toBe(state);
  });

  it("a check changes nothing, allowed or denied, whatever the order of times (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 3000 }),
        fc.array(fc.record({ at: fc.nat({ max: 10_000 }), probe: fc.boolean() }), { maxLength: 60 }),
        (limit, windowMs, steps) => {
          let state: RateWindowState | null = null;
          for (const { at, probe } of steps) {
            const before = structuredClone(state);
            const r = checkHit(state, windowMs, limit, T + at, 1);
            expect(state).toEqual(before);
            // A probe is a hit denied by something else: the counters stay as they were.
            if (r.allowed && !probe) state = countHit(state, windowMs, T + at, 1);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("answers a check like a check on the counters advanced first (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 1, max: 3000 }),
        fc.array(fc.record({ at: fc.nat({ max: 10_000 }), cost: fc.integer({ min: 0, max: 3 }) }), { maxLength: 60 }),
        (limit, windowMs, steps) => {
          let state: RateWindowState | null = null;
          for (const { at, cost } of steps) {
            const advanced = advanceWindow(structuredClone(state), windowMs, T + at);
            const r = checkHit(state, windowMs, limit, T + at, cost);
            expect(checkHit(advanced, windowMs, limit, T + at, cost)).toEqual(r);
            if (r.allowed) state = countHit(state, windowMs, T + at, cost);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("treats a clock that went back as the newest bucket", () => {
    let { state } = hit(null, 2, 1000, T + 5000);
    state = hit(state, 2, 1000, T).state;
    expect(hit(state, 2, 1000, T).r.allowed).toBe(false);
  });

  it("expires once the newest bucket has left the window", () => {
    const state = countHit(null, 1000, T, 1);
    expect(windowExpired(state, T + 1099)).toBe(false);
    expect(windowExpired(state, T + 1100)).toBe(true);
  });
});

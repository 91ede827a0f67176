// The request path's minute shortcuts (ScopeBound.scopeOf, MemoryStore.recordUsage) decide as the
// minute computed every time did: random events, near minute edges, either side of 1970 (every time
// the store guard accepts), compared with the old rule (the store kit's analyticsOf, a copy of scopeOf).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { UsageEvent } from "../../src/model/types.js";
import { OUT_OF_ORDER_MS } from "../../src/monitor/events.js";
import { OTHER_SCOPES, ScopeBound } from "../../src/monitor/scope-bound.js";
import { analyticsOf, MINUTE_MS, rollUpRows, type UsageAnalyticsQuery } from "../../src/store/kit/usage-analytics.js";
import { MemoryStore } from "../../src/store/memory.js";

/** ScopeBound.scopeOf as it was before its shortcut: the minute computed for every event. */
class OldScopeBound {
  #minute = Number.NEGATIVE_INFINITY;
  #scopes = new Map<string, Set<string>>();
  #told = false;
  constructor(readonly max: number) {}
  scopeOf(tokenId: string, at: number, scope: string | null, capped: (tokenId: string) => void): string | null {
    const minute = at - (at % MINUTE_MS);
    if (minute > this.#minute || minute < this.#minute - OUT_OF_ORDER_MS) {
      this.#minute = minute;
      this.#scopes = new Map();
      this.#told = false;
    }
    const key = scope ?? "";
    const seen = this.#scopes.get(tokenId) ?? new Set<string>();
    this.#scopes.set(tokenId, seen);
    if (seen.has(key) || seen.size < this.max) {
      seen.add(key);
      return scope;
    }
    if (!this.#told) {
      this.#told = true;
      capped(tokenId);
    }
    return OTHER_SCOPES;
  }
}

/** Times around a few minute edges, before and after 1970, a millisecond or a fraction apart. */
const base = fc.constantFrom(0, -MINUTE_MS, -3 * MINUTE_MS, 5 * MINUTE_MS, Date.UTC(2026, 0, 1), -Date.UTC(2026, 0, 1));
const time = fc.tuple(base, fc.integer({ min: -3 * MINUTE_MS, max: 3 * MINUTE_MS }), fc.constantFrom(0, 0, 0.5)).map(([b, d, f]) => b + d + f);

describe("minute shortcuts decide as the minute computed for each event", () => {
  it("ScopeBound.scopeOf: the same scopes and the same capped tokens", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.tuple(fc.constantFrom("tok_a", "tok_b"), time, fc.constantFrom("a", "b", "c", "d", null)), { maxLength: 60 }),
        (max, events) => {
          const now = new ScopeBound(max);
          const old = new OldScopeBound(max);
          const toldNow: string[] = [];
          const toldOld: string[] = [];
          for (const [id, at, scope] of events) {
            expect(now.scopeOf(id, at, scope, (t) => toldNow.push(t))).toBe(old.scopeOf(id, at, scope, (t) => toldOld.push(t)));
          }
          expect(toldNow).toEqual(toldOld);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("MemoryStore.recordUsage: the same rows as analyticsOf (what the SQL stores write)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.constantFrom("tok_a", "tok_b"), time, fc.constantFrom("a", "b"), fc.constantFrom("OK", "RATE_LIMITED")), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 1, max: 8 }),
        async (specs, batch) => {
          const events: UsageEvent[] = specs.map(([tokenId, at, scope, code]) => ({ tokenId, at, ok: code === "OK", cost: 1, owner: "acct_1", scope, code }));
          const store = new MemoryStore();
          for (let i = 0; i < events.length; i += batch) await store.recordUsage(events.slice(i, i + batch));
          const q: UsageAnalyticsQuery = { filter: { owner: "acct_1" }, from: -1e15, to: 1e15, granularity: "minute", groupBy: "token" };
          expect(await store.queryUsage(q)).toEqual(rollUpRows(analyticsOf(events).rows, q));
        },
      ),
      { numRuns: 2000 },
    );
  });
});

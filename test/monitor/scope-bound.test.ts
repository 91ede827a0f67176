// The per-minute memory of usage.maxScopesPerMinute's bound: one entry per token served in the minute.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { OTHER_SCOPES, ScopeBound } from "../../src/monitor/scope-bound.js";

const T0 = Date.UTC(2026, 0, 10, 12);
const never = () => {
  throw new Error("no token is past its bound here");
};

describe("ScopeBound", () => {
  it("holds about a Map entry per token of the minute that called one scope, not a Set each (before: ~180 bytes a token, at 1 000 000 tokens a minute 180 MB)", () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const tokens = 50_000;
    const ids = Array.from({ length: tokens }, (_, i) => `tok_${String(i).padStart(22, "0")}`);
    const bound = new ScopeBound(100);
    const settled = () => {
      for (let i = 0; i < 3; i++) gc();
      return process.memoryUsage().heapUsed;
    };
    const before = settled();
    let kept = 0;
    for (const id of ids) if (bound.scopeOf(id, T0, "core:read", never) === "core:read") kept++;
    const after = settled();
    // Both still held here (else the collection above would take them): the minute's tokens and the bound.
    expect([kept, bound.scopeOf(ids[tokens - 1]!, T0, "core:read", never)]).toEqual([tokens, "core:read"]);
    const perToken = (after - before) / tokens;
    expect(perToken).toBeLessThan(80);
    // Still each token's scopes: a second and third scope of one token are kept, then its bound holds.
    const two = new ScopeBound(2);
    const told: string[] = [];
    expect([two.scopeOf("tok_a", T0, "a", never), two.scopeOf("tok_a", T0, "a", never), two.scopeOf("tok_a", T0, "b", never)]).toEqual(["a", "a", "b"]);
    expect(two.scopeOf("tok_a", T0, "c", (id) => told.push(id))).toBe(OTHER_SCOPES);
    expect([two.scopeOf("tok_a", T0, "b", never), two.scopeOf("tok_b", T0, "c", never)]).toEqual(["b", "c"]);
    expect(told).toEqual(["tok_a"]);
    // A bound of one: the token's first scope, then (other).
    const one = new ScopeBound(1);
    expect([one.scopeOf("tok_a", T0, null, never), one.scopeOf("tok_a", T0, null, never), one.scopeOf("tok_a", T0, "a", () => {})]).toEqual([null, null, OTHER_SCOPES]);
  });

  it("a clock stepped back by more than 11 minutes starts a minute afresh: the scopes of the minute it came from do not hold the token's bound until the clock catches up (before: (other) for the hour a clock an hour ahead was set back)", () => {
    const bound = new ScopeBound(2);
    const told: string[] = [];
    const capped = (id: string) => told.push(id);
    // An hour ahead (a clock wrong at boot), then set right.
    expect([bound.scopeOf("tok_a", T0 + 3_600_000, "x", capped), bound.scopeOf("tok_a", T0 + 3_600_000, "y", capped)]).toEqual(["x", "y"]);
    expect([bound.scopeOf("tok_a", T0, "a", capped), bound.scopeOf("tok_a", T0, "b", capped)]).toEqual(["a", "b"]);
    expect(told).toEqual([]);
    // The bound holds in that minute as in any.
    expect(bound.scopeOf("tok_a", T0 + 1_000, "c", capped)).toBe(OTHER_SCOPES);
    // An event a few ms late from the minute before (decided then, queued now) counts in the current one: no new minute.
    expect(bound.scopeOf("tok_a", T0 + 60_000, "d", capped)).toBe("d");
    expect(bound.scopeOf("tok_a", T0 + 59_999, "e", capped)).toBe("e");
    expect(bound.scopeOf("tok_a", T0 + 60_001, "f", capped)).toBe(OTHER_SCOPES);
  });

  it("slow requests do not lift a token's bound: a decision made minutes before (a signed body sent slowly, up to signatures.bodyTimeoutMs) counts in the minute being counted (before: each one started a minute afresh, and fast requests between them another: 100 scopes per slow request, not per minute)", () => {
    const bound = new ScopeBound(2);
    const capped = () => {};
    const kept = new Set<string>();
    const minuteLater = T0 + 10 * 60_000;
    // Within one minute: fast requests now, and requests begun up to 10 minutes before, ending among them.
    for (let i = 0; i < 40; i++) {
      const slow = i % 2 === 1;
      const scope = bound.scopeOf("tok_a", slow ? T0 + i * 1000 : minuteLater + i * 1000, `s${i}`, capped);
      if (scope !== OTHER_SCOPES && scope !== null) kept.add(scope);
    }
    expect(kept.size).toBe(2);
  });
});

import { describe, expect, it } from "vitest";
import { HOUR_MS, hourOf, rollUpUsage } from "../../../src/store/kit/usage-buckets.js";

const T = Date.UTC(2025, 0, 1);

describe("usage buckets", () => {
  it("hourOf is the start of the UTC hour", () => {
    expect(hourOf(T + HOUR_MS + 59 * 60_000)).toBe(T + HOUR_MS);
  });

  it("keeps hours whose start is in [from, to) and sums them per UTC day, ascending", () => {
    const c = (n: number) => ({ allowed: n, denied: 1, credits: 2 * n });
    const hours: [number, ReturnType<typeof c>][] = [
      [T + 86_400_000, c(5)],
      [T, c(1)],
      [T + HOUR_MS, c(2)],
    ];
    expect(rollUpUsage(hours, { from: T + 1, to: T + 2 * 86_400_000, granularity: "day" })).toEqual([
      { start: T, allowed: 2, denied: 1, credits: 4 },
      { start: T + 86_400_000, allowed: 5, denied: 1, credits: 10 },
    ]);
    expect(rollUpUsage(hours, { from: T, to: T + HOUR_MS, granularity: "hour" })).toEqual([
      { start: T, allowed: 1, denied: 1, credits: 2 },
    ]);
  });
});

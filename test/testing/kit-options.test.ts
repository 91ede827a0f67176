// The options of describeTokenStore are checked when it is called (the timeouts it gives its tests:
// foreign-adapter.test.ts).
import { MemoryStore } from "keyward";
import { describeTokenStore } from "keyward/testing";
import { describe, expect, it } from "vitest";

describe("describeTokenStore options", () => {
  it("a timeoutMs or concurrency that is no positive integer, or an unknown group, throws when called", () => {
    for (const timeoutMs of [0, -1, 1.5, Number.NaN, "60000"]) {
      expect(() => describeTokenStore("x", () => new MemoryStore(), { timeoutMs: timeoutMs as number })).toThrow(RangeError);
    }
    expect(() => describeTokenStore("x", () => new MemoryStore(), { concurrency: 1 })).toThrow(RangeError);
    expect(() => describeTokenStore("x", () => new MemoryStore(), { skip: ["gets" as never] })).toThrow(TypeError);
  });
});

// The options of describeTokenStore: checked when it is called, and given to every test it registers.
import { MemoryStore } from "keyward";
import { describeTokenStore, TOKEN_STORE_TEST_GROUPS } from "keyward/testing";
import { describe, expect, it } from "vitest";

/** The timeouts of every test under the conformance suite of `name`, a sibling of `task`. */
function timeoutsOf(task: { suite?: { tasks: { name: string }[] } | undefined }, name: string): number[] {
  const suite = task.suite?.tasks.find((t) => t.name === `TokenStore: ${name}`);
  const timeouts: number[] = [];
  const walk = (task: unknown) => {
    const t = task as { type: string; timeout?: number; tasks?: unknown[] };
    if (t.type === "test") timeouts.push(t.timeout!);
    for (const child of t.tasks ?? []) walk(child);
  };
  walk(suite);
  return timeouts;
}

// One group each: enough to see the timeout every test gets.
const onlyGet = TOKEN_STORE_TEST_GROUPS.filter((g) => g !== "get");

describe("describeTokenStore options", () => {
  describeTokenStore("default timeout", () => new MemoryStore(), { skip: onlyGet });
  describeTokenStore("timeoutMs 90 000", () => new MemoryStore(), { skip: onlyGet, timeoutMs: 90_000 });

  it("every test of the suite gets 60 s by default (races of 1 000 calls on a loaded CI machine), or timeoutMs", ({ task }) => {
    const byDefault = timeoutsOf(task, "default timeout");
    const given = timeoutsOf(task, "timeoutMs 90 000");
    expect(byDefault.length).toBeGreaterThan(2);
    expect(new Set(byDefault)).toEqual(new Set([60_000]));
    expect(given).toHaveLength(byDefault.length);
    expect(new Set(given)).toEqual(new Set([90_000]));
  });

  it("a timeoutMs or concurrency that is no positive integer, or an unknown group, throws when called", () => {
    for (const timeoutMs of [0, -1, 1.5, Number.NaN, "60000"]) {
      expect(() => describeTokenStore("x", () => new MemoryStore(), { timeoutMs: timeoutMs as number })).toThrow(RangeError);
    }
    expect(() => describeTokenStore("x", () => new MemoryStore(), { concurrency: 1 })).toThrow(RangeError);
    expect(() => describeTokenStore("x", () => new MemoryStore(), { skip: ["gets" as never] })).toThrow(TypeError);
  });
});

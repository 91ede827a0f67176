// The conformance suite against an adapter written as a third party would write it, from
// docs/stores.md and what `keyward` exports only: asynchronous, each call a round trip,
// writes serialised by a lock held across them (test/support/latent-store.ts).
import { describeTokenStore } from "keyward/testing";
import { expect, it } from "vitest";
import { LatentStore } from "../support/latent-store.js";

describeTokenStore("LatentStore (asynchronous, records, counters and usage only)", () => new LatentStore(), {
  raw: (store) => (store as LatentStore).dump(),
  concurrency: 200,
  timeoutMs: 90_000,
});
describeTokenStore("LatentStore (1 ms a round trip)", () => new LatentStore({ latencyMs: 1 }), {
  raw: (store) => (store as LatentStore).dump(),
  concurrency: 20,
});

/** The timeouts of every test of the conformance suite named `name`, registered in this file. */
function timeoutsOf(file: { tasks: unknown[] }, name: string): number[] {
  const timeouts: number[] = [];
  const walk = (task: unknown) => {
    const t = task as { type: string; timeout?: number; tasks?: unknown[] };
    if (t.type === "test") timeouts.push(t.timeout!);
    for (const child of t.tasks ?? []) walk(child);
  };
  walk(file.tasks.find((t) => (t as { name: string }).name === `TokenStore: ${name}`));
  return timeouts;
}

it("every test of a suite gets timeoutMs, or 60 s by default (races of 1 000 calls on a loaded CI machine)", ({ task }) => {
  const given = timeoutsOf(task.file, "LatentStore (asynchronous, records, counters and usage only)");
  const byDefault = timeoutsOf(task.file, "LatentStore (1 ms a round trip)");
  expect(given.length).toBeGreaterThan(100);
  expect(new Set(given)).toEqual(new Set([90_000]));
  expect(byDefault).toHaveLength(given.length);
  expect(new Set(byDefault)).toEqual(new Set([60_000]));
});

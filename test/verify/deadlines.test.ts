// The deadlines of the request path's store calls where a timer dies with the
// request that armed it (a Cloudflare Worker: test/workerd runs the real one).
import { afterEach, expect, it, vi } from "vitest";

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
  vi.resetModules();
});

it("in a Worker, a call whose own timer was dropped with its request (cancelled mid-lookup) is abandoned by a later call, not kept for ever", async () => {
  vi.stubGlobal("navigator", { userAgent: "Cloudflare-Workers" });
  vi.resetModules();
  const { Deadlines, Waiting } = await import("../../src/verify/deadlines.js");
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance"] });
  const abandoned: InstanceType<typeof Waiting>[] = [];
  const deadlines = new Deadlines(50, (e) => abandoned.push(e));
  const cut = new Waiting();
  deadlines.add(cut);
  // The request was cancelled: the runtime drops its timers, and its lookup never answers.
  vi.clearAllTimers();
  vi.advanceTimersByTime(5_000);
  const next = new Waiting();
  deadlines.add(next);
  expect(abandoned).toEqual([cut]);
  expect(deadlines.waiting).toBe(1);
  // The later call's own timer still abandons it at its deadline.
  vi.advanceTimersByTime(50);
  expect(abandoned).toEqual([cut, next]);
  expect(deadlines.waiting).toBe(0);
});

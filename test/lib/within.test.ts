// answerWithin: an answer that came by the time the late answer would be made wins, and then the
// caller's lateError (which may have side effects: a late failure's report, a credit lease marked
// unanswered) is not called at all.
import { describe, expect, it } from "vitest";
import { answerWithin } from "../../src/lib/within.js";

/** Blocks the thread for `ms`: every timer due by then fires in one turn of the event loop. */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
}

describe("answerWithin", () => {
  it.each([["resolves"], ["rejects"]])("a call that %s in the turn its deadline's timer fires wins, and lateError is not called", async (how) => {
    let lateCalls = 0;
    // Due 5 ms after answerWithin's timer: both fire in the turn after the block, the deadline's first.
    const call = new Promise<string>((resolve, reject) => setTimeout(() => (how === "resolves" ? resolve("answer") : reject(new Error("failed"))), 25));
    const result = answerWithin(call, 20, "a call", () => {
      lateCalls++;
      return new Error("late");
    }).then(
      (value) => ({ value }),
      (error: Error) => ({ error: error.message }),
    );
    block(60);
    expect(await result).toEqual(how === "resolves" ? { value: "answer" } : { error: "failed" });
    await new Promise((r) => setTimeout(r, 10));
    expect(lateCalls).toBe(0);
  });

  it("a call that never answers: lateError's error, once", async () => {
    let lateCalls = 0;
    const result = answerWithin(new Promise<never>(() => {}), 10, "a call", () => {
      lateCalls++;
      return new Error("late");
    }).catch((error: Error) => error.message);
    expect(await result).toBe("late");
    expect(lateCalls).toBe(1);
  });
});

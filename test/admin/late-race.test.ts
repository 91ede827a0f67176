// A call that fails as its storeTimeoutMs runs out, in the turn of the event loop the timer fires in
// (its answer came first: it wins, as answerWithin says): it is reported once, as what it was, never
// a second time as a failure "after the answer".
import { describe, expect, it } from "vitest";
import { type AdminErrorContext, createAdminHandler } from "../../src/admin/index.js";
import { Keyward, MemoryStore } from "../../src/index.js";

/** Blocks the thread for `ms`: every timer due by then fires in one turn of the event loop. */
function block(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
}

describe("a failure that comes in the turn its deadline passes", () => {
  it("authorize rejecting just after the deadline's timer fired, before the late answer: one report, not a late one too", async () => {
    const reported: { message: string; context: AdminErrorContext }[] = [];
    const kw = new Keyward({ store: new MemoryStore(), prefix: "acme" });
    const handler = createAdminHandler({
      keyward: kw,
      // Its timer is due 5 ms after the handler's: both fire in the turn after the block below, the handler's first.
      authorize: () => new Promise((_, reject) => setTimeout(() => reject(new Error("session store: connection refused")), 55)),
      storeTimeoutMs: 50,
      onError: (error, context) => {
        reported.push({ message: (error as Error).message, context });
      },
    });
    const answer = handler(new Request("http://admin.test/tokens"));
    block(120);
    const res = await answer;
    await new Promise((r) => setTimeout(r, 50));
    // The rejection came before the answer was made: it is the answer (500), reported once.
    expect(res.status).toBe(500);
    expect(reported).toEqual([{ message: "session store: connection refused", context: { operation: "tokens.list", method: "GET", status: 500, code: "INTERNAL_ERROR" } }]);
    await kw.close();
  });
});

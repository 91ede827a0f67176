// A SQLite store's request-path wait blocks the thread: the verifier's lookupTimeoutMs, whose clock starts only
// once the synchronous call returns, cannot cut it off. A Keyward whose lookupTimeoutMs does not exceed the
// store's requestBusyTimeoutMs says so through onWarning, as it does of a very wide trusted proxy block.
import { Keyward } from "keyward";
import type { ConfigWarning } from "keyward/policy";
import { sqliteStore } from "keyward/sqlite";
import { describe, expect, it } from "vitest";

function warningsOf(requestBusyTimeoutMs: number | undefined, lookupTimeoutMs: number | undefined): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  const store = sqliteStore(":memory:", requestBusyTimeoutMs === undefined ? {} : { requestBusyTimeoutMs });
  const kw = new Keyward({ store, prefix: "acme", onWarning: (w) => warnings.push(w), ...(lookupTimeoutMs !== undefined && { lookupTimeoutMs }) });
  void kw.close();
  return warnings;
}

describe("a SQLite store whose request-path wait lookupTimeoutMs cannot cut off", () => {
  it("warns once (STORE_WAIT_EXCEEDS_LOOKUP_TIMEOUT, field lookupTimeoutMs) when requestBusyTimeoutMs is at or above lookupTimeoutMs", () => {
    for (const [busy, lookup] of [
      [2_000, undefined],
      [500, 500],
      [5_000, 1_000],
    ] as const) {
      const warnings = warningsOf(busy, lookup);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatchObject({ code: "STORE_WAIT_EXCEEDS_LOOKUP_TIMEOUT", field: "lookupTimeoutMs" });
      expect(warnings[0]!.message).toContain(`requestBusyTimeoutMs (${busy} ms)`);
      expect(warnings[0]!.message).toContain(`lookupTimeoutMs (${lookup ?? 2_000} ms)`);
    }
  });

  it("says nothing when the wait is below lookupTimeoutMs (the defaults: 100 ms and 2 000 ms)", () => {
    expect(warningsOf(undefined, undefined)).toEqual([]);
    expect(warningsOf(499, 500)).toEqual([]);
  });

  it("the store tells its blocking wait through capabilities.blockingWaitMs", () => {
    expect(sqliteStore(":memory:", { requestBusyTimeoutMs: 250 }).capabilities.blockingWaitMs).toBe(250);
  });
});

// keyward/testing exports each conformance group on its own, as describe-token-store.ts says.
import * as testing from "keyward/testing";
import { describe, expect, it } from "vitest";

describe("keyward/testing exports", () => {
  it("every group of TOKEN_STORE_TEST_GROUPS, as <name>Group", () => {
    const missing = testing.TOKEN_STORE_TEST_GROUPS.filter((g) => typeof (testing as Record<string, unknown>)[`${g}Group`] !== "function");
    expect(missing).toEqual([]);
  });
});

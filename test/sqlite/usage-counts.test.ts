// Usage counted exactly by several instances on one SQLite file, over restarts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sqliteStore } from "keyward/sqlite";
import { describe, it } from "vitest";
import { countUsageAcrossRestarts } from "../support/usage-counts.js";

describe("usage counts on SQLite", () => {
  it("3 instances on one file, 4 concurrent callers each, 3 restarts: every request and credit counted once, per hour and per minute", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kw-usage-counts-"));
    try {
      const path = join(dir, "usage.db");
      await countUsageAcrossRestarts(async () => {
        const store = sqliteStore(path);
        return { store, close: () => store.close() };
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

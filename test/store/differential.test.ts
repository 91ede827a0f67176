// MemoryStore and SQLite (a real file, node:sqlite) side by side on random
// sequences of metering and admin operations through `Keyward`: every
// answer and every balance must agree (see test/support/differential.ts).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { MemoryStore } from "keyward";
import { sqliteStore } from "keyward/sqlite";
import { afterAll, describe, it } from "vitest";
import { runDifferential, runs } from "../support/differential.js";

const dir = mkdtempSync(join(tmpdir(), "keyward-differential-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

// More runs for a deeper search: DIFF_RUNS=2000 npx vitest run <this file>.
const RUNS = Number(process.env.DIFF_RUNS ?? 80);

describe("MemoryStore and SQLite meter alike", () => {
  it("on random sequences of checks, limits, top-ups, resets, policy changes, regenerations and clock moves (property)", async () => {
    const stores = [
      { name: "MemoryStore", open: async () => new MemoryStore() },
      { name: "SqliteStore", open: async () => sqliteStore(join(dir, `db-${n++}.sqlite`)) },
    ];
    await fc.assert(
      fc.asyncProperty(runs(40), (run) => runDifferential(stores, run)),
      { numRuns: RUNS },
    );
  }, 20_000 + RUNS * 300);
});

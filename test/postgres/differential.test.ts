// MemoryStore and PostgreSQL (with and without credit leases) side by side on
// random sequences of metering and admin operations through `Keyward`: every
// answer and every balance must agree (see test/support/differential.ts).
// Fewer runs than SQLite's: each run opens fresh tables (a table prefix of its own).
import fc from "fast-check";
import { MemoryStore } from "keyward";
import { postgresStore } from "keyward/postgres";
import { describe, it } from "vitest";
import { runDifferential, runs } from "../support/differential.js";
import { freshPrefix, hasPostgres, testPool } from "./server.js";

// More runs for a deeper search: DIFF_RUNS=500 bash .ci/postgres.sh npx vitest run <this file>.
const RUNS = Number(process.env.DIFF_RUNS ?? 25);

describe.runIf(hasPostgres)("MemoryStore and PostgreSQL meter alike", () => {
  const pool = testPool({ max: 4 });

  it("on random sequences of checks, limits, top-ups, resets, policy changes, regenerations and clock moves (property)", async () => {
    const stores = [
      { name: "MemoryStore", open: async () => new MemoryStore() },
      { name: "PostgresStore", open: () => postgresStore(pool, { tablePrefix: freshPrefix(), changeFeed: false }) },
      {
        name: "PostgresStore (credit leases)",
        open: () => postgresStore(pool, { tablePrefix: freshPrefix(), changeFeed: false, creditLeases: true }),
        holdsBlocks: true,
      },
    ];
    await fc.assert(
      fc.asyncProperty(runs(30), (run) => runDifferential(stores, run)),
      { numRuns: RUNS },
    );
  }, 60_000 + RUNS * 3_000);
});

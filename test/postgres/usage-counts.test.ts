// Usage counted exactly by several instances on one PostgreSQL database, each on its own pool, over restarts.
import { postgresStore } from "keyward/postgres";
import { describe, it } from "vitest";
import { countUsageAcrossRestarts } from "../support/usage-counts.js";
import { freshPrefix, hasPostgres, openPool } from "./server.js";

describe.runIf(hasPostgres)("usage counts on PostgreSQL", () => {
  it("3 instances on their own pools, 4 concurrent callers each, 3 restarts: every request and credit counted once, per hour and per minute", async () => {
    const tablePrefix = freshPrefix();
    await countUsageAcrossRestarts(async () => {
      const pool = openPool();
      const store = await postgresStore(pool, { tablePrefix, requestLockTimeoutMs: 30_000 });
      return {
        store,
        close: async () => {
          await store.close();
          await pool.end();
        },
      };
    });
  }, 120_000); // 40 s under load (3 busy processes besides the suite)
});

// One token's credits metered by PostgresStore's two paths at once: the
// one-statement flat spend (no rate limit, no refill), which takes only the
// credit row's lock, and the transaction under the token's advisory lock (a
// rate limit, a refill, a named pool with several limits, an account), as
// while a policy change spreads through a fleet. Neither overwrites the
// other's spend, from the pool's first use on. (The many-call race is in the
// conformance suite's "races" group.)
import { guardStore } from "keyward";
import { postgresStore } from "keyward/postgres";
import { describe, expect, it } from "vitest";
import { freshPrefix, hasPostgres, testPool } from "./server.js";

const T = Date.UTC(2025, 0, 1);

describe.runIf(hasPostgres)("PostgreSQL metering paths on one pool", () => {
  const pool = testPool({ max: 20 });

  async function waitUntil(predicate: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!(await predicate())) {
      if (Date.now() > deadline) throw new Error("timed out");
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  it.each([
    ["the token's own counters", undefined, undefined],
    ["a named pool", "premium", undefined],
    ["several rate limits", undefined, [{ limit: 1e6, windowMs: 1000 }]],
  ])("a first use by the transaction (%s) and a flat spend at once: one grant on a limit of 1", async (_, creditPool, rateLimits) => {
    const prefix = freshPrefix();
    const store = guardStore(await postgresStore(pool, { tablePrefix: prefix, changeFeed: false }));
    const tokenId = "tok_first_use";
    const credits = { limit: 1, refill: null };
    const rateLimit = { limit: 1e6, windowMs: 60_000 };
    // A rate-limit row and no credit row yet.
    await store.meter({ tokenId, cost: 0, rateLimit, credits: null }, T);
    // Hold the rate-limit row, so the transaction stops at its write, after its read found no credit row.
    const holder = await pool.connect();
    await holder.query("BEGIN");
    await holder.query(`SELECT 1 FROM ${prefix}rate_limits WHERE token_id = $1 FOR UPDATE`, [tokenId]);
    const waiting = async () =>
      Number(
        (
          await pool.query(
            `SELECT count(*) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1 AND pid <> pg_backend_pid()`,
            [`%${prefix}%`],
          )
        ).rows[0].n,
      );
    const viaTransaction = store.meter({ tokenId, cost: 1, rateLimit, credits, pool: creditPool, rateLimits }, T);
    await waitUntil(async () => (await waiting()) === 1);
    let flatDone = false;
    const flat = store.meter({ tokenId, cost: 1, rateLimit: null, credits, pool: creditPool }, T).finally(() => {
      flatDone = true;
    });
    // The flat spend either finishes or waits for the transaction's row.
    await waitUntil(async () => flatDone || (await waiting()) === 2);
    await holder.query("COMMIT");
    holder.release();
    const results = await Promise.all([viaTransaction, flat]);
    expect(results.filter((r) => r.granted)).toHaveLength(1);
    const after = await store.meter({ tokenId, cost: 0, rateLimit: null, credits, pool: creditPool }, T);
    expect(after.credits?.remaining).toBe(0);
    await store.close();
  });
});

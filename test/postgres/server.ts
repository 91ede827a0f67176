// The PostgreSQL server of the tests: KEYWARD_PG_URL, set by
// `bash .ci/postgres.sh <command>` (which starts a throwaway server). Without
// it the PostgreSQL tests skip with the reason printed, except under CI=true,
// where a missing server is a failure.
import pg from "pg";
import { afterAll } from "vitest";

export const PG_URL = process.env.KEYWARD_PG_URL;

if (!PG_URL) {
  if (process.env.CI === "true") throw new Error("CI=true but KEYWARD_PG_URL is unset: run the tests under bash .ci/postgres.sh");
  console.warn("PostgreSQL tests skipped: KEYWARD_PG_URL is unset (run: bash .ci/postgres.sh npx vitest run test/postgres)");
}

/** Whether the PostgreSQL tests run (`describe.runIf(hasPostgres)`). */
export const hasPostgres = PG_URL !== undefined && PG_URL !== "";

let n = 0;
/** A table prefix no other test uses: each store gets its own tables and NOTIFY channel. */
export const freshPrefix = () => `kw${process.pid}_${n++}_${Math.random().toString(36).slice(2, 8)}_`;

/** A pool on the test server; end it yourself. */
export function openPool(config: pg.PoolConfig = {}): pg.Pool {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 10, statement_timeout: 5_000, ...config });
  pool.on("error", () => {}); // an idle connection cut by a test
  return pool;
}

/** A pool on the test server, ended after the file's tests (call it while collecting, not inside a test). */
export function testPool(config: pg.PoolConfig = {}): pg.Pool {
  const pool = openPool(config);
  afterAll(() => pool.end());
  return pool;
}

/**
 * Resolves once a statement waits on a lock held by a transaction whose last
 * statement named a table of `prefix`: a test's race has reached the wait it
 * is about (a fixed sleep could end before it, and the test pass without the
 * race). Throws after `ms`.
 */
export async function lockWaitOn(pool: pg.Pool, prefix: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const { rows } = await pool.query(
      `SELECT count(*)::int AS n FROM pg_stat_activity w
        WHERE w.wait_event_type = 'Lock'
          AND EXISTS (SELECT 1 FROM pg_stat_activity h WHERE h.pid = ANY (pg_blocking_pids(w.pid)) AND strpos(h.query, $1) > 0)`,
      [prefix],
    );
    if (rows[0].n > 0) return;
    if (Date.now() > deadline) throw new Error(`no statement waited on a lock of ${prefix} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

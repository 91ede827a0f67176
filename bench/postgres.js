// PostgreSQL: keyward's checks next to the raw pg driver running the same
// single statement on the same pool in the same run, 1 and 16 requests in
// flight. Needs a server: run `bash .ci/postgres.sh npm run bench` (it starts
// a throwaway one and sets KEYWARD_PG_URL); skipped without it.
import { hash } from "node:crypto";
import pg from "pg";
import { Keyward, MAX_CREDIT_BALANCE } from "../dist/index.js";
import { postgresStore } from "../dist/postgres.js";
import { medianTable } from "./store.js";

export async function benchPostgres({ ms }) {
  const url = process.env.KEYWARD_PG_URL;
  if (!url) {
    console.log("### PostgreSQL\n\nskipped: KEYWARD_PG_URL is unset (run `bash .ci/postgres.sh npm run bench`)\n");
    return;
  }
  const pool = new pg.Pool({ connectionString: url, max: 16 });
  const tablePrefix = `bench_${process.pid}_`;
  const store = await postgresStore(pool, { tablePrefix });
  const leasing = await postgresStore(pool, { tablePrefix, changeFeed: false, creditLeases: true });
  const cold = new Keyward({ store, prefix: "acme", cache: { maxEntries: 0 } });
  const leased = new Keyward({ store: leasing, prefix: "acme" });
  const warm = new Keyward({ store, prefix: "acme" });
  const { token } = await cold.tokens.create({ owner: "acct_1", kind: "secret" });
  const { token: limited, record } = await warm.tokens.create({ owner: "acct_1", kind: "secret", credits: { limit: MAX_CREDIT_BALANCE } });
  await warm.check({ token: limited }); // creates the credits row
  const hashed = hash("sha256", token, "hex");
  // The statements postgresStore runs (src/postgres/statements.ts).
  const lookup = `SELECT t.record FROM ${tablePrefix}hashes h JOIN ${tablePrefix}tokens t ON t.id = h.token_id WHERE h.hash = $1`;
  const spend = `INSERT INTO ${tablePrefix}credits (token_id, used, period_start) SELECT $1, $2::float8, $3::float8 WHERE $2::float8 <= $4::float8
    ON CONFLICT (token_id) DO UPDATE SET used = ${tablePrefix}credits.used + excluded.used,
      period_start = COALESCE(${tablePrefix}credits.period_start, excluded.period_start)
    WHERE ${tablePrefix}credits.used + excluded.used <= $4::float8 RETURNING used`;
  const max = MAX_CREDIT_BALANCE;
  for (const inFlight of [1, 16]) {
    const n = (fn) => (inFlight === 1 ? fn : () => Promise.all(Array.from({ length: inFlight }, fn)));
    await medianTable(
      `PostgreSQL 127.0.0.1, ${inFlight} in flight${inFlight > 1 ? " (ops/s are batches of 16 per second)" : ""}`,
      [
        { name: "raw pg: the findByHash statement (pool.query)", fn: n(() => pool.query(lookup, [hashed])), short: "raw" },
        { name: "kw.check, cold (cache off, usage on)", fn: n(() => cold.check({ token })), vs: 0 },
        { name: "kw.check, warm (cached lookup, usage on)", fn: n(() => warm.check({ token })), vs: 0 },
        { name: "raw pg: the guarded credit upsert … RETURNING", fn: n(() => pool.query(spend, [record.id, 1, Date.now(), max])) },
        { name: "kw.check, metered (credits, warm cache, usage on)", fn: n(() => warm.check({ token: limited })), vs: 3 },
        { name: "kw.check, metered with credit leases (one hot token)", fn: n(() => leased.check({ token: limited })), vs: 3 },
      ],
      { ms },
    );
  }
  await cold.close();
  await warm.close();
  await leased.close();
  await leasing.close();
  await store.close();
  for (const t of ["migrations", "tokens", "hashes", "audit", "credits", "rate_limits", "nonces", "usage"]) {
    await pool.query(`DROP TABLE IF EXISTS ${tablePrefix}${t}`);
  }
  await pool.end();
}

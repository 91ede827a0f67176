// kw.billing on a real PostgreSQL server: exports, runs billed once, concurrent runs;
// pages of the sums read through the primary key, in the database's collation.
import { Keyward, type TokenStore } from "keyward";
import { postgresStore } from "keyward/postgres";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { statements } from "../../src/postgres/statements.js";
import { tableNames } from "../../src/store/sql/schema.js";
import { describeBilling } from "../support/billing-suite.js";
import { freshPrefix, hasPostgres, openPool, PG_URL, testPool } from "./server.js";

const NOV = Date.UTC(2026, 10, 1);
const DEC = Date.UTC(2026, 11, 1);
const HOUR = 3_600_000;

describe.runIf(hasPostgres)("PostgreSQL", () => {
  const pool = testPool({ max: 20 });
  describeBilling("PostgreSQL", () => postgresStore(pool, { tablePrefix: freshPrefix(), changeFeed: false }));

  it("a run's claim is aged by PostgreSQL's clock: a server whose clock is 10 minutes ahead neither takes over a live claim nor waits 10 minutes more for a dead one", async () => {
    const prefix = freshPrefix();
    const a = await postgresStore(pool, { tablePrefix: prefix, changeFeed: false });
    const b = await postgresStore(pool, { tablePrefix: prefix, changeFeed: false });
    const at = DEC + HOUR;
    const skew = 10 * 60_000;
    const staleAfterMs = 5 * 60_000;
    const kwA = new Keyward({ store: a, prefix: "acme", usage: { enabled: false }, now: () => at });
    const kwB = new Keyward({ store: b, prefix: "acme", usage: { enabled: false }, now: () => at + skew });
    await a.recordUsage([{ tokenId: "tok_1", owner: "acct_a", pool: "default", at: NOV + HOUR, ok: true, cost: 1 }]);
    const invoices: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let entered!: () => void;
    const inHook = new Promise<void>((r) => {
      entered = r;
    });
    // A bills, and is slow at it (its claim live); B, whose clock is ahead, runs meanwhile.
    const runA = kwA.billing.run({
      period: "2026-11",
      staleAfterMs,
      onInvoice: async (inv) => {
        invoices.push(`A:${inv.owner}`);
        entered();
        await held;
      },
    });
    await inHook;
    const runB = await kwB.billing.run({ period: "2026-11", staleAfterMs, onInvoice: (inv) => void invoices.push(`B:${inv.owner}`) });
    release();
    // Before: B took A's claim for stale (A's time, 10 minutes behind B's, was older than B's staleAfterMs) and billed it too.
    expect(runB).toMatchObject({ billed: [], busy: ["acct_a"] });
    expect(await runA).toMatchObject({ billed: ["acct_a"], busy: [] });
    expect(invoices).toEqual(["A:acct_a"]);
    // A claim left by a process whose clock is ahead is taken over once as old as staleBefore says, by the
    // database's clock (before: busy for the 10 minutes of skew more).
    const key = { owner: "acct_x", period: "2026-11", from: NOV, to: DEC };
    expect(await b.claimBillingRun(key, "dead", at + skew, at + skew - staleAfterMs)).toBe("claimed");
    await new Promise((r) => setTimeout(r, 50));
    expect(await a.claimBillingRun(key, "next", at, at - 10)).toBe("claimed");
    expect(await b.finishBillingRun(key, "dead", "done", "{}")).toBe(false);
    expect(await a.finishBillingRun(key, "next", "done", "{}")).toBe(true);
    await kwA.close();
    await kwB.close();
    await a.close();
    await b.close();
  });

  it("a page of the sums is an index scan of the primary key from the cursor on, not a read of the whole period", async () => {
    const prefix = freshPrefix();
    const store = await postgresStore(pool, { tablePrefix: prefix, changeFeed: false });
    const t = tableNames(prefix);
    try {
      // 1 400 owners x 72 hours, and the statistics of a real table.
      await pool.query(
        `INSERT INTO ${t.billingUsage} (owner, pool, hour, requests, credits)
         SELECT 'acct_' || lpad(o::text, 5, '0'), 'default', $1::bigint + h * $2::bigint, 1, 1 FROM generate_series(1, 1400) o, generate_series(0, 71) h`,
        [NOV, HOUR],
      );
      await pool.query(`ANALYZE ${t.billingUsage}`);
      const s = statements(t);
      const plan = async (sql: string, params: unknown[]) =>
        (await pool.query(`EXPLAIN ${sql}`, params)).rows.map((r: Record<string, string>) => r["QUERY PLAN"]).join("\n");
      const index = new RegExp(`Index Scan (using|on) ${t.billingUsage}_pkey`);
      // Every owner after acct_00200 (before: a parallel sequential scan of the period, ~180 ms on 1M rows).
      const ofAll = await plan(s.billingOfAll, [NOV, DEC, "acct_00200", "", 101]);
      expect(ofAll).toMatch(index);
      expect(ofAll).not.toContain("Seq Scan");
      const ofOwner = await plan(s.billingOfOwner, ["acct_00300", NOV, DEC, "acct_00300", "", 101]);
      expect(ofOwner).toMatch(index);
      expect(ofOwner).not.toContain("Seq Scan");
    } finally {
      await store.close();
    }
  });
});

// Owners and pools that differ only in case, accents or punctuation: a collation orders them
// otherwise than code points do, and a page's cursor must follow the order of the answer.
const OWNERS = ["acct_a", "acct-a", "Acct_A", "ACCT_A", "acct.a", "acct a", "accta", "acct_á", "acct_b", "Acct-B", "acct_aa", "acct~a", "acct_A"];
const POOLS = ["default", "pro-1", "pro_1", "pro1", "premium"];

async function pagesEveryLineOnce(store: TokenStore): Promise<void> {
  await store.recordUsage(OWNERS.flatMap((owner, o) => POOLS.map((pool, p) => ({ tokenId: `tok_${o}`, owner, pool, at: NOV + (o + p) * HOUR, ok: true, cost: 1 + p }))));
  const kw = new Keyward({ store, prefix: "acme", now: () => DEC + HOUR });
  try {
    const all = await kw.billing.usage({ from: NOV, to: DEC });
    const key = (l: { owner: string; pool: string }) => `${l.owner}/${l.pool}`;
    expect(all.map(key).sort()).toEqual(OWNERS.flatMap((o) => POOLS.map((p) => `${o}/${p}`)).sort());
    for (const owner of [undefined, ...OWNERS]) {
      for (const limit of [1, 2, 3, 7]) {
        const seen: string[] = [];
        let cursor: string | null = null;
        do {
          const page: Awaited<ReturnType<typeof kw.billing.list>> = await kw.billing.list({ from: NOV, to: DEC, owner, limit, cursor });
          seen.push(...page.items.map(key));
          cursor = page.nextCursor;
        } while (cursor);
        // Every line once, in the order of usage (the store's).
        expect(seen).toEqual(all.filter((l) => owner === undefined || l.owner === owner).map(key));
      }
    }
  } finally {
    await kw.close();
  }
}

describe.runIf(hasPostgres)("PostgreSQL billing pages in the database's collation", () => {
  it("the test database's: every line once, whatever the page size, of every owner or one", async () => {
    const pool = openPool();
    try {
      await pagesEveryLineOnce(await postgresStore(pool, { tablePrefix: freshPrefix(), changeFeed: false }));
    } finally {
      await pool.end();
    }
  });

  it("an ICU collation's (English): every line once, whatever the page size, of every owner or one", async (test) => {
    const admin = openPool({ max: 1 });
    const name = `kw_icu_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
    try {
      await admin.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C.UTF-8' LOCALE_PROVIDER icu ICU_LOCALE 'en'`);
    } catch (err) {
      await admin.end();
      // A server built without ICU, or before PostgreSQL 15.
      return test.skip(`no ICU database: ${(err as Error).message}`);
    }
    const url = new URL(PG_URL!);
    url.pathname = `/${name}`;
    const pool = new pg.Pool({ connectionString: url.href, max: 10 });
    try {
      const collation = await pool.query("SELECT 'acct_a' < 'Acct_A' AS lower_first, 'acct_a' < 'acct-a' AS underscore_first");
      // Not code-point order (there "A" < "a" and "-" < "_").
      expect(collation.rows).toEqual([{ lower_first: true, underscore_first: true }]);
      await pagesEveryLineOnce(await postgresStore(pool, { tablePrefix: freshPrefix(), changeFeed: false }));
    } finally {
      await pool.end();
      await admin.query(`DROP DATABASE ${name}`);
      await admin.end();
    }
  });
});

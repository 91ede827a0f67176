// Stores: SQLite next to the raw node:sqlite driver running the same single
// statement in the same run, synchronous NORMAL vs FULL, and MemoryStore's
// rate limit next to rate-limiter-flexible's RateLimiterMemory.consume.
// Rows of a table are measured in rounds (three, or BENCH_ROUNDS) in an
// order that alternates (forward, then backward), as in harness.js; the
// median and the spread (min–max) of the rounds are shown.
import { hash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { RateLimiterMemory } from "rate-limiter-flexible";
import { Keyward, MAX_CREDIT_BALANCE, MemoryStore } from "../dist/index.js";
import { sqliteStore } from "../dist/sqlite.js";
import { throughput } from "./harness.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

export async function medianTable(title, cases, { ms, baseline = 0 }) {
  const runs = cases.map(() => []);
  for (const c of cases) await throughput(c.fn, Math.min(300, ms / 3)); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    const order = cases.map((_, i) => (round % 2 === 0 ? i : cases.length - 1 - i));
    for (const i of order) {
      globalThis.gc?.();
      runs[i].push(await throughput(cases[i].fn, ms));
    }
  }
  const med = runs.map((r) => [...r].sort((a, b) => a - b)[Math.floor(r.length / 2)]);
  const fmt = (n) => Math.round(n).toLocaleString("en-US");
  const lines = [
    `### ${title}`,
    "",
    `| case | ops/s (median of ${ROUNDS}) | spread | vs. ${cases[baseline].short ?? "baseline"} |`,
    "| --- | ---: | ---: | ---: |",
    ...cases.map((c, i) => {
      const r = runs[i];
      const spread = `${fmt(Math.min(...r))}–${fmt(Math.max(...r))}`;
      const vs = c.vs === undefined ? baseline : c.vs;
      return `| ${c.name}${i === baseline ? " (baseline)" : ""} | ${fmt(med[i])} | ${spread} | ${(med[i] / med[vs]).toFixed(2)}x |`;
    }),
    "",
  ];
  console.log(lines.join("\n"));
}

export async function benchStore({ ms }) {
  const dir = mkdtempSync(join(tmpdir(), "keyward-bench-"));
  try {
    for (const synchronous of ["NORMAL", "FULL"]) await benchSqlite(dir, synchronous, ms);
    await benchRateLimit(ms);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchSqlite(dir, synchronous, ms) {
  const path = join(dir, `bench-${synchronous}.sqlite`);
  const store = sqliteStore(path, { synchronous });
  // Default options but the cache off: every check is a store lookup.
  const cold = new Keyward({ store, prefix: "acme", cache: { maxEntries: 0 } });
  const metered = new Keyward({ store, prefix: "acme" });
  const { token } = await cold.tokens.create({ owner: "acct_1", kind: "secret" });
  const { token: limited, record } = await metered.tokens.create({
    owner: "acct_1",
    kind: "secret",
    credits: { limit: MAX_CREDIT_BALANCE },
  });

  // The raw driver on the same file, same pragmas, running the statement each keyward call runs.
  const raw = new DatabaseSync(path);
  raw.exec(`PRAGMA busy_timeout = 5000; PRAGMA synchronous = ${synchronous}`);
  // The request path's lookup statement: the token and its owner's account in one (src/sqlite/statements.ts).
  const lookup = raw.prepare(
    `SELECT t.id, t.record, a.record AS account FROM keyward_hashes h
      JOIN keyward_tokens t ON t.id = h.token_id LEFT JOIN keyward_accounts a ON a.owner = t.owner WHERE h.hash = ?`,
  );
  const hashed = hash("sha256", token, "hex");
  // The statement sqliteStore runs for a metered check with credits and no refill (src/sqlite/statements.ts).
  const spend = raw.prepare(`INSERT INTO keyward_credits (token_id, used, period_start) SELECT ?, ?, ? WHERE ? <= ?
    ON CONFLICT (token_id) DO UPDATE SET used = used + excluded.used,
      period_start = COALESCE(period_start, excluded.period_start)
    WHERE used + excluded.used <= ? RETURNING used`);
  const max = MAX_CREDIT_BALANCE;
  await metered.check({ token: limited }); // creates the credits row
  await medianTable(
    `SQLite (WAL, synchronous=${synchronous}), one process`,
    [
      { name: "raw node:sqlite: the findByHash statement (.get)", fn: () => lookup.get(hashed), short: "raw" },
      { name: "kw.check, cold (cache off, usage on)", fn: () => cold.check({ token }), vs: 0 },
      {
        name: "raw node:sqlite: the guarded credit upsert … RETURNING (.get)",
        fn: () => spend.get(record.id, 1, Date.now(), 1, max, max),
      },
      { name: "kw.check, metered (credits, warm cache, usage on)", fn: () => metered.check({ token: limited }), vs: 2 },
    ],
    { ms },
  );
  await metered.close();
  await cold.close();
  raw.close();
  await store.close();
}

async function benchRateLimit(ms) {
  const policy = (key) => ({ tokenId: key, cost: 0, rateLimit: { limit: 1e12, windowMs: 60_000 }, credits: null });
  for (const keys of [1, 10_000]) {
    const store = new MemoryStore();
    const limiter = new RateLimiterMemory({ points: 1e12, duration: 60 });
    const names = Array.from({ length: keys }, (_, i) => `tok_${i}`);
    const requests = names.map(policy);
    let a = 0;
    let b = 0;
    await medianTable(
      `Rate limit, MemoryStore vs rate-limiter-flexible, ${keys.toLocaleString("en-US")} key${keys > 1 ? "s" : ""} round-robin`,
      [
        {
          name: "peer: RateLimiterMemory.consume(key)",
          fn: () => limiter.consume(names[a++ % keys]),
          short: "peer",
        },
        { name: "MemoryStore.meter({ rateLimit })", fn: () => store.meter(requests[b++ % keys], Date.now()) },
      ],
      { ms },
    );
  }
}

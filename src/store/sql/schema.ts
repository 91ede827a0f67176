// The SQL schema of keyward, written once for every SQL dialect (SQLite and
// PostgreSQL). Migrations are versioned and forward-only; the pending ones run
// in one transaction with the rows that record them, so running them twice,
// or from two processes at once, applies each exactly once, and a failure
// leaves the schema as it was.
import { ConfigError, StoreUnavailableError } from "../../errors.js";

/** What differs between SQL dialects in the schema. */
export interface SqlDialect {
  /** Column type of epoch-millisecond times and counters. */
  readonly int: string;
  /** Table option of key-only tables (SQLite `WITHOUT ROWID`; empty elsewhere). */
  readonly keyTable: string;
}

/** Table names under a prefix (default `keyward_`), so keyward can live in an application's database. */
export interface TableNames {
  readonly migrations: string;
  readonly tokens: string;
  readonly hashes: string;
  readonly audit: string;
  readonly credits: string;
  readonly rateLimits: string;
  readonly nonces: string;
  readonly usage: string;
  readonly accounts: string;
  readonly accountCredits: string;
  readonly accountRateLimits: string;
  readonly usageDetail: string;
  readonly lastUsed: string;
  readonly leases: string;
  readonly anomalySeen: string;
  readonly billingUsage: string;
  readonly billingRuns: string;
  readonly longKeys: string;
  readonly usageWriters: string;
  readonly creditKeys: string;
  readonly createKeys: string;
}

/** Allowed table-name prefixes: an SQL identifier start, at most 32 characters. */
export const TABLE_PREFIX_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,31}$/;

/**
 * The table prefix option, checked (only table names are ever written into
 * SQL text; every value is a bound parameter).
 *
 * @throws {ConfigError} `INVALID_CONFIG` when it does not match {@link TABLE_PREFIX_PATTERN}.
 */
export function checkTablePrefix(prefix: unknown = "keyward_"): string {
  if (typeof prefix !== "string" || !TABLE_PREFIX_PATTERN.test(prefix)) {
    throw new ConfigError("tablePrefix", "must match /^[A-Za-z_][A-Za-z0-9_]{0,31}$/");
  }
  return prefix;
}

export function tableNames(prefix: string): TableNames {
  return {
    migrations: `${prefix}migrations`,
    tokens: `${prefix}tokens`,
    hashes: `${prefix}hashes`,
    audit: `${prefix}audit`,
    credits: `${prefix}credits`,
    rateLimits: `${prefix}rate_limits`,
    nonces: `${prefix}nonces`,
    usage: `${prefix}usage`,
    accounts: `${prefix}accounts`,
    accountCredits: `${prefix}account_credits`,
    accountRateLimits: `${prefix}account_rate_limits`,
    usageDetail: `${prefix}usage_detail`,
    lastUsed: `${prefix}last_used`,
    leases: `${prefix}credit_leases`,
    anomalySeen: `${prefix}anomaly_seen`,
    billingUsage: `${prefix}billing_usage`,
    billingRuns: `${prefix}billing_runs`,
    longKeys: `${prefix}long_keys`,
    usageWriters: `${prefix}usage_writers`,
    creditKeys: `${prefix}credit_keys`,
    createKeys: `${prefix}create_keys`,
  };
}

/** One schema version: the statements that bring the previous version to it. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  up(t: TableNames, d: SqlDialect): string[];
}

/**
 * Every migration, oldest first. Never edit a released one: add the next.
 *
 * Version 1. A token is one row (the record as JSON, with the columns the
 * queries need); every hash it has, current and previous, is a row of
 * `hashes` whose primary key is the hash: that unique index is both the
 * duplicate check and the hot-path lookup (`findByHash` is one indexed join).
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "tokens, hashes, audit, counters, usage",
    up: (t, d) => [
      `CREATE TABLE ${t.tokens} (
        id TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        created_at ${d.int} NOT NULL,
        revision ${d.int} NOT NULL,
        record TEXT NOT NULL
      )`,
      `CREATE INDEX ${t.tokens}_owner ON ${t.tokens} (owner, created_at, id)`,
      `CREATE TABLE ${t.hashes} (hash TEXT PRIMARY KEY, token_id TEXT NOT NULL)${d.keyTable}`,
      `CREATE INDEX ${t.hashes}_token ON ${t.hashes} (token_id)`,
      `CREATE TABLE ${t.audit} (
        id TEXT PRIMARY KEY,
        token_id TEXT NOT NULL,
        owner TEXT NOT NULL,
        at ${d.int} NOT NULL,
        entry TEXT NOT NULL
      )`,
      `CREATE INDEX ${t.audit}_token ON ${t.audit} (token_id, at, id)`,
      `CREATE INDEX ${t.audit}_owner ON ${t.audit} (owner, at, id)`,
      `CREATE TABLE ${t.credits} (token_id TEXT PRIMARY KEY, used ${d.int} NOT NULL, period_start ${d.int})${d.keyTable}`,
      `CREATE TABLE ${t.rateLimits} (
        token_id TEXT PRIMARY KEY,
        window_ms ${d.int} NOT NULL,
        bucket ${d.int} NOT NULL,
        counts TEXT NOT NULL
      )${d.keyTable}`,
      `CREATE TABLE ${t.nonces} (
        token_id TEXT NOT NULL,
        nonce TEXT NOT NULL,
        expires_at ${d.int} NOT NULL,
        PRIMARY KEY (token_id, nonce)
      )${d.keyTable}`,
      `CREATE INDEX ${t.nonces}_expiry ON ${t.nonces} (expires_at)`,
      `CREATE TABLE ${t.usage} (
        token_id TEXT NOT NULL,
        hour ${d.int} NOT NULL,
        allowed ${d.int} NOT NULL,
        denied ${d.int} NOT NULL,
        credits ${d.int} NOT NULL,
        PRIMARY KEY (token_id, hour)
      )${d.keyTable}`,
    ],
  },
  {
    // Version 2. Accounts (the record as JSON) and their counters, keyed by
    // owner like a token's are keyed by token id; usage analytics rows (per
    // token, UTC minute, scope and code) and each token's last use.
    version: 2,
    name: "accounts, account counters, usage analytics",
    up: (t, d) => [
      `CREATE TABLE ${t.accounts} (
        owner TEXT PRIMARY KEY,
        revision ${d.int} NOT NULL,
        record TEXT NOT NULL
      )`,
      `CREATE TABLE ${t.accountCredits} (owner TEXT PRIMARY KEY, used ${d.int} NOT NULL, period_start ${d.int})${d.keyTable}`,
      `CREATE TABLE ${t.accountRateLimits} (
        owner TEXT PRIMARY KEY,
        window_ms ${d.int} NOT NULL,
        bucket ${d.int} NOT NULL,
        counts TEXT NOT NULL
      )${d.keyTable}`,
      `CREATE TABLE ${t.usageDetail} (
        token_id TEXT NOT NULL,
        owner TEXT NOT NULL,
        minute ${d.int} NOT NULL,
        scope TEXT NOT NULL,
        code TEXT NOT NULL,
        requests ${d.int} NOT NULL,
        credits ${d.int} NOT NULL,
        PRIMARY KEY (token_id, minute, scope, code)
      )${d.keyTable}`,
      `CREATE INDEX ${t.usageDetail}_owner ON ${t.usageDetail} (owner, minute)`,
      `CREATE TABLE ${t.lastUsed} (token_id TEXT PRIMARY KEY, at ${d.int} NOT NULL, ip TEXT)${d.keyTable}`,
    ],
  },
  {
    // Version 3. Credit leases (PostgreSQL, opt-in): a block of a token's credits reserved by
    // one process (`granted`, already counted in `credits.used`), of which `reported` were
    // granted to requests; after `expires_at` any process may return `granted - reported`.
    version: 3,
    name: "credit leases",
    up: (t, d) => [
      `CREATE TABLE ${t.leases} (
        id TEXT PRIMARY KEY,
        token_id TEXT NOT NULL,
        granted ${d.int} NOT NULL,
        reported ${d.int} NOT NULL,
        expires_at ${d.int} NOT NULL
      )`,
      `CREATE INDEX ${t.leases}_token ON ${t.leases} (token_id, expires_at)`,
    ],
  },
  {
    // Version 4. Anomaly detection state shared by a fleet: per token, the IPs and origins it
    // was seen from and its last use (kind "use", value ""), each with the time last seen
    // (`seen_at`) and the one before (`prev_at`, what the last touch answered).
    version: 4,
    name: "anomaly state",
    up: (t, d) => [
      `CREATE TABLE ${t.anomalySeen} (
        token_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        seen_at ${d.int} NOT NULL,
        prev_at ${d.int},
        PRIMARY KEY (token_id, kind, value)
      )${d.keyTable}`,
      `CREATE INDEX ${t.anomalySeen}_recent ON ${t.anomalySeen} (token_id, kind, seen_at)`,
    ],
  },
  {
    // Version 5. Billing: each owner's allowed requests and credits per pool and UTC hour
    // (added with usage batches), and one row per billed owner and period: `claim` holds it
    // while pending; `status` "done" with the invoice record once billed.
    version: 5,
    name: "billing",
    up: (t, d) => [
      `CREATE TABLE ${t.billingUsage} (
        owner TEXT NOT NULL,
        pool TEXT NOT NULL,
        hour ${d.int} NOT NULL,
        requests ${d.int} NOT NULL,
        credits ${d.int} NOT NULL,
        PRIMARY KEY (owner, pool, hour)
      )${d.keyTable}`,
      `CREATE INDEX ${t.billingUsage}_hour ON ${t.billingUsage} (hour)`,
      `CREATE TABLE ${t.billingRuns} (
        owner TEXT NOT NULL,
        period TEXT NOT NULL,
        status TEXT NOT NULL,
        claim TEXT NOT NULL,
        claimed_at ${d.int} NOT NULL,
        record TEXT,
        PRIMARY KEY (owner, period)
      )`,
    ],
  },
  {
    // Version 6. The hours each billing run covers, `[from_ms, to_ms)`: no two runs of an
    // owner may overlap (runs recorded before have none and overlap nothing).
    version: 6,
    name: "billing run ranges",
    up: (t, d) => [
      `ALTER TABLE ${t.billingRuns} ADD COLUMN from_ms ${d.int} NOT NULL DEFAULT 0`,
      `ALTER TABLE ${t.billingRuns} ADD COLUMN to_ms ${d.int} NOT NULL DEFAULT 0`,
    ],
  },
  {
    // Version 7. Bought credits (top-ups) apart from the plan's: `bought` on every credit row,
    // which refills and calendar resets never touch (before, a top-up was taken off `used`, and
    // a reset or refill lost it when the plan's credits had been spent first). A negative `used`
    // was bought credits beyond the plan: it becomes `bought`. A lease's `bought` is the part of
    // its block drawn from bought credits (given back to them when returned).
    version: 7,
    name: "bought credits",
    up: (t, d) => [
      `ALTER TABLE ${t.credits} ADD COLUMN bought ${d.int} NOT NULL DEFAULT 0`,
      `UPDATE ${t.credits} SET bought = -used, used = 0 WHERE used < 0`,
      `ALTER TABLE ${t.accountCredits} ADD COLUMN bought ${d.int} NOT NULL DEFAULT 0`,
      `UPDATE ${t.accountCredits} SET bought = -used, used = 0 WHERE used < 0`,
      `ALTER TABLE ${t.leases} ADD COLUMN bought ${d.int} NOT NULL DEFAULT 0`,
    ],
  },
  {
    // Version 8. The string a hashed key stands for, where a store must give it back: PostgreSQL
    // keeps a key longer than an index entry may be as its SHA-256 (`\h…`), and a billing sum
    // answers its owner (SQLite keys every string as it is, and writes no row here).
    version: 8,
    name: "long keys",
    up: (t, d) => [`CREATE TABLE ${t.longKeys} (key TEXT PRIMARY KEY, text TEXT NOT NULL)${d.keyTable}`],
  },
  {
    // Version 9. The last batch each usage queue wrote (`seq`, with the time of its latest event),
    // written with the batch: a batch written again (its first write's reply was lost) adds nothing.
    version: 9,
    name: "usage writers",
    up: (t, d) => [
      `CREATE TABLE ${t.usageWriters} (writer TEXT PRIMARY KEY, seq ${d.int} NOT NULL, at ${d.int} NOT NULL)${d.keyTable}`,
      `CREATE INDEX ${t.usageWriters}_at ON ${t.usageWriters} (at)`,
    ],
  },
  {
    // Version 10. The idempotency keys of credit top-ups and resets (`creditRequestText` of the
    // operation, `at` when it was applied), written with the balance: the same operation under a
    // key applied already changes nothing.
    version: 10,
    name: "credit keys",
    up: (t, d) => [
      `CREATE TABLE ${t.creditKeys} (key TEXT PRIMARY KEY, request TEXT NOT NULL, at ${d.int} NOT NULL)${d.keyTable}`,
      `CREATE INDEX ${t.creditKeys}_at ON ${t.creditKeys} (at)`,
    ],
  },
  {
    // Version 11. The idempotency keys of token creations (`createKeyText` of the owner, actor and
    // key; the request's SHA-256, the token's id as JSON text, the key's expiry), written with the
    // token: a create sent again under a key kept finds the token made the first time.
    version: 11,
    name: "create keys",
    up: (t, d) => [
      `CREATE TABLE ${t.createKeys} (key TEXT PRIMARY KEY, request TEXT NOT NULL, token_id TEXT NOT NULL, expires_at ${d.int} NOT NULL)${d.keyTable}`,
      `CREATE INDEX ${t.createKeys}_expires_at ON ${t.createKeys} (expires_at)`,
    ],
  },
];

/** The schema version this library writes and reads. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * The version a database reports, accepted only when this library can read it.
 *
 * @throws {StoreUnavailableError} `STORE_UNAVAILABLE` naming both versions when it is newer than {@link SCHEMA_VERSION}.
 */
export function checkSchemaVersion(found: number): number {
  if (found > SCHEMA_VERSION) {
    throw new StoreUnavailableError(
      `database schema version ${found} is newer than this keyward's (${SCHEMA_VERSION}): upgrade keyward`,
    );
  }
  return found;
}

/**
 * The tables and indexes that the migrations after `version` create, in
 * order: none of them may be in the database before those migrations run.
 */
export function createdAfter(version: number, t: TableNames, d: SqlDialect): string[] {
  return MIGRATIONS.filter((m) => m.version > version).flatMap((m) =>
    m.up(t, d).flatMap((sql) => /^CREATE (?:TABLE|INDEX) (\w+)/.exec(sql)?.[1] ?? []),
  );
}

/**
 * Refuses a database that holds tables or indexes of keyward's names that
 * no applied migration created: another application's, which a pending
 * migration would fail on (after changing the database, were it not checked first).
 *
 * @param found - the names of {@link createdAfter} that the database has.
 * @throws {ConfigError} `INVALID_CONFIG` (`field` `tablePrefix`) naming the first of them.
 */
export function refuseForeignTables(found: readonly string[]): void {
  if (found.length > 0) {
    throw new ConfigError("tablePrefix", `table or index ${found[0]} exists and is not keyward's: use another tablePrefix`);
  }
}

/** The table that records applied versions (created in the transaction of the first migration). */
export function migrationsTable(t: TableNames, d: SqlDialect): string {
  return `CREATE TABLE IF NOT EXISTS ${t.migrations} (version ${d.int} PRIMARY KEY, name TEXT NOT NULL, applied_at ${d.int} NOT NULL)`;
}

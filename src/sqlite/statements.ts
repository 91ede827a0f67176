// Every statement of the SQLite store, prepared once per connection. Values
// are always bound parameters; only table names (checked prefix) are in the text.
import type { TableNames } from "../store/sql/schema.js";
import type { SqliteDatabase, SqliteStatement, SqliteValue } from "./driver.js";

// The statements of a keyset walk of the usage rows of a token or an owner (`column`): the
// rows strictly after a key (`?` for each of its columns), in key order.
const usageWalk = (t: TableNames, column: "token_id" | "owner") => {
  const key = column === "owner" ? "minute, token_id, scope, code" : "minute, scope, code";
  const after = `${column} = ? AND (${key}) > (${key.replace(/\w+/g, "?")})`;
  const sums = `SELECT token_id AS tokenId, MAX(minute) AS minute, scope, code, SUM(requests) AS requests, SUM(credits) AS credits
    FROM ${t.usageDetail} WHERE ${after}`;
  const group = "GROUP BY token_id, CAST(minute / ? AS INTEGER), scope, code";
  return {
    end: `SELECT minute, token_id AS tokenId, scope, code FROM ${t.usageDetail} WHERE ${after} AND minute < ?
      ORDER BY ${key} LIMIT 1 OFFSET ?`,
    step: `${sums} AND (${key}) <= (${key.replace(/\w+/g, "?")}) ${group}`,
    rest: `${sums} AND minute < ? ${group}`,
  };
};

const sql = (t: TableNames) => ({
  begin: "BEGIN IMMEDIATE",
  commit: "COMMIT",
  rollback: "ROLLBACK",
  tokenExists: `SELECT 1 AS x FROM ${t.tokens} WHERE id = ?`,
  tokenById: `SELECT id, record FROM ${t.tokens} WHERE id = ?`,
  // The hot path: the primary key of hashes, then the primary key of tokens.
  tokenByHash: `SELECT t.record FROM ${t.hashes} h JOIN ${t.tokens} t ON t.id = h.token_id WHERE h.hash = ?`,
  // The request path's lookup: the token, and its owner's account with it (one statement, not two).
  tokenAndAccountByHash: `SELECT t.id, t.record, a.record AS account FROM ${t.hashes} h
    JOIN ${t.tokens} t ON t.id = h.token_id LEFT JOIN ${t.accounts} a ON a.owner = t.owner WHERE h.hash = ?`,
  insertToken: `INSERT INTO ${t.tokens} (id, owner, created_at, revision, record) VALUES (?, ?, ?, ?, ?)`,
  updateToken: `UPDATE ${t.tokens} SET owner = ?, created_at = ?, revision = ?, record = ? WHERE id = ?`,
  revokeToken: `UPDATE ${t.tokens} SET revision = ?, record = ? WHERE id = ?`,
  listFirst: `SELECT record FROM ${t.tokens} WHERE owner = ? ORDER BY created_at, id LIMIT ?`,
  listAfter: `SELECT record FROM ${t.tokens} WHERE owner = ? AND (created_at > ? OR (created_at = ? AND id > ?))
    ORDER BY created_at, id LIMIT ?`,
  hashHolder: `SELECT token_id FROM ${t.hashes} WHERE hash = ?`,
  insertHash: `INSERT INTO ${t.hashes} (hash, token_id) VALUES (?, ?)`,
  deleteHashes: `DELETE FROM ${t.hashes} WHERE token_id = ?`,
  auditExists: `SELECT 1 AS x FROM ${t.audit} WHERE id = ?`,
  insertAudit: `INSERT INTO ${t.audit} (id, token_id, owner, at, entry) VALUES (?, ?, ?, ?, ?)`,
  auditOfTokenFirst: `SELECT entry FROM ${t.audit} WHERE token_id = ? ORDER BY at, id LIMIT ?`,
  auditOfTokenAfter: `SELECT entry FROM ${t.audit} WHERE token_id = ? AND (at > ? OR (at = ? AND id > ?))
    ORDER BY at, id LIMIT ?`,
  auditOfOwnerFirst: `SELECT entry FROM ${t.audit} WHERE owner = ? ORDER BY at, id LIMIT ?`,
  auditOfOwnerAfter: `SELECT entry FROM ${t.audit} WHERE owner = ? AND (at > ? OR (at = ? AND id > ?))
    ORDER BY at, id LIMIT ?`,
  creditsOf: `SELECT used, bought, period_start AS periodStart FROM ${t.credits} WHERE token_id = ?`,
  saveCredits: `INSERT INTO ${t.credits} (token_id, used, bought, period_start) VALUES (?, ?, ?, ?)
    ON CONFLICT (token_id) DO UPDATE SET used = excluded.used, bought = excluded.bought, period_start = excluded.period_start`,
  // Flat credits in one statement, as spendCredits of the store kit: a first use is inserted only
  // when the cost fits the limit; on a row (a later use, or a top-up) the cost is granted only when
  // the plan's credits left (limit - used) and the bought ones hold it, even a cost above the limit,
  // and taken from the plan's first; a row comes back when granted.
  spendFlat: `INSERT INTO ${t.credits} (token_id, used, bought, period_start) SELECT ?1, ?2, 0, ?3
    WHERE ?2 <= ?4 OR EXISTS (SELECT 1 FROM ${t.credits} WHERE token_id = ?1)
    ON CONFLICT (token_id) DO UPDATE SET used = used + min(excluded.used, max(0, ?4 - used)),
      bought = bought - (excluded.used - min(excluded.used, max(0, ?4 - used))),
      period_start = COALESCE(period_start, excluded.period_start)
    WHERE excluded.used <= max(0, ?4 - used) + bought RETURNING used, bought`,
  rateOf: `SELECT window_ms, bucket, counts FROM ${t.rateLimits} WHERE token_id = ?`,
  saveRate: `INSERT INTO ${t.rateLimits} (token_id, window_ms, bucket, counts) VALUES (?, ?, ?, ?)
    ON CONFLICT (token_id) DO UPDATE SET window_ms = excluded.window_ms, bucket = excluded.bucket, counts = excluded.counts`,
  // Insert, or take over an expired entry; an unexpired one makes no change (changes = 0).
  rememberNonce: `INSERT INTO ${t.nonces} (token_id, nonce, expires_at) VALUES (?, ?, ?)
    ON CONFLICT (token_id, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE ${t.nonces}.expires_at <= ?`,
  purgeNonces: `DELETE FROM ${t.nonces} WHERE (token_id, nonce) IN
    (SELECT token_id, nonce FROM ${t.nonces} WHERE expires_at <= ? LIMIT ?)`,
  // A writer's batch (see UsageBatchKey): changes = 0 when it was written already.
  advanceWriter: `INSERT INTO ${t.usageWriters} (writer, seq, at) VALUES (?, ?, ?)
    ON CONFLICT (writer) DO UPDATE SET seq = excluded.seq, at = excluded.at WHERE seq < excluded.seq`,
  purgeWriters: `DELETE FROM ${t.usageWriters} WHERE writer IN (SELECT writer FROM ${t.usageWriters} WHERE at < ? LIMIT ?)`,
  // The idempotency key of a credit top-up or reset (see AccountStore.adjustCredits); an expired one is taken over.
  creditKeyOf: `SELECT request, at FROM ${t.creditKeys} WHERE key = ?`,
  saveCreditKey: `INSERT INTO ${t.creditKeys} (key, request, at) VALUES (?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET request = excluded.request, at = excluded.at`,
  purgeCreditKeys: `DELETE FROM ${t.creditKeys} WHERE key IN (SELECT key FROM ${t.creditKeys} WHERE at <= ? LIMIT ?)`,
  // The idempotency key of a token creation (see IdempotentCreateStore.insertOnce); an expired one is taken over.
  createKeyOf: `SELECT request, token_id, expires_at FROM ${t.createKeys} WHERE key = ?`,
  saveCreateKey: `INSERT INTO ${t.createKeys} (key, request, token_id, expires_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (key) DO UPDATE SET request = excluded.request, token_id = excluded.token_id, expires_at = excluded.expires_at`,
  purgeCreateKeys: `DELETE FROM ${t.createKeys} WHERE key IN (SELECT key FROM ${t.createKeys} WHERE expires_at <= ? LIMIT ?)`,
  addUsage: `INSERT INTO ${t.usage} (token_id, hour, allowed, denied, credits) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (token_id, hour) DO UPDATE SET allowed = allowed + excluded.allowed,
      denied = denied + excluded.denied, credits = credits + excluded.credits`,
  accountOf: `SELECT record FROM ${t.accounts} WHERE owner = ?`,
  saveAccount: `INSERT INTO ${t.accounts} (owner, revision, record) VALUES (?, ?, ?)
    ON CONFLICT (owner) DO UPDATE SET revision = excluded.revision, record = excluded.record`,
  accountCreditsOf: `SELECT used, bought, period_start AS periodStart FROM ${t.accountCredits} WHERE owner = ?`,
  saveAccountCredits: `INSERT INTO ${t.accountCredits} (owner, used, bought, period_start) VALUES (?, ?, ?, ?)
    ON CONFLICT (owner) DO UPDATE SET used = excluded.used, bought = excluded.bought, period_start = excluded.period_start`,
  accountRateOf: `SELECT window_ms, bucket, counts FROM ${t.accountRateLimits} WHERE owner = ?`,
  saveAccountRate: `INSERT INTO ${t.accountRateLimits} (owner, window_ms, bucket, counts) VALUES (?, ?, ?, ?)
    ON CONFLICT (owner) DO UPDATE SET window_ms = excluded.window_ms, bucket = excluded.bucket, counts = excluded.counts`,
  addUsageRow: `INSERT INTO ${t.usageDetail} (token_id, owner, minute, scope, code, requests, credits) VALUES (?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (token_id, minute, scope, code) DO UPDATE SET requests = requests + excluded.requests,
      credits = credits + excluded.credits`,
  // Usage analytics of a token or an owner, a step of rows at a time: a keyset walk of the primary
  // key (token_id, minute, scope, code) or of the index (owner, minute), which holds the primary
  // key too. A step: the key of the last of its rows, at most OFFSET + 1 past the last key read
  // and before the end of the query (the index only), then the rows up to it summed per bucket
  // (the last parameter: its length, ms), token, scope and code; the last step, the rows up to the
  // end. No filter on scope or code here: a step reads its rows, not more.
  usageEndOfToken: usageWalk(t, "token_id").end,
  usageStepOfToken: usageWalk(t, "token_id").step,
  usageRestOfToken: usageWalk(t, "token_id").rest,
  usageEndOfOwner: usageWalk(t, "owner").end,
  usageStepOfOwner: usageWalk(t, "owner").step,
  usageRestOfOwner: usageWalk(t, "owner").rest,
  saveLastUsed: `INSERT INTO ${t.lastUsed} (token_id, at, ip) VALUES (?, ?, ?)
    ON CONFLICT (token_id) DO UPDATE SET at = excluded.at, ip = excluded.ip WHERE excluded.at >= ${t.lastUsed}.at`,
  lastUsedOf: `SELECT token_id AS tokenId, at, ip FROM ${t.lastUsed} WHERE token_id = ?`,
  usageOf: `SELECT hour, allowed, denied, credits FROM ${t.usage} WHERE token_id = ? AND hour >= ? AND hour < ?`,
  // Hard delete: every row kept under a token id (the audit log stays).
  deleteToken: `DELETE FROM ${t.tokens} WHERE id = ?`,
  // The token id and its composite keys (named pools, extra rate limits: `<id>U+001F…`; no token id is a prefix of another).
  deleteCredits: `DELETE FROM ${t.credits} WHERE token_id >= ?1 AND token_id < ?1 || char(32)`,
  deleteRate: `DELETE FROM ${t.rateLimits} WHERE token_id >= ?1 AND token_id < ?1 || char(32)`,
  deleteNonces: `DELETE FROM ${t.nonces} WHERE token_id = ?`,
  deleteUsage: `DELETE FROM ${t.usage} WHERE token_id = ?`,
  deleteUsageDetail: `DELETE FROM ${t.usageDetail} WHERE token_id = ?`,
  deleteLastUsed: `DELETE FROM ${t.lastUsed} WHERE token_id = ?`,
  deleteSeen: `DELETE FROM ${t.anomalySeen} WHERE token_id = ?`,
  // Billing.
  addBilling: `INSERT INTO ${t.billingUsage} (owner, pool, hour, requests, credits) VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (owner, pool, hour) DO UPDATE SET requests = requests + excluded.requests, credits = credits + excluded.credits`,
  // A keyset walk of the primary key (owner, pool, hour): a seek to the next owner and pool (of
  // every owner, or of one), then a range of its hours summed; each reads no row of another page.
  billingNextGroup: `SELECT owner, pool FROM ${t.billingUsage} WHERE (owner, pool) > (?, ?) ORDER BY owner, pool LIMIT 1`,
  billingNextPoolOf: `SELECT owner, pool FROM ${t.billingUsage} WHERE owner = ? AND pool > ? ORDER BY pool LIMIT 1`,
  // TOTAL, not SUM: a sum above 2^53 is answered (as a float, which billing refuses as inexact), not a driver's
  // error (node:sqlite cannot read it as a number) nor SQLite's integer overflow.
  billingSumOf: `SELECT COUNT(*) AS n, TOTAL(requests) AS requests, TOTAL(credits) AS credits FROM ${t.billingUsage}
    WHERE owner = ? AND pool = ? AND hour >= ? AND hour < ?`,
  billingRunOf: `SELECT status, claim, claimed_at AS claimedAt FROM ${t.billingRuns} WHERE owner = ? AND period = ?`,
  billingRunOverlaps: `SELECT 1 FROM ${t.billingRuns} WHERE owner = ?1 AND period <> ?2 AND from_ms < ?4 AND to_ms > ?3 LIMIT 1`,
  claimBillingRun: `INSERT INTO ${t.billingRuns} (owner, period, status, claim, claimed_at, from_ms, to_ms) VALUES (?, ?, 'pending', ?, ?, ?, ?)
    ON CONFLICT (owner, period) DO UPDATE SET claim = excluded.claim, claimed_at = excluded.claimed_at`,
  billingRunDone: `UPDATE ${t.billingRuns} SET status = 'done', record = ? WHERE owner = ? AND period = ? AND claim = ? AND status = 'pending'`,
  billingRunFailed: `DELETE FROM ${t.billingRuns} WHERE owner = ? AND period = ? AND claim = ? AND status = 'pending'`,
  // Anomaly state: one sighting (the time before comes from seenOf, in the same transaction).
  seenOf: `SELECT seen_at FROM ${t.anomalySeen} WHERE token_id = ? AND kind = ? AND value = ?`,
  touchSeen: `INSERT INTO ${t.anomalySeen} (token_id, kind, value, seen_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (token_id, kind, value) DO UPDATE SET seen_at = max(seen_at, excluded.seen_at)`,
  // Keeps the ?3 most recently seen values of one kind of one token.
  trimSeen: `DELETE FROM ${t.anomalySeen} WHERE token_id = ?1 AND kind = ?2 AND value IN
    (SELECT value FROM ${t.anomalySeen} WHERE token_id = ?1 AND kind = ?2 ORDER BY seen_at DESC, value LIMIT -1 OFFSET ?3)`,
});

/** The prepared statements of a store, by name. */
export type Statements = Record<keyof ReturnType<typeof sql>, SqliteStatement>;

/** Prepares every statement on `db` for the tables `t`. */
export function prepareStatements(db: SqliteDatabase, t: TableNames): Statements {
  const prepare = bindsNumbered(db) ? (text: string) => db.prepare(text) : (text: string) => withAnonymousParameters(db, text);
  const out = {} as Statements;
  for (const [name, text] of Object.entries(sql(t))) out[name as keyof Statements] = prepare(text);
  return out;
}

/**
 * Whether the driver binds positional values to numbered parameters (`?1`,
 * which the statements above use to give a value twice): node:sqlite and
 * bun:sqlite do; better-sqlite3 takes `?1` for a parameter named "1" and
 * refuses positional values for it.
 */
function bindsNumbered(db: SqliteDatabase): boolean {
  try {
    return (db.prepare("SELECT ?1 AS v").get(1) as { v?: unknown } | undefined)?.v === 1;
  } catch {
    return false;
  }
}

/**
 * A statement of numbered parameters prepared with anonymous ones (`?`),
 * given its arguments in the order their numbers appear.
 */
function withAnonymousParameters(db: SqliteDatabase, text: string): SqliteStatement {
  const order: number[] = [];
  const anonymous = text.replace(/\?(\d+)/g, (_, n: string) => {
    order.push(Number(n) - 1);
    return "?";
  });
  if (order.length === 0) return db.prepare(text);
  if (anonymous.split("?").length - 1 !== order.length) throw new Error(`numbered and anonymous parameters mixed: ${text}`);
  const s = db.prepare(anonymous);
  const args = (params: SqliteValue[]) => order.map((i) => params[i] as SqliteValue);
  return { get: (...p) => s.get(...args(p)), all: (...p) => s.all(...args(p)), run: (...p) => s.run(...args(p)) };
}

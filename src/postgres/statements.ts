// Every statement of the PostgreSQL store. Values are always bound
// parameters; only table names (a checked prefix) are in the text. Ids are
// ordered with COLLATE "C" so listings do not depend on the database's locale.
import type { TableNames } from "../store/sql/schema.js";

// Announces a change in the statement that makes it: delivered to listeners only if it commits.
const notify = (payloads: string) => `SELECT pg_notify($1, p) FROM unnest(${payloads}::text[]) p`;
const auditInsert = (t: TableNames, first: number) => {
  const [id, tokenId, owner, at, entry] = [first, first + 1, first + 2, first + 3, first + 4].map((i) => `$${i}`);
  return `INSERT INTO ${t.audit} (id, token_id, owner, at, entry) SELECT ${id}::text, ${tokenId}::text, ${owner}::text, ${at}::float8, ${entry}::text WHERE ${id}::text IS NOT NULL`;
};
const page = (key: string, time: string, filter: string) => ({
  first: `SELECT ${key} FROM ${filter} ORDER BY ${time}, id COLLATE "C" LIMIT $2`,
  after: `SELECT ${key} FROM ${filter} AND (${time} > $3 OR (${time} = $3 AND id COLLATE "C" > $4)) ORDER BY ${time}, id COLLATE "C" LIMIT $2`,
});

export const statements = (t: TableNames) => ({
  tokenById: `SELECT record FROM ${t.tokens} WHERE id = $1`,
  tokenForUpdate: `SELECT record FROM ${t.tokens} WHERE id = $1 FOR UPDATE`,
  // The hot path: the primary key of hashes, then the primary key of tokens.
  tokenByHash: `SELECT t.record FROM ${t.hashes} h JOIN ${t.tokens} t ON t.id = h.token_id WHERE h.hash = $1`,
  // $1 channel, $2 payloads, $3.. token, $9.. audit. A duplicate id or hash breaks a primary key: nothing is written.
  insert: `WITH tok AS (INSERT INTO ${t.tokens} (id, owner, created_at, revision, record) VALUES ($3, $4, $5, $6, $7)),
    hs AS (INSERT INTO ${t.hashes} (hash, token_id) SELECT unnest($8::text[]), $3),
    au AS (${auditInsert(t, 9)})
    ${notify("$2")}`,
  // After the row lock: drop the hashes the token no longer has, add the new ones (another token's breaks the key).
  update: `WITH del AS (DELETE FROM ${t.hashes} WHERE token_id = $3 AND hash <> ALL($8::text[])),
    hs AS (INSERT INTO ${t.hashes} (hash, token_id) SELECT x, $3 FROM unnest($8::text[]) x
      WHERE NOT EXISTS (SELECT 1 FROM ${t.hashes} WHERE hash = x AND token_id = $3)),
    tok AS (UPDATE ${t.tokens} SET owner = $4, created_at = $5, revision = $6, record = $7 WHERE id = $3),
    au AS (${auditInsert(t, 9)})
    ${notify("$2")}`,
  revoke: `WITH tok AS (UPDATE ${t.tokens} SET revision = $4, record = $5 WHERE id = $3),
    au AS (${auditInsert(t, 6)})
    ${notify("$2")}`,
  appendAudit: auditInsert(t, 1),
  list: page("record", "created_at", `${t.tokens} WHERE owner = $1`),
  auditOfToken: page("entry", "at", `${t.audit} WHERE token_id = $1`),
  auditOfOwner: page("entry", "at", `${t.audit} WHERE owner = $1`),
  // Flat credits in one statement: a first use is inserted only when the cost fits the limit, a
  // later one adds the cost only when used + cost still fits (the row lock orders concurrent
  // spends); a row comes back exactly when granted.
  spendFlat: `INSERT INTO ${t.credits} (token_id, used, period_start) SELECT $1, $2::float8, $3::float8 WHERE $2::float8 <= $4::float8
    ON CONFLICT (token_id) DO UPDATE SET used = ${t.credits}.used + excluded.used,
      period_start = COALESCE(${t.credits}.period_start, excluded.period_start)
    WHERE ${t.credits}.used + excluded.used <= $4::float8 RETURNING used`,
  creditsUsed: `SELECT used FROM ${t.credits} WHERE token_id = $1`,
  // Leases: the token's credit row, created if absent and locked until commit (a flat spend may run meanwhile).
  lockUsed: `INSERT INTO ${t.credits} (token_id, used, period_start) VALUES ($1, 0, NULL)
    ON CONFLICT (token_id) DO UPDATE SET used = ${t.credits}.used RETURNING used`,
  // Under lockUsed: the period start is kept unless none was set yet.
  saveUsed: `INSERT INTO ${t.credits} (token_id, used, period_start) VALUES ($1, $2, $3)
    ON CONFLICT (token_id) DO UPDATE SET used = excluded.used, period_start = COALESCE(${t.credits}.period_start, excluded.period_start)`,
  reclaimLeases: `DELETE FROM ${t.leases} WHERE token_id = $1 AND expires_at <= $2 RETURNING granted - reported AS back`,
  insertLease: `INSERT INTO ${t.leases} (id, token_id, granted, reported, expires_at) VALUES ($1, $2, $3, 0, $4)`,
  reportLease: `UPDATE ${t.leases} SET reported = $2 WHERE id = $1`,
  returnLease: `DELETE FROM ${t.leases} WHERE id = $1 RETURNING granted - reported AS back`,
  // One writer per token at a time, whether or not its counter rows exist yet (a row lock needs a row).
  lockCounters: `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`,
  counters: `SELECT c.used, c.period_start, r.window_ms, r.bucket, r.counts FROM (SELECT 1) one
    LEFT JOIN ${t.credits} c ON c.token_id = $1 LEFT JOIN ${t.rateLimits} r ON r.token_id = $1`,
  saveCounters: `WITH c AS (INSERT INTO ${t.credits} (token_id, used, period_start)
      SELECT $1, $2::float8, $3::float8 WHERE $2::float8 IS NOT NULL
      ON CONFLICT (token_id) DO UPDATE SET used = excluded.used, period_start = excluded.period_start),
    r AS (INSERT INTO ${t.rateLimits} (token_id, window_ms, bucket, counts)
      SELECT $1, $4::float8, $5::float8, $6::text WHERE $4::float8 IS NOT NULL
      ON CONFLICT (token_id) DO UPDATE SET window_ms = excluded.window_ms, bucket = excluded.bucket, counts = excluded.counts)
    SELECT 1`,
  // Counters of a token with named pools or several rate limits, under the token's lock: one
  // credit row (`poolKey`) and several rate rows (the token id, `rateKey`s).
  creditRow: `SELECT used, period_start FROM ${t.credits} WHERE token_id = $1`,
  rateRows: `SELECT token_id, window_ms, bucket, counts FROM ${t.rateLimits} WHERE token_id = ANY($1::text[])`,
  saveCredit: `INSERT INTO ${t.credits} (token_id, used, period_start) VALUES ($1, $2::float8, $3::float8)
    ON CONFLICT (token_id) DO UPDATE SET used = excluded.used, period_start = excluded.period_start`,
  saveRates: `INSERT INTO ${t.rateLimits} (token_id, window_ms, bucket, counts)
    SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[], $4::text[])
    ON CONFLICT (token_id) DO UPDATE SET window_ms = excluded.window_ms, bucket = excluded.bucket, counts = excluded.counts`,
  // Insert, or take over an expired entry; an unexpired one makes no change (rowCount 0).
  rememberNonce: `INSERT INTO ${t.nonces} (token_id, nonce, expires_at) VALUES ($1, $2, $3)
    ON CONFLICT (token_id, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE ${t.nonces}.expires_at <= $4`,
  purgeNonces: `DELETE FROM ${t.nonces} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${t.nonces} WHERE expires_at <= $1 LIMIT $2))`,
  addUsage: `INSERT INTO ${t.usage} (token_id, hour, allowed, denied, credits)
    SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[])
    ON CONFLICT (token_id, hour) DO UPDATE SET allowed = ${t.usage}.allowed + excluded.allowed,
      denied = ${t.usage}.denied + excluded.denied, credits = ${t.usage}.credits + excluded.credits`,
  usageOf: `SELECT hour, allowed, denied, credits FROM ${t.usage} WHERE token_id = $1 AND hour >= $2 AND hour < $3`,
});

export type Statements = ReturnType<typeof statements>;

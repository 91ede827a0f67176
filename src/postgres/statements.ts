// Every statement of the PostgreSQL store. Values are always bound
// parameters; only table names (a checked prefix) are in the text. Ids are
// ordered with COLLATE "C" so listings do not depend on the database's locale
// (billing sums excepted: they page through the primary key, in its collation).
import type { TableNames } from "../store/sql/schema.js";

/**
 * How long a transaction holding one of the store's advisory locks may sit idle (waiting for the
 * client's next statement) before PostgreSQL ends it, ms: its statements follow one another at once,
 * so only a connection gone silent or a frozen process gets near it.
 */
export const LOCK_HOLDER_IDLE_MS = 5_000;

// The database's clock, epoch ms (credit lease expiry, billing run claims).
const DATABASE_NOW_MS = "(extract(epoch FROM clock_timestamp()) * 1000)::float8";
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

// What the leases of a token's pool still hold of its plan credits: granted, counted in its `used`, not
// yet reported (a block is spent as a balance is: its plan credits first, then its bought ones). The
// metering and adjustment paths read it with the credit row under the token's advisory lock, which
// lease reservations and returns (the writers of both) hold to their commit: a locked row read after
// waiting for a flat spend is its newest version while this sum is the statement's snapshot, and a
// flat spend changes no lease. The balance read (`creditRow`) takes no lock: one statement, one
// snapshot, in which a reservation or return has committed `used` and its lease row together or not.
const leased = (t: TableNames, key: string) =>
  `(SELECT COALESCE(SUM(GREATEST(0, granted - bought - reported)), 0) FROM ${t.leases} WHERE token_id = ${key}) AS leased`;

// The usage rows of a token or an owner (`column`), summed per bucket and group on the server.
const usageOf = (t: TableNames, column: "token_id" | "owner") =>
  `SELECT MAX(minute) AS minute, CASE WHEN $5::boolean THEN token_id ELSE '' END AS token_id,
      CASE WHEN $6::boolean THEN scope ELSE '' END AS scope, CASE WHEN $7::boolean OR code = 'OK' THEN code ELSE '' END AS code,
      SUM(requests) AS requests, SUM(credits) AS credits
    FROM ${t.usageDetail} WHERE ${column} = $1 AND minute >= $2 AND minute < $3
      AND ($8::text IS NULL OR scope = $8::text) AND ($9::text IS NULL OR code = $9::text)
    GROUP BY floor(minute / $4::float8), 2, 3, 4`;

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
  // Flat credits in one statement, as spendCredits of the store kit: a first use is inserted only
  // when the cost fits the limit; on a row (a later use, or a top-up) the cost is granted only when
  // the plan's credits left (limit - used) and the bought ones hold it, even a cost above the limit,
  // and taken from the plan's first (the row lock orders concurrent spends); a row comes back
  // exactly when granted.
  // A request's spend: waits for the credit row (locked by a meter call or a lease's transaction) at most
  // $5 ms, `lock_timeout` set (for this statement's own transaction) by the subquery the row comes from.
  spendFlat: `INSERT INTO ${t.credits} AS c (token_id, used, bought, period_start) SELECT $1, $2::float8, 0, $3::float8
    FROM (SELECT set_config('lock_timeout', $5, true)) AS waited
    WHERE $2::float8 <= $4::float8 OR EXISTS (SELECT 1 FROM ${t.credits} WHERE token_id = $1)
    ON CONFLICT (token_id) DO UPDATE SET used = c.used + LEAST(excluded.used, GREATEST(0, $4::float8 - c.used)),
      bought = c.bought - (excluded.used - LEAST(excluded.used, GREATEST(0, $4::float8 - c.used))),
      period_start = COALESCE(c.period_start, excluded.period_start)
    WHERE excluded.used <= GREATEST(0, $4::float8 - c.used) + c.bought RETURNING used, bought`,
  creditsUsed: `SELECT used, bought FROM ${t.credits} WHERE token_id = $1`,
  // Leases, under the token's advisory lock: its credit row, created if absent and locked until commit
  // (a flat spend may run meanwhile), and `expires_in`: ms until the first of the token's leases expires by the database's clock (null: none).
  lockUsed: `INSERT INTO ${t.credits} (token_id, used, bought, period_start) VALUES ($1, 0, 0, NULL)
    ON CONFLICT (token_id) DO UPDATE SET used = ${t.credits}.used RETURNING used, bought,
      (SELECT MIN(expires_at) FROM ${t.leases} WHERE token_id = $1)::float8 - ${DATABASE_NOW_MS} AS expires_in`,
  // Under lockUsed: the period start is kept unless none was set yet.
  saveUsed: `INSERT INTO ${t.credits} (token_id, used, bought, period_start) VALUES ($1, $2, $3, $4)
    ON CONFLICT (token_id) DO UPDATE SET used = excluded.used, bought = excluded.bought,
      period_start = COALESCE(${t.credits}.period_start, excluded.period_start)`,
  // What a lease gives back (`back`), and of it what goes back to bought credits (`back_bought`: its
  // block's bought part, spent last). A lease expires by the database's clock, which every process
  // shares: a process whose clock is behind would else see its lease reclaimed while it still uses it.
  reclaimLeases: `DELETE FROM ${t.leases} WHERE token_id = $1 AND expires_at <= ${DATABASE_NOW_MS}
    RETURNING granted - reported AS back, LEAST(bought, granted - reported) AS back_bought`,
  // $5: the lease's time to live, ms.
  insertLease: `INSERT INTO ${t.leases} (id, token_id, granted, bought, reported, expires_at) VALUES ($1, $2, $3, $4, 0, ${DATABASE_NOW_MS} + $5)`,
  // With the token's balance outside every lease as the statement found it (not locked), for `remaining`.
  // Waits for the lease's row (a reclaim holding it) at most $3 ms (`lock_timeout`, as in spendFlat).
  reportLease: `UPDATE ${t.leases} l SET reported = $2 FROM (SELECT set_config('lock_timeout', $3, true)) AS waited WHERE id = $1
    RETURNING (SELECT used FROM ${t.credits} WHERE token_id = l.token_id) AS used, (SELECT bought FROM ${t.credits} WHERE token_id = l.token_id) AS bought`,
  returnLease: `DELETE FROM ${t.leases} WHERE id = $1 RETURNING granted - reported AS back, LEAST(bought, granted - reported) AS back_bought`,
  // One writer per token at a time, whether or not its counter rows exist yet (a row lock needs a row).
  // A lock holder whose connection goes silent (a reply lost on the way, its process frozen) would keep
  // the lock, and every instance's requests for that token or account waiting, for as long as the dead
  // connection stays open: its transaction left idle that long is ended by the server, which rolls it
  // back and releases the lock (only within this transaction: SET LOCAL).
  lockCounters: `SELECT pg_advisory_xact_lock(hashtextextended($1, 0)), set_config('idle_in_transaction_session_timeout', '${LOCK_HOLDER_IDLE_MS}', true)`,
  // The same for a request's meter call, which waits for the lock (and, for the rest of its transaction,
  // for any row lock) at most $2 ms: `lock_timeout` is set first, by the subquery the lock is taken from.
  meterLock: `SELECT pg_advisory_xact_lock(hashtextextended($1, 0)), set_config('idle_in_transaction_session_timeout', '${LOCK_HOLDER_IDLE_MS}', true)
    FROM (SELECT set_config('lock_timeout', $2, true)) AS waited`,
  // A token's counters, under its advisory lock: the credit row also locked, since flat spends take
  // only that lock; with what the pool's leases hold (store.ts, setAside).
  counters: `SELECT c.used, c.bought, c.period_start, r.window_ms, r.bucket, r.counts, ${leased(t, "$1")} FROM (SELECT 1) one
    LEFT JOIN (SELECT used, bought, period_start FROM ${t.credits} WHERE token_id = $1 FOR UPDATE) c ON true
    LEFT JOIN ${t.rateLimits} r ON r.token_id = $1`,
  // The first write of a credit row that was absent when read, only if it still is (a flat spend
  // may have created it meanwhile); a row comes back when inserted.
  claimCreditRow: `INSERT INTO ${t.credits} (token_id, used, bought, period_start) VALUES ($1, $2::float8, $3::float8, $4::float8)
    ON CONFLICT (token_id) DO NOTHING RETURNING 1`,
  saveCounters: `WITH c AS (INSERT INTO ${t.credits} (token_id, used, bought, period_start)
      SELECT $1, $2::float8, $7::float8, $3::float8 WHERE $2::float8 IS NOT NULL
      ON CONFLICT (token_id) DO UPDATE SET used = excluded.used, bought = excluded.bought, period_start = excluded.period_start),
    r AS (INSERT INTO ${t.rateLimits} (token_id, window_ms, bucket, counts)
      SELECT $1, $4::float8, $5::float8, $6::text WHERE $4::float8 IS NOT NULL
      ON CONFLICT (token_id) DO UPDATE SET window_ms = excluded.window_ms, bucket = excluded.bucket, counts = excluded.counts)
    SELECT 1`,
  // A balance read, without a lock: the credit row and what its leases hold, from one snapshot.
  creditRow: `SELECT used, bought, period_start, ${leased(t, "$1")} FROM ${t.credits} WHERE token_id = $1`,
  // Insert, or take over an expired entry; an unexpired one makes no change (rowCount 0). Waits for the row
  // (a concurrent insert of the nonce) at most $5 ms, `lock_timeout` set as in spendFlat.
  rememberNonce: `INSERT INTO ${t.nonces} (token_id, nonce, expires_at) SELECT $1, $2, $3::float8
    FROM (SELECT set_config('lock_timeout', $5, true)) AS waited
    ON CONFLICT (token_id, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE ${t.nonces}.expires_at <= $4`,
  // The purges below name their condition twice: the batch is read from the purge's snapshot, and a row of it that
  // another transaction took over meanwhile (a writer's new batch, a key claimed again once expired: a new `at`
  // or expiry) is checked again once that transaction commits (READ COMMITTED re-evaluates the DELETE's WHERE on
  // the row's new version), and kept. With the condition in the subquery alone, it was deleted: a batch or
  // request sent again under its key was then applied a second time.
  purgeWriters: `DELETE FROM ${t.usageWriters} WHERE writer = ANY(ARRAY(SELECT writer FROM ${t.usageWriters} WHERE at < $1 LIMIT $2)) AND at < $1`,
  purgeNonces: `DELETE FROM ${t.nonces} WHERE ctid = ANY(ARRAY(SELECT ctid FROM ${t.nonces} WHERE expires_at <= $1 LIMIT $2))`,
  // The idempotency key of a credit top-up or reset (see AccountStore.adjustCredits): taken when absent or
  // expired ($4: the retention's start), else no row (it waits for a concurrent insert of the key to settle).
  claimCreditKey: `INSERT INTO ${t.creditKeys} (key, request, at) VALUES ($1, $2, $3::float8)
    ON CONFLICT (key) DO UPDATE SET request = excluded.request, at = excluded.at WHERE ${t.creditKeys}.at <= $4::float8 RETURNING 1`,
  creditKeyOf: `SELECT request, at FROM ${t.creditKeys} WHERE key = $1`,
  // The idempotency key of a token creation (see IdempotentCreateStore.insertOnce): taken when absent or
  // expired at $5 (a row comes back), else left as it is (none does; waits for a transaction that holds it).
  claimCreateKey: `INSERT INTO ${t.createKeys} (key, request, token_id, expires_at) VALUES ($1, $2, $3, $4::float8)
    ON CONFLICT (key) DO UPDATE SET request = excluded.request, token_id = excluded.token_id, expires_at = excluded.expires_at
    WHERE ${t.createKeys}.expires_at <= $5::float8 RETURNING 1`,
  createKeyOf: `SELECT request, token_id, expires_at FROM ${t.createKeys} WHERE key = $1`,
  // As purgeWriters: a key claimed again between the batch's read and its delete is kept.
  purgeCreateKeys: `DELETE FROM ${t.createKeys} WHERE key = ANY(ARRAY(SELECT key FROM ${t.createKeys} WHERE expires_at <= $1 LIMIT $2)) AND expires_at <= $1`,
  purgeCreditKeys: `DELETE FROM ${t.creditKeys} WHERE key = ANY(ARRAY(SELECT key FROM ${t.creditKeys} WHERE at <= $1 LIMIT $2)) AND at <= $1`,
  addUsage: `INSERT INTO ${t.usage} (token_id, hour, allowed, denied, credits)
    SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[])
    ON CONFLICT (token_id, hour) DO UPDATE SET allowed = ${t.usage}.allowed + excluded.allowed,
      denied = ${t.usage}.denied + excluded.denied, credits = ${t.usage}.credits + excluded.credits`,
  usageOf: `SELECT hour, allowed, denied, credits FROM ${t.usage} WHERE token_id = $1 AND hour >= $2 AND hour < $3`,
  // Hour buckets ($1-$5), analytics rows ($6-$12), last uses ($13-$15), billing rows ($16-$20) and the text of the
  // billing owners whose key is a hash ($21-$22) of one batch, in one statement; each array is sorted by key, so two
  // concurrent batches lock rows in one order. With a writer ($23, its batch $24 at $25: UsageBatchKey), only when
  // that writer's last batch written is an earlier one: a batch written again (its reply lost) adds nothing.
  addUsageBatch: `WITH w AS (INSERT INTO ${t.usageWriters} (writer, seq, at) SELECT $23::text, $24::float8, $25::float8 WHERE $23::text IS NOT NULL
      ON CONFLICT (writer) DO UPDATE SET seq = excluded.seq, at = excluded.at WHERE ${t.usageWriters}.seq < excluded.seq RETURNING 1),
    go AS (SELECT 1 WHERE $23::text IS NULL OR EXISTS (SELECT 1 FROM w)),
    u AS (INSERT INTO ${t.usage} (token_id, hour, allowed, denied, credits)
      SELECT * FROM unnest($1::text[], $2::float8[], $3::float8[], $4::float8[], $5::float8[]) WHERE EXISTS (SELECT 1 FROM go)
      ON CONFLICT (token_id, hour) DO UPDATE SET allowed = ${t.usage}.allowed + excluded.allowed,
        denied = ${t.usage}.denied + excluded.denied, credits = ${t.usage}.credits + excluded.credits),
    d AS (INSERT INTO ${t.usageDetail} (token_id, owner, minute, scope, code, requests, credits)
      SELECT * FROM unnest($6::text[], $7::text[], $8::float8[], $9::text[], $10::text[], $11::float8[], $12::float8[]) WHERE EXISTS (SELECT 1 FROM go)
      ON CONFLICT (token_id, minute, scope, code) DO UPDATE SET requests = ${t.usageDetail}.requests + excluded.requests,
        credits = ${t.usageDetail}.credits + excluded.credits),
    l AS (INSERT INTO ${t.lastUsed} (token_id, at, ip) SELECT * FROM unnest($13::text[], $14::float8[], $15::text[]) WHERE EXISTS (SELECT 1 FROM go)
      ON CONFLICT (token_id) DO UPDATE SET at = excluded.at, ip = excluded.ip WHERE excluded.at >= ${t.lastUsed}.at),
    b AS (INSERT INTO ${t.billingUsage} (owner, pool, hour, requests, credits)
      SELECT * FROM unnest($16::text[], $17::text[], $18::float8[], $19::float8[], $20::float8[]) WHERE EXISTS (SELECT 1 FROM go)
      ON CONFLICT (owner, pool, hour) DO UPDATE SET requests = ${t.billingUsage}.requests + excluded.requests,
        credits = ${t.billingUsage}.credits + excluded.credits),
    k AS (INSERT INTO ${t.longKeys} (key, text) SELECT * FROM unnest($21::text[], $22::text[]) WHERE EXISTS (SELECT 1 FROM go) ON CONFLICT (key) DO NOTHING)
    SELECT 1`,
  // A query's rows summed per bucket ($4: its length, ms) in the database, filtered by scope ($8)
  // and code ($9) when not null, and split by token ($5), scope ($6) and code ($7) only when the
  // query groups or filters by them (else '': allowed and denied requests apart, code 'OK' or ''):
  // at most twice as many rows as the answer's buckets reach JavaScript (rollUpRows).
  rowsOfToken: usageOf(t, "token_id"),
  rowsOfOwner: usageOf(t, "owner"),
  lastUsedOf: `SELECT token_id, at, ip FROM ${t.lastUsed} WHERE token_id = ANY($1::text[])`,
  // Anomaly state: distinct sightings in key order; each row answers the time it held before
  // (prev_at, set under the row lock), null when this statement inserted it.
  touchSeen: `INSERT INTO ${t.anomalySeen} (token_id, kind, value, seen_at, prev_at)
    SELECT *, NULL::float8 FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[])
    ON CONFLICT (token_id, kind, value) DO UPDATE SET prev_at = ${t.anomalySeen}.seen_at,
      seen_at = GREATEST(${t.anomalySeen}.seen_at, excluded.seen_at)
    RETURNING token_id, kind, value, CASE WHEN xmax = 0 THEN NULL ELSE prev_at END AS prev`,
  // Keeps the $3 most recently seen values of each given kind of each given token.
  trimSeen: `DELETE FROM ${t.anomalySeen} s USING (
      SELECT token_id, kind, value, row_number() OVER (PARTITION BY token_id, kind ORDER BY seen_at DESC, value COLLATE "C") AS n
      FROM ${t.anomalySeen} WHERE (token_id, kind) IN (SELECT * FROM unnest($1::text[], $2::text[]))) old
    WHERE old.n > $3 AND s.token_id = old.token_id AND s.kind = old.kind AND s.value = old.value`,
  // Billing: spend summed per owner and pool; a run claimed by one statement (a pending claim
  // older than $5 is taken over), so of concurrent claims at most one gets its own claim back.
  // A page of the sums (at most the last parameter; NULL: all), strictly after an owner and pool, by
  // owner then pool in the columns' own collation (the database's), not "C": a row comparison in it is
  // a range of the primary key (owner, pool, hour), and the index is read from there, a page's rows only.
  billingOfOwner: `SELECT owner, pool, SUM(requests) AS requests, SUM(credits) AS credits FROM ${t.billingUsage}
    WHERE owner = $1 AND (owner, pool) > ($4, $5) AND hour >= $2 AND hour < $3
    GROUP BY owner, pool ORDER BY owner, pool LIMIT $6`,
  billingOfAll: `SELECT owner, pool, SUM(requests) AS requests, SUM(credits) AS credits FROM ${t.billingUsage}
    WHERE (owner, pool) > ($3, $4) AND hour >= $1 AND hour < $2
    GROUP BY owner, pool ORDER BY owner, pool LIMIT $5`,
  longKeyTexts: `SELECT key, text FROM ${t.longKeys} WHERE key = ANY($1::text[])`,
  billingRunOverlaps: `SELECT 1 FROM ${t.billingRuns} WHERE owner = $1 AND period <> $2 AND from_ms < $4 AND to_ms > $3 LIMIT 1`,
  // A claim is stamped and aged ($4: how old a stale one is, ms) by the database's clock, which every server
  // shares: one whose clock is behind would else take over a live claim (and bill it twice), one ahead keep a dead one.
  claimBillingRun: `INSERT INTO ${t.billingRuns} (owner, period, status, claim, claimed_at, from_ms, to_ms) VALUES ($1, $2, 'pending', $3, ${DATABASE_NOW_MS}, $5, $6)
    ON CONFLICT (owner, period) DO UPDATE SET claim = excluded.claim, claimed_at = excluded.claimed_at
      WHERE ${t.billingRuns}.status = 'pending' AND ${t.billingRuns}.claimed_at < excluded.claimed_at - $4::float8
    RETURNING claim`,
  billingRunStatus: `SELECT status FROM ${t.billingRuns} WHERE owner = $1 AND period = $2`,
  billingRunDone: `UPDATE ${t.billingRuns} SET status = 'done', record = $1 WHERE owner = $2 AND period = $3 AND claim = $4 AND status = 'pending'`,
  billingRunFailed: `DELETE FROM ${t.billingRuns} WHERE owner = $1 AND period = $2 AND claim = $3 AND status = 'pending'`,
  // Accounts: the record under an advisory lock per owner (a first put has no row to lock).
  accountOf: `SELECT record FROM ${t.accounts} WHERE owner = $1`,
  // $1 channel, $2 payloads, $3.. account, $6.. audit.
  saveAccount: `WITH a AS (INSERT INTO ${t.accounts} (owner, revision, record) VALUES ($3, $4, $5)
      ON CONFLICT (owner) DO UPDATE SET revision = excluded.revision, record = excluded.record),
    au AS (${auditInsert(t, 6)})
    ${notify("$2")}`,
  // Every counter of a metered request in one read, under the advisory locks: the token's credit row
  // ($1, locked against flat spends) with what its leases hold, its rate rows ($2), the account's
  // credit row ($3) and rate row ($4); JSON, null when absent.
  meterRows: `SELECT
    (SELECT row_to_json(c) FROM (SELECT used, bought, period_start FROM ${t.credits} WHERE token_id = $1 FOR UPDATE) c) AS credit,
    ${leased(t, "$1")},
    (SELECT json_agg(r) FROM (SELECT token_id, window_ms, bucket, counts FROM ${t.rateLimits} WHERE token_id = ANY($2::text[])) r) AS rates,
    (SELECT row_to_json(a) FROM (SELECT used, bought, period_start FROM ${t.accountCredits} WHERE owner = $3) a) AS account_credit,
    (SELECT row_to_json(b) FROM (SELECT window_ms, bucket, counts FROM ${t.accountRateLimits} WHERE owner = $4) b) AS account_rate`,
  // Every changed counter in one write (a null value leaves its row as it is).
  saveMeterRows: `WITH c AS (INSERT INTO ${t.credits} (token_id, used, bought, period_start)
      SELECT $1, $2::float8, $15::float8, $3::float8 WHERE $2::float8 IS NOT NULL
      ON CONFLICT (token_id) DO UPDATE SET used = excluded.used, bought = excluded.bought, period_start = excluded.period_start),
    r AS (INSERT INTO ${t.rateLimits} (token_id, window_ms, bucket, counts)
      SELECT * FROM unnest($4::text[], $5::float8[], $6::float8[], $7::text[])
      ON CONFLICT (token_id) DO UPDATE SET window_ms = excluded.window_ms, bucket = excluded.bucket, counts = excluded.counts),
    ac AS (INSERT INTO ${t.accountCredits} (owner, used, bought, period_start)
      SELECT $8, $9::float8, $16::float8, $10::float8 WHERE $9::float8 IS NOT NULL
      ON CONFLICT (owner) DO UPDATE SET used = excluded.used, bought = excluded.bought, period_start = excluded.period_start),
    ar AS (INSERT INTO ${t.accountRateLimits} (owner, window_ms, bucket, counts)
      SELECT $11, $12::float8, $13::float8, $14::text WHERE $12::float8 IS NOT NULL
      ON CONFLICT (owner) DO UPDATE SET window_ms = excluded.window_ms, bucket = excluded.bucket, counts = excluded.counts)
    SELECT 1`,
  accountCreditOf: `SELECT used, bought, period_start FROM ${t.accountCredits} WHERE owner = $1`,
  saveAccountCredit: `WITH c AS (INSERT INTO ${t.accountCredits} (owner, used, bought, period_start) VALUES ($1, $2::float8, $3::float8, $4::float8)
      ON CONFLICT (owner) DO UPDATE SET used = excluded.used, bought = excluded.bought, period_start = excluded.period_start),
    au AS (${auditInsert(t, 5)})
    SELECT 1`,
  // A token's credit row for an admin change, under its advisory lock, locked against flat spends
  // (created when absent, then "fresh"), with what its leases hold.
  lockCreditRow: `INSERT INTO ${t.credits} (token_id, used, bought, period_start) VALUES ($1, 0, 0, NULL)
    ON CONFLICT (token_id) DO UPDATE SET used = ${t.credits}.used RETURNING used, bought, period_start, (xmax = 0) AS fresh, ${leased(t, "$1")}`,
  saveCreditAudited: `WITH c AS (UPDATE ${t.credits} SET used = $2::float8, bought = $3::float8, period_start = $4::float8 WHERE token_id = $1),
    au AS (${auditInsert(t, 5)})
    SELECT 1`,
  // Hard delete, under the token's row lock and advisory lock: the token, its hashes, and every row
  // under its id or its composite counter keys ("<id>U+001F…"), with the audit entry and the announcement.
  deleteToken: `WITH tok AS (DELETE FROM ${t.tokens} WHERE id = $3),
    hs AS (DELETE FROM ${t.hashes} WHERE token_id = $3 RETURNING 1),
    cr AS (DELETE FROM ${t.credits} WHERE token_id = $3 OR starts_with(token_id, $3 || chr(31)) RETURNING 1),
    rl AS (DELETE FROM ${t.rateLimits} WHERE token_id = $3 OR starts_with(token_id, $3 || chr(31)) RETURNING 1),
    nc AS (DELETE FROM ${t.nonces} WHERE token_id = $3 RETURNING 1),
    us AS (DELETE FROM ${t.usage} WHERE token_id = $3 RETURNING 1),
    ud AS (DELETE FROM ${t.usageDetail} WHERE token_id = $3),
    lu AS (DELETE FROM ${t.lastUsed} WHERE token_id = $3),
    ls AS (DELETE FROM ${t.leases} WHERE token_id = $3 OR starts_with(token_id, $3 || chr(31))),
    an AS (DELETE FROM ${t.anomalySeen} WHERE token_id = $3),
    au AS (${auditInsert(t, 4)}),
    n AS (${notify("$2")})
    SELECT (SELECT count(*) FROM hs) AS hashes, (SELECT count(*) FROM cr) AS credits, (SELECT count(*) FROM rl) AS rate_limits,
      (SELECT count(*) FROM nc) AS nonces, (SELECT count(*) FROM us) AS usage, (SELECT count(*) FROM n) AS notified`,
});

export type Statements = ReturnType<typeof statements>;

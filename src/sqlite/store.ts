// The SQLite store: storage and atomicity over a synchronous SQLite
// connection. Each write primitive is one statement or one BEGIN IMMEDIATE
// transaction (the write lock is taken first, so the reads inside see what
// the write will replace); a method body never awaits, so calls on one
// connection never interleave.
import {
  ConfigError,
  InvalidInputError,
  KeywardError,
  StoreUnavailableError,
  TokenExistsError,
  TokenNotFoundError,
} from "../errors.js";
import { nextTurn } from "../lib/turn.js";
import type { StoredAccount } from "../model/account.js";
import { hashesOf } from "../model/record.js";
import type { AuditEntry, StoredToken, UsageBucket, UsageEvent } from "../model/types.js";
import { adjustCredits, CREDIT_KEY_RETENTION_MS, type CreditChange, creditKeyReplayed, creditRequestText } from "../store/kit/account-credits.js";
import { createKeyReplayed, createKeyText } from "../store/kit/create-keys.js";
import { putAccountRecord } from "../store/kit/accounts.js";
import { type BillingKey, billingRowsOf } from "../store/kit/billing.js";
import { type CreditState, creditState, creditsLeft } from "../store/kit/credits.js";
import { meterStep, poolKey, rateKey } from "../store/kit/meter.js";
import type { PageQuery } from "../store/kit/page.js";
import type { RateWindowState } from "../store/kit/rate-window.js";
import { revokeAudit, revokedRecord, updatedRecord } from "../store/kit/records.js";
import {
  analyticsOf,
  bucketMsOf,
  type LastUsed,
  type UsageAnalyticsQuery,
  type UsageDetailRow,
  UsageRollUp,
  type UsageSeriesBucket,
} from "../store/kit/usage-analytics.js";
import { addUsage, batchTime, rollUpUsage, USAGE_WRITER_RETENTION_MS, type UsageCounts } from "../store/kit/usage-buckets.js";
import { type DecodeRecord, SHARED_READS, type SharedReads } from "../store/shared-reads.js";
import {
  checkSchemaVersion,
  checkTablePrefix,
  createdAfter,
  MIGRATIONS,
  migrationsTable,
  refuseForeignTables,
  SCHEMA_VERSION,
  type SqlDialect,
  type TableNames,
  tableNames,
} from "../store/sql/schema.js";
import type {
  AuditFilter,
  BillingClaim,
  BillingRunKey,
  BillingUsage,
  BillingUsageQuery,
  CreateKey,
  CreditAdjustment,
  CreditResult,
  DeletedToken,
  InsertOnceResult,
  MeterRequest,
  MeterResult,
  NonceKey,
  SeenEntry,
  StoreCapabilities,
  TokenStore,
  UsageBatchKey,
  UsageQuery,
} from "../store/types.js";
import { isBusy, noRowAsUndefined, type SqliteDatabase, type SqliteStatement, type SqliteValue } from "./driver.js";
import { prepareStatements, type Statements } from "./statements.js";
import { WalBound } from "./wal.js";

/** Options of {@link sqliteStore}. */
export interface SqliteStoreOptions {
  /** Prefix of every table name (default `"keyward_"`), `/^[A-Za-z_][A-Za-z0-9_]{0,31}$/`. */
  tablePrefix?: string | undefined;
  /**
   * `PRAGMA synchronous` (default `"NORMAL"`): with WAL, a commit survives a
   * crash of the process, and a power loss may lose the last commits (never
   * corrupt the file). `"FULL"` syncs every commit to disk: durable across
   * power loss, and much slower (see docs/benchmarks.md).
   */
  synchronous?: "NORMAL" | "FULL" | undefined;
  /**
   * How long an admin write (`insert`, `update`, `revoke`, accounts,
   * credits, billing…) or the opening (the switch to WAL, a migration) waits for another process's write
   * lock, ms (default 5 000), per attempt: a write still locked out is retried up to 3 times, so it
   * can wait up to 4 times this in all. A wait blocks the whole process (the driver is synchronous).
   * An audit entry appended alone (`appendAudit`) waits `requestBusyTimeoutMs`.
   */
  busyTimeoutMs?: number | undefined;
  /**
   * How long a call of the request path waits for another process's write
   * lock, ms (default 100): lookups, `meter`, `rememberNonce`, and the writes
   * of the usage flush, the anomaly detector and `appendAudit` (the verifier's
   * report of a token seen in a URL). A wait blocks the whole
   * process, every other request with it; past this the call fails
   * (`STORE_UNAVAILABLE`: the request is denied, usage events stay queued
   * for the next flush). Keep it well below `lookupTimeoutMs`, which cannot
   * cut this wait off (its clock runs once the synchronous call returns):
   * `new Keyward` warns through `onWarning`
   * (`STORE_WAIT_EXCEEDS_LOOKUP_TIMEOUT`) when it is not below.
   */
  requestBusyTimeoutMs?: number | undefined;
  /** Run pending migrations when the store is created (default true). When false, an outdated schema throws. */
  migrate?: boolean | undefined;
  /**
   * The WAL file's bound, bytes (default 64 MiB; 0 turns it off). SQLite
   * starts `keyward.db-wal` over only when no read is inside it, and with
   * several processes busy on the file there nearly always is one: the WAL
   * grows with every write. Every 32 calls of the store, this process looks
   * at its size; past the bound, it runs `PRAGMA wal_checkpoint(TRUNCATE)`,
   * which holds the write lock, copies the WAL into the database and empties
   * it once the reads inside it end. That blocks the process at most about
   * twice `requestBusyTimeoutMs` (the checkpoint lock, then the readers),
   * plus the copy; one that cannot empty the WAL (a read held open: a
   * backup, a report) is tried again 1 s later, then 2 s… up to 32 s, and
   * never fails a call. One process at a time runs it (SQLite's checkpoint lock).
   * A store that may not read the WAL file (a permission model that granted
   * the database file only: Deno's `--allow-read=keyward.db`, Node's
   * `--permission`) cannot keep the bound and refuses to start
   * (`INVALID_CONFIG` naming this option) unless it is 0.
   */
  walCheckpointBytes?: number | undefined;
}

/** SQLite in keyward's schema. */
export const SQLITE_DIALECT: SqlDialect = { int: "INTEGER", keyTable: " WITHOUT ROWID" };

/**
 * @internal Transactions retried on SQLITE_BUSY, before answering STORE_UNAVAILABLE:
 * an admin write after each busy timeout; a call of the request path only
 * while within its own (a busy answered at once, as a stale snapshot gets).
 */
export const BUSY_RETRIES = 3;
/**
 * Expired nonces (idle usage writers, expired credit idempotency keys) deleted per purge; a purge runs every
 * PURGE_EVERY nonce calls (usage batches; every keyed credit top-up or reset).
 */
const PURGE_BATCH = 64;
const PURGE_EVERY = 64;
/**
 * Rows a long read reads per synchronous step before the event loop gets a
 * turn (a step is about a millisecond): usage analytics exactly that many at
 * most, billing about as many (a step ends after the first owner and pool past it).
 */
const READ_STEP_ROWS = 2000;

interface TokenRow {
  record: string;
}

/**
 * Applies every pending migration of keyward's schema, all in one BEGIN
 * IMMEDIATE transaction with the rows that record them: idempotent, safe when
 * several processes run it at once (it waits up to `busyTimeoutMs` for
 * another's write lock, the connection's own busy timeout set back after),
 * and a failure (or a crash) leaves the schema as it was. Writes nothing when
 * the schema is up to date.
 *
 * @param db - a SQLite connection.
 * @param options - `tablePrefix` (default `"keyward_"`), `busyTimeoutMs` (default 5 000).
 * @returns the schema version now in the database.
 * @throws {StoreUnavailableError} `STORE_UNAVAILABLE` naming both versions when the database's schema is newer than this library's;
 *   with the driver's code (`driverCode`) when SQLite fails it (the write lock still held after `busyTimeoutMs`, a read-only
 *   file, a full disk).
 * @throws {ConfigError} `INVALID_CONFIG` (`field` `tablePrefix`), with nothing written, when a table or index a pending version would create is there and is not keyward's.
 * @example
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 * import { migrate } from "keyward/sqlite";
 * migrate(new DatabaseSync("keyward.db"));
 * ```
 */
export function migrate(db: SqliteDatabase, options: Pick<SqliteStoreOptions, "tablePrefix" | "busyTimeoutMs"> = {}): number {
  const t = tableNames(checkTablePrefix(options.tablePrefix));
  const waitMs = checkWhole("busyTimeoutMs", options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
  try {
    const own = (db.prepare("PRAGMA busy_timeout").get() as { timeout: number }).timeout;
    db.exec(`PRAGMA busy_timeout = ${waitMs}`);
    try {
      // A busy answer SQLite gives without waiting is retried, only within the wait: an attempt may wait all of it.
      return withBusyRetry(() => {
        if (schemaVersion(db, t) === SCHEMA_VERSION) return SCHEMA_VERSION;
        return transaction(execControl(db), () => {
          db.exec(migrationsTable(t, SQLITE_DIALECT));
          // Another process may have migrated meanwhile: read again under the write lock.
          const version = schemaVersion(db, t);
          for (const m of MIGRATIONS) {
            if (m.version <= version) continue;
            for (const sql of m.up(t, SQLITE_DIALECT)) db.exec(sql);
            db.prepare(`INSERT INTO ${t.migrations} (version, name, applied_at) VALUES (?, ?, ?)`).run(m.version, m.name, Date.now());
          }
          return SCHEMA_VERSION;
        });
      }, waitMs);
    } finally {
      db.exec(`PRAGMA busy_timeout = ${Number(own)}`);
    }
  } catch (err) {
    throw startupError("cannot migrate the SQLite store", err);
  }
}

/** @internal Default `busyTimeoutMs`: how long an admin write waits for the write lock. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5_000;

/** @internal Default `requestBusyTimeoutMs`: how long a call of the request path waits for the write lock. */
export const DEFAULT_REQUEST_BUSY_TIMEOUT_MS = 100;

/** @internal Default `walCheckpointBytes`: past `journal_size_limit`, where a WAL SQLite restarts is cut back to. */
export const DEFAULT_WAL_CHECKPOINT_BYTES = 64 * 1024 * 1024;

/**
 * `PRAGMA journal_size_limit`, bytes: the size a WAL file is cut back to when
 * SQLite starts it over. Above what it reaches between two automatic
 * checkpoints (1 000 pages, about 4 MiB), so a steady load never truncates it.
 */
const WAL_SIZE_LIMIT = 16 * 1024 * 1024;

/** A wait (ms) or size (bytes) option, checked: a non-negative integer. */
function checkWhole(name: string, value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) throw new ConfigError(name, "must be a non-negative integer");
  return value as number;
}

/** What a failure to open or migrate says: keyward's own error as it is, a driver's as STORE_UNAVAILABLE with its code. */
function startupError(what: string, err: unknown): KeywardError {
  if (err instanceof KeywardError) return err;
  const { code, errcode } = (err ?? {}) as { code?: unknown; errcode?: unknown };
  const driverCode = typeof errcode === "number" ? String(errcode) : typeof code === "string" ? code : undefined;
  return new StoreUnavailableError(`${what}: ${(err as Error)?.message ?? "unknown error"}`, driverCode === undefined ? undefined : { driverCode });
}

/**
 * The schema version in the database (0 without keyward's migrations
 * table), read without writing anything.
 *
 * @throws {StoreUnavailableError} when it is newer than this library's.
 * @throws {ConfigError} when a table or index that a pending version creates is there already.
 */
function schemaVersion(db: SqliteDatabase, t: TableNames): number {
  // SQLite's names are case-insensitive (ASCII): "App_tokens" is "app_tokens".
  const names = new Set(
    (db.prepare("SELECT lower(name) AS name FROM sqlite_master").all() as { name: string }[]).map((r) => r.name),
  );
  const version = names.has(t.migrations.toLowerCase()) ? currentVersion(db, t) : 0;
  refuseForeignTables(createdAfter(version, t, SQLITE_DIALECT).filter((name) => names.has(name.toLowerCase())));
  return version;
}

function currentVersion(db: SqliteDatabase, t: TableNames): number {
  const row = db.prepare(`SELECT MAX(version) AS v FROM ${t.migrations}`).get() as { v: number | bigint | null } | undefined;
  return checkSchemaVersion(Number(row?.v ?? 0));
}

/**
 * Throws when the connection cannot write: SQLite opens a file this user may
 * read and not write (another user's, a read-only mount) read-only without a
 * word, and every write after it would fail, each metered request denied.
 * A write of no row tells at once: SQLite refuses it (SQLITE_READONLY) before
 * it asks for the write lock, so a busy answer (another process writing)
 * means a file this one can write too, and the probe does not wait for it.
 */
function assertWritable(db: SqliteDatabase, t: TableNames): void {
  db.exec("PRAGMA busy_timeout = 0");
  try {
    db.exec(`DELETE FROM ${t.migrations} WHERE 0`);
  } catch (err) {
    if (!isBusy(err)) throw err;
  }
}

/** A pause of 5 ms between tries of the switch to WAL (`Atomics.wait` on a buffer of its own). */
const WAL_SWITCH_PAUSE = new Int32Array(new SharedArrayBuffer(4));

/**
 * Sets WAL mode. From rollback-journal mode (a new file, another program's)
 * the switch needs the file's exclusive lock. SQLite asks for it without
 * its busy handler when another connection holds the write lock (it failed
 * at once), with it when another only reads (each try waits the busy
 * timeout). Tried again, every 5 ms, until `waitMs` has passed and at least
 * as often as {@link withBusyRetry} tries a transaction.
 */
function toWal(db: SqliteDatabase, waitMs: number): void {
  const start = performance.now();
  for (let attempt = 0; ; attempt++) {
    try {
      db.exec("PRAGMA journal_mode = WAL");
      return;
    } catch (err) {
      if (!isBusy(err) || (attempt >= BUSY_RETRIES && performance.now() - start >= waitMs)) throw err;
    }
    Atomics.wait(WAL_SWITCH_PAUSE, 0, 0, 5);
  }
}

/** How a transaction is begun, committed and rolled back: prepared statements, or `exec` for migrations. */
interface TransactionControl {
  begin(): unknown;
  commit(): unknown;
  rollback(): unknown;
}

const execControl = (db: SqliteDatabase): TransactionControl => ({
  begin: () => db.exec("BEGIN IMMEDIATE"),
  commit: () => db.exec("COMMIT"),
  rollback: () => db.exec("ROLLBACK"),
});

/** Runs `body` in a transaction; a failure, of `body` or of the COMMIT (which may leave the transaction open), rolls it back. */
function transaction<T>(tx: TransactionControl, body: () => T): T {
  tx.begin();
  try {
    const result = body();
    tx.commit();
    return result;
  } catch (err) {
    try {
      tx.rollback();
    } catch {
      // SQLite may have rolled back already (e.g. after SQLITE_FULL); the error that matters is `err`.
    }
    throw err;
  }
}

/** Runs `body`, again on SQLITE_BUSY (up to BUSY_RETRIES times), while less than `budgetMs` has passed. */
function withBusyRetry<T>(body: () => T, budgetMs = Number.POSITIVE_INFINITY): T {
  const start = budgetMs === Number.POSITIVE_INFINITY ? 0 : performance.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return body();
    } catch (err) {
      if (attempt >= BUSY_RETRIES || err instanceof KeywardError || !isBusy(err)) throw err;
      if (start !== 0 && performance.now() - start >= budgetMs) throw err;
    }
  }
}

/**
 * A {@link TokenStore} in a SQLite database (see {@link sqliteStore}).
 * No change feed: another process's revocation reaches this one's cache
 * within `revocationBoundMs`.
 */
export class SqliteStore implements TokenStore {
  /** `changeFeed` and `creditLeases` false, every optional part true; `blockingWaitMs`: `requestBusyTimeoutMs`. */
  readonly capabilities: StoreCapabilities;
  readonly #db: SqliteDatabase;
  readonly #t: TableNames;
  #s!: Statements;
  readonly #ownsDb: boolean;
  /** The request path's busy timeout, ms: the connection's, but while an admin write runs. */
  readonly #requestWaitMs: number;
  /** An admin write's busy timeout, ms (`busyTimeoutMs`). */
  readonly #adminWaitMs: number;
  /** The WAL's bound; null for a database without a WAL file or with `walCheckpointBytes: 0`. */
  #wal: WalBound | null = null;
  #nonceCalls = 0;
  /** Usage batches with a key written, for the purge of idle writers. */
  #batches = 0;
  readonly #control: TransactionControl = {
    begin: () => this.#s.begin.run(),
    commit: () => this.#s.commit.run(),
    rollback: () => this.#s.rollback.run(),
  };

  /**
   * @internal Use {@link sqliteStore}. `mustWrite`: refuse a file SQLite could open read-only only (a path that did
   * not ask for read-only); a connection given is used as it was opened, a read-only one for reads.
   */
  constructor(db: SqliteDatabase, options: SqliteStoreOptions, ownsDb: boolean, mustWrite = false) {
    const prefix = checkTablePrefix(options.tablePrefix);
    const { synchronous = "NORMAL", migrate: runMigrations = true } = options;
    if (synchronous !== "NORMAL" && synchronous !== "FULL") throw new ConfigError("synchronous", 'must be "NORMAL" or "FULL"');
    const busyTimeoutMs = checkWhole("busyTimeoutMs", options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
    const requestBusyTimeoutMs = checkWhole("requestBusyTimeoutMs", options.requestBusyTimeoutMs ?? DEFAULT_REQUEST_BUSY_TIMEOUT_MS);
    const walCheckpointBytes = checkWhole("walCheckpointBytes", options.walCheckpointBytes ?? DEFAULT_WAL_CHECKPOINT_BYTES);
    this.#requestWaitMs = requestBusyTimeoutMs;
    this.capabilities = Object.freeze({
      changeFeed: false,
      creditLeases: false,
      accounts: true,
      usageAnalytics: true,
      hardDelete: true,
      anomalyState: true,
      billing: true,
      idempotentCreate: true,
      blockingWaitMs: requestBusyTimeoutMs,
    });
    this.#adminWaitMs = busyTimeoutMs;
    if (typeof runMigrations !== "boolean") throw new ConfigError("migrate", "must be a boolean");
    this.#ownsDb = ownsDb;
    this.#t = tableNames(prefix);
    try {
      db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
      // Preparing the probe reads the schema: it may wait for another process's migration, as the next read does.
      const given = db;
      db = withBusyRetry(() => noRowAsUndefined(given));
      this.#db = db;
      // Read before anything is written: a database refused is left as it was (WAL mode is a lasting change).
      const version = withBusyRetry(() => schemaVersion(db, this.#t));
      if (version !== SCHEMA_VERSION && !runMigrations) {
        throw new StoreUnavailableError(`database schema version ${version}, expected ${SCHEMA_VERSION}: run migrate()`);
      }
      toWal(db, busyTimeoutMs);
      db.exec(`PRAGMA synchronous = ${synchronous}`);
      // A WAL grown while a reader held its snapshot is cut back once checkpointed, not kept at its largest for as long
      // as the connection is open (SQLite's default); a limit the connection was given is kept.
      const limit = db.prepare("PRAGMA journal_size_limit").get() as { journal_size_limit: number | bigint } | undefined;
      if (Number(limit?.journal_size_limit ?? -1) < 0) db.exec(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT}`);
      // Before the migrations: a bound it cannot keep is refused with no table written.
      this.#wal = WalBound.of(db, walCheckpointBytes, requestBusyTimeoutMs);
      if (version !== SCHEMA_VERSION) migrate(db, { tablePrefix: prefix, busyTimeoutMs });
      if (mustWrite) assertWritable(db, this.#t);
      this.#s = prepareStatements(db, this.#t);
      this.#setWait(requestBusyTimeoutMs);
    } catch (err) {
      throw startupError("cannot open the SQLite store", err);
    }
  }

  /** An admin write: a transaction that waits up to `busyTimeoutMs` for the write lock, retried. */
  #tx<T>(body: () => T): Promise<T> {
    this.#setWait(this.#adminWaitMs);
    try {
      return Promise.resolve(withBusyRetry(() => transaction(this.#control, body)));
    } catch (err) {
      return Promise.reject(err);
    } finally {
      this.#setWait(this.#requestWaitMs);
      this.#wal?.notice();
    }
  }

  /**
   * Sets the connection's busy timeout, executed each time: SQLite applies
   * `PRAGMA busy_timeout` when it compiles the statement, so the first run of
   * one prepared earlier changes nothing (the first admin write after opening
   * waited the request path's timeout).
   */
  #setWait(ms: number): void {
    this.#db.exec(`PRAGMA busy_timeout = ${ms}`);
  }

  /** A transaction of the request path: within `requestBusyTimeoutMs`. */
  #quickTx<T>(body: () => T): Promise<T> {
    return this.#read(() => transaction(this.#control, body));
  }

  /** A read, or a write of one statement, of the request path: within `requestBusyTimeoutMs`. */
  #read<T>(body: () => T): Promise<T> {
    try {
      return Promise.resolve(withBusyRetry(body, this.#requestWaitMs));
    } catch (err) {
      return Promise.reject(err);
    } finally {
      this.#wal?.notice();
    }
  }

  insert(token: StoredToken, audit?: AuditEntry): Promise<void> {
    return this.#tx(() => this.#insertRows(token, audit));
  }

  /**
   * Inserts `token` with its idempotency key in one transaction, or answers
   * the token an earlier call made under the key (see
   * `IdempotentCreateStore.insertOnce`); every keyed insert also
   * deletes up to 64 expired keys.
   */
  insertOnce(token: StoredToken, key: CreateKey, now: number, audit?: AuditEntry): Promise<InsertOnceResult> {
    const s = this.#s;
    const text = createKeyText(token.owner, key);
    return this.#tx(() => {
      const row = s.createKeyOf.get(text) as { request: string; token_id: string; expires_at: number } | undefined;
      const found = row && { request: row.request, tokenId: JSON.parse(row.token_id) as string, expiresAt: row.expires_at };
      const replayed = createKeyReplayed(found, key, now);
      if (replayed !== null) return { tokenId: replayed, replayed: true };
      this.#insertRows(token, audit);
      s.saveCreateKey.run(text, key.request, JSON.stringify(token.id), key.expiresAt);
      // Housekeeping, as for nonces (creations are few: at every keyed one).
      s.purgeCreateKeys.run(now, PURGE_BATCH);
      return { tokenId: token.id, replayed: false };
    });
  }

  #insertRows(token: StoredToken, audit: AuditEntry | undefined): void {
    if (this.#s.tokenExists.get(token.id)) throw new TokenExistsError();
    const hashes = hashesOf(token);
    this.#assertHashesFree(hashes, null);
    this.#assertAuditFree(audit);
    this.#s.insertToken.run(
      token.id,
      token.owner,
      token.createdAt,
      token.revision,
      JSON.stringify(token),
    );
    for (const h of hashes) this.#s.insertHash.run(h, token.id);
    if (audit) this.#writeAudit(audit);
  }

  #assertHashesFree(hashes: string[], self: string | null): void {
    const holder = this.#s.hashHolder;
    for (const h of hashes) {
      const row = holder.get(h) as { token_id: string } | undefined;
      if (row && row.token_id !== self) throw new TokenExistsError();
    }
  }

  #assertAuditFree(audit: AuditEntry | undefined): void {
    if (audit && this.#s.auditExists.get(audit.id)) {
      throw new InvalidInputError("audit.id", "already used");
    }
  }

  #writeAudit(e: AuditEntry): void {
    this.#s.insertAudit.run(
      e.id,
      e.tokenId,
      e.owner,
      e.at,
      JSON.stringify(e),
    );
  }

  get(id: string): Promise<StoredToken | null> {
    return this.#read(() => parseToken(this.#s.tokenById.get(id)));
  }

  findByHash(hash: string): Promise<StoredToken | null> {
    return this.#read(() =>
      parseToken(
        this.#s.tokenByHash.get(hash),
      ),
    );
  }

  /**
   * @internal The verifier's reads: the same statements, answered at once
   * (the driver is synchronous), each row's text decoded by the verifier's
   * `decode`, which does not decode again a text it has decoded before. Null when a subclass overrides a read.
   */
  [SHARED_READS](): SharedReads | null {
    const own = SqliteStore.prototype;
    if (this.findByHash !== own.findByHash || this.get !== own.get || this.getAccount !== own.getAccount) return null;
    // The account read with a token, kept for the rest of the current
    // synchronous run only (the verifier asks for it right after the token):
    // the same snapshot as one statement, never an older one.
    let read: { owner: string; account: string | null } | null = null;
    const forget = () => {
      read = null;
    };
    const wait = this.#requestWaitMs;
    return {
      findByHash: (hash, decode) =>
        withBusyRetry(() => {
          const row = this.#s.tokenAndAccountByHash.get(hash) as (TokenRow & { account: string | null }) | undefined;
          const token = decodeToken(row, decode, hash);
          if (token !== null) {
            if (read === null) queueMicrotask(forget);
            read = { owner: token.owner, account: row!.account };
          }
          return token;
        }, wait),
      get: (id, decode) => withBusyRetry(() => decodeToken(this.#s.tokenById.get(id), decode), wait),
      getAccount: (owner) => {
        const r = read;
        read = null;
        if (r !== null && r.owner === owner) return r.account === null ? null : (JSON.parse(r.account) as StoredAccount);
        return withBusyRetry(() => parseAccount(this.#s.accountOf.get(owner)), wait);
      },
    };
  }

  list(owner: string, page: PageQuery): Promise<StoredToken[]> {
    return this.#read(() => {
      const rows = page.after
        ? this.#s.listAfter.all(owner, page.after.t, page.after.t, page.after.id, page.limit)
        : this.#s.listFirst.all(owner, page.limit);
      return rows.map((r) => JSON.parse((r as TokenRow).record) as StoredToken);
    });
  }

  update(next: StoredToken, expectedRevision: number, audit?: AuditEntry): Promise<StoredToken> {
    return this.#tx(() => {
      const n = updatedRecord(parseToken(this.#s.tokenById.get(next.id)), next, expectedRevision);
      this.#assertHashesFree(hashesOf(n), n.id);
      this.#assertAuditFree(audit);
      this.#s.deleteHashes.run(n.id);
      for (const h of hashesOf(n)) this.#s.insertHash.run(h, n.id);
      this.#s.updateToken.run(
        n.owner,
        n.createdAt,
        n.revision,
        JSON.stringify(n),
        n.id,
      );
      if (audit) this.#writeAudit(audit);
      return n;
    });
  }

  revoke(id: string, at: number, audit?: AuditEntry): Promise<StoredToken> {
    return this.#tx(() => {
      const cur = parseToken(this.#s.tokenById.get(id));
      const n = revokedRecord(cur, id, at);
      const entry = revokeAudit(cur, audit);
      this.#assertAuditFree(entry);
      this.#s.revokeToken.run(n.revision, JSON.stringify(n), id);
      if (entry) this.#writeAudit(entry);
      return n;
    });
  }

  /** Hard delete: the record and every row under its id, with `audit`, in one transaction. */
  delete(id: string, audit?: AuditEntry): Promise<DeletedToken> {
    return this.#tx(() => {
      const token = parseToken(this.#s.tokenById.get(id));
      if (!token) throw new TokenNotFoundError(id);
      this.#assertAuditFree(audit);
      const s = this.#s;
      const count = (stmt: SqliteStatement) => Number(stmt.run(id).changes);
      const removed = {
        hashes: count(s.deleteHashes),
        credits: count(s.deleteCredits),
        rateLimits: count(s.deleteRate),
        nonces: count(s.deleteNonces),
        // Hour buckets; the analytics rows and the last use go with them.
        usage: count(s.deleteUsage),
      };
      s.deleteUsageDetail.run(id);
      s.deleteLastUsed.run(id);
      s.deleteSeen.run(id);
      s.deleteToken.run(id);
      if (audit) this.#writeAudit(audit);
      return { token, removed };
    });
  }

  /**
   * An entry alone, within the request path's wait: the verifier appends one for a live token it finds in a
   * request's URL, and an admin write's wait would block the process, every request with it (the driver is
   * synchronous: `lookupTimeoutMs` cannot cut it short). A report that fails is made again the next time.
   */
  appendAudit(entry: AuditEntry): Promise<void> {
    return this.#quickTx(() => {
      this.#assertAuditFree(entry);
      this.#writeAudit(entry);
    });
  }

  listAudit(filter: AuditFilter, page: PageQuery): Promise<AuditEntry[]> {
    const byToken = "tokenId" in filter;
    const value = byToken ? filter.tokenId : filter.owner;
    const first = byToken ? this.#s.auditOfTokenFirst : this.#s.auditOfOwnerFirst;
    const after = byToken ? this.#s.auditOfTokenAfter : this.#s.auditOfOwnerAfter;
    return this.#read(() => {
      const rows = page.after
        ? after.all(value, page.after.t, page.after.t, page.after.id, page.limit)
        : first.all(value, page.limit);
      return rows.map((r) => JSON.parse((r as { entry: string }).entry) as AuditEntry);
    });
  }

  meter(request: MeterRequest, now: number): Promise<MeterResult> {
    const id = request.tokenId;
    const { credits: policy } = request;
    const acct = request.account ?? null;
    const { pool, rateLimits } = request;
    const creditKey = poolKey(id, pool);
    if (!acct && !request.rateLimit && !rateLimits?.length && policy && policy.refill === null && !policy.reset && request.cost > 0) {
      return this.#read(() => this.#spendFlat(creditKey, request.cost, policy.limit, now));
    }
    return this.#quickTx(() => {
      const s = this.#s;
      const rate = request.rateLimit ? rateState(s.rateOf.get(id)) : null;
      const credits = request.credits ? creditRow(s.creditsOf.get(creditKey)) : null;
      const account = acct
        ? {
            rate: acct.rateLimit ? rateState(s.accountRateOf.get(acct.owner)) : null,
            credits: acct.credits ? creditRow(s.accountCreditsOf.get(poolKey(acct.owner, pool))) : null,
          }
        : undefined;
      const more = rateLimits && { rates: rateLimits.map((l) => rateState(s.rateOf.get(rateKey(id, l.windowMs)))) };
      const step = meterStep(rate, credits, request, now, account, more);
      if (step.rate) s.saveRate.run(id, step.rate.windowMs, step.rate.bucket, JSON.stringify(step.rate.counts));
      for (const w of step.rates ?? []) s.saveRate.run(rateKey(id, w.windowMs), w.windowMs, w.bucket, JSON.stringify(w.counts));
      if (step.credits) s.saveCredits.run(creditKey, step.credits.used, step.credits.bought, step.credits.periodStart);
      const a = step.account;
      if (a && acct) {
        if (a.rate) s.saveAccountRate.run(acct.owner, a.rate.windowMs, a.rate.bucket, JSON.stringify(a.rate.counts));
        if (a.credits) s.saveAccountCredits.run(poolKey(acct.owner, pool), a.credits.used, a.credits.bought, a.credits.periodStart);
      }
      return step.result;
    });
  }

  getAccount(owner: string): Promise<StoredAccount | null> {
    return this.#read(() => parseAccount(this.#s.accountOf.get(owner)));
  }

  putAccount(next: StoredAccount, expectedRevision: number, audit?: AuditEntry): Promise<StoredAccount> {
    return this.#tx(() => {
      const n = putAccountRecord(parseAccount(this.#s.accountOf.get(next.owner)), next, expectedRevision);
      this.#assertAuditFree(audit);
      this.#s.saveAccount.run(n.owner, n.revision, JSON.stringify(n));
      if (audit) this.#writeAudit(audit);
      return n;
    });
  }

  adjustCredits(request: CreditAdjustment, now: number, audit?: AuditEntry): Promise<CreditResult> {
    const byOwner = "owner" in request.key;
    const key = poolKey("owner" in request.key ? request.key.owner : request.key.tokenId, request.key.pool);
    const s = this.#s;
    const idem = request.idempotencyKey;
    return this.#tx(() => {
      // A top-up or reset under a key applied already reads the balance (see AccountStore.adjustCredits).
      const found = idem === undefined ? undefined : (s.creditKeyOf.get(idem) as { request: string; at: number } | undefined);
      const replayed = idem !== undefined && creditKeyReplayed(found, request, now);
      const change: CreditChange = replayed ? { op: "read" } : request.change;
      const step = adjustCredits(creditRow((byOwner ? s.accountCreditsOf : s.creditsOf).get(key)), request.policy, change, now);
      const write = change.op !== "read";
      if (write) this.#assertAuditFree(audit);
      if (step.next) (byOwner ? s.saveAccountCredits : s.saveCredits).run(key, step.next.used, step.next.bought, step.next.periodStart);
      if (write && idem !== undefined) {
        s.saveCreditKey.run(idem, creditRequestText(request), now);
        // Housekeeping, as for nonces: keys past their retention (top-ups are few: at every keyed one).
        s.purgeCreditKeys.run(now - CREDIT_KEY_RETENTION_MS, PURGE_BATCH);
      }
      if (write && audit) this.#writeAudit(audit);
      return replayed ? { ...step.result, replayed } : step.result;
    });
  }

  /**
   * Credits without refill or rate limit, the common metered case, in one
   * statement: the guarded upsert grants exactly when `meterStep` would
   * (the plan's credits left and the bought ones hold the cost) and leaves
   * the row as it would.
   */
  #spendFlat(id: string, cost: number, limit: number, now: number): MeterResult {
    // all(), not get(): the statement commits when it is stepped to its end, and node:sqlite's get() resets it after
    // the first row, ignoring what the COMMIT says (a full disk): the spend rolled back would come back as a grant.
    const row = this.#s.spendFlat.all(id, cost, now, limit)[0];
    const left = creditsLeft(creditState(creditRow(row ?? this.#s.creditsOf.get(id))), limit);
    const credits = { granted: row !== undefined, remaining: left, nextRefillAt: null };
    return row ? { granted: true, deniedBy: null, rateLimit: null, credits } : { granted: false, deniedBy: "credits", rateLimit: null, credits };
  }

  rememberNonce(key: NonceKey, expiresAt: number, now: number): Promise<boolean> {
    return this.#read(() => {
      // One statement: insert, or take over an expired entry; an unexpired one makes no change.
      const r = this.#s.rememberNonce.run(key.tokenId, key.nonce, expiresAt, now);
      if (++this.#nonceCalls % PURGE_EVERY === 0) {
        this.#s.purgeNonces.run(now, PURGE_BATCH);
      }
      return Number(r.changes) === 1;
    });
  }

  recordUsage(events: readonly UsageEvent[], batch?: UsageBatchKey): Promise<void> {
    const sums = new Map<string, Map<number, UsageCounts>>();
    addUsage(sums, events);
    const { rows, lastUsed } = analyticsOf(events);
    const billing = billingRowsOf(events);
    const at = batchTime(events);
    const purge = batch !== undefined && ++this.#batches % PURGE_EVERY === 0;
    return this.#quickTx(() => {
      const s = this.#s;
      // A batch written already (its first write's reply lost) adds nothing.
      if (batch && Number(s.advanceWriter.run(batch.writer, batch.seq, at).changes) === 0) return;
      if (purge) s.purgeWriters.run(at - USAGE_WRITER_RETENTION_MS, PURGE_BATCH);
      for (const [id, hours] of sums) for (const [hour, c] of hours) s.addUsage.run(id, hour, c.allowed, c.denied, c.credits);
      for (const r of rows) s.addUsageRow.run(r.tokenId, r.owner, r.minute, r.scope, r.code, r.requests, r.credits);
      for (const l of lastUsed) s.saveLastUsed.run(l.tokenId, l.at, l.ip);
      for (const b of billing) s.addBilling.run(b.owner, b.pool, b.hour, b.requests, b.credits);
    });
  }

  /**
   * Usage of a token or an owner (see `UsageAnalyticsStore.queryUsage`): a keyset walk of the
   * primary key or the owner index over the query's minutes, `READ_STEP_ROWS` (2 000) rows per
   * synchronous step summed in the database and added up here (`UsageRollUp`), with a turn of
   * the event loop between two steps: a long period of a busy owner never blocks the process
   * for its whole read.
   */
  async queryUsage(query: UsageAnalyticsQuery): Promise<UsageSeriesBucket[]> {
    const { filter, to } = query;
    const s = this.#s;
    const bucket = bucketMsOf(query);
    const sums = new UsageRollUp(query);
    const ofToken = "tokenId" in filter;
    const [id, owner] = ofToken ? [filter.tokenId, ""] : [filter.owner, filter.owner];
    const [end, step, rest] = ofToken
      ? [s.usageEndOfToken, s.usageStepOfToken, s.usageRestOfToken]
      : [s.usageEndOfOwner, s.usageStepOfOwner, s.usageRestOfOwner];
    // The last key read (minute, the token of an owner's row, scope, code). Minutes are whole
    // numbers: the first step starts after (ceil(from) - 0.5, …), before every row from `from` on.
    let pos: SqliteValue[] = [Math.ceil(query.from) - 0.5, ...(ofToken ? ["", ""] : ["", "", ""])];
    for (;;) {
      // Nothing changes within a read retried (SQLITE_BUSY): `pos` moves once it is done.
      const { rows, next } = await this.#read(() => {
        const last = end.get(id, ...pos, to, READ_STEP_ROWS - 1) as { minute: number; tokenId: string; scope: string; code: string } | undefined;
        if (last === undefined) return { rows: rest.all(id, ...pos, to, bucket), next: null };
        const key = ofToken ? [last.minute, last.scope, last.code] : [last.minute, last.tokenId, last.scope, last.code];
        return { rows: step.all(id, ...pos, ...key, bucket), next: key };
      });
      sums.add(
        (rows as UsageDetailRow[]).map((r) => ({ ...r, owner, minute: Number(r.minute), requests: Number(r.requests), credits: Number(r.credits) })),
      );
      if (next === null) return sums.buckets();
      // As in billingUsage: a key read back other than it is stored is an answer, not a walk without end.
      if (next.every((v, i) => v === pos[i])) throw new StoreUnavailableError("a usage key read back is not the one stored");
      pos = next;
      await nextTurn();
    }
  }

  lastUsed(tokenIds: readonly string[]): Promise<LastUsed[]> {
    return this.#read(() =>
      tokenIds.flatMap((id) => {
        const r = this.#s.lastUsedOf.get(id) as LastUsed | undefined;
        return r ? [{ tokenId: r.tokenId, at: Number(r.at), ip: r.ip }] : [];
      }),
    );
  }

  /**
   * Spend per owner and pool, a page of it (see `BillingStore.billingUsage`): a keyset walk of the
   * primary key, in synchronous steps of about `READ_STEP_ROWS` (2 000) rows each, with a turn
   * of the event loop between two steps (each sum is one statement: a consistent read).
   */
  async billingUsage(query: BillingUsageQuery): Promise<BillingUsage[]> {
    const { owner, from, to, after, limit = Number.POSITIVE_INFINITY } = query;
    const s = this.#s;
    const out: BillingUsage[] = [];
    // The last owner and pool passed; ("", "") is before every key (owners are not empty).
    let pos: BillingKey = after ?? { owner: "", pool: "" };
    if (owner !== undefined && pos.owner !== owner) {
      if (pos.owner > owner) return out;
      pos = { owner, pool: "" };
    }
    for (;;) {
      const done = await this.#read(() => {
        for (let budget = READ_STEP_ROWS; budget > 0; ) {
          if (out.length >= limit) return true;
          const next = (
            owner === undefined ? s.billingNextGroup.get(pos.owner, pos.pool) : s.billingNextPoolOf.get(owner, pos.pool)
          ) as BillingKey | undefined;
          if (next === undefined) return true;
          // A key read back other than it is stored (Node 22's node:sqlite cuts a string at NUL)
          // would be found again and again: an answer, never a walk without end.
          if (next.owner === pos.owner && next.pool === pos.pool) throw new StoreUnavailableError("a billing key read back is not the one stored");
          const sum = s.billingSumOf.get(next.owner, next.pool, from, to) as { n: number; requests: number; credits: number };
          const n = Number(sum.n);
          // Only once read: a read retried (SQLITE_BUSY) goes on from the last sum taken.
          if (n > 0) out.push({ owner: next.owner, pool: next.pool, requests: Number(sum.requests), credits: Number(sum.credits) });
          pos = next;
          budget -= 1 + n;
        }
        return false;
      });
      if (done) return out;
      await nextTurn();
    }
  }

  claimBillingRun(key: BillingRunKey, claim: string, now: number, staleBefore: number): Promise<BillingClaim> {
    // Aged by the caller's clock: the processes sharing one file run on one machine, with one clock
    // (PostgreSQL's store, which servers share, ages claims by the database's).
    const s = this.#s;
    return this.#tx(() => {
      const run = s.billingRunOf.get(key.owner, key.period) as { status: string; claimedAt: number | bigint } | undefined;
      if (run?.status === "done") return "done";
      if (run && Number(run.claimedAt) >= staleBefore) return "busy";
      if (s.billingRunOverlaps.get(key.owner, key.period, key.from, key.to) !== undefined) return "overlap";
      s.claimBillingRun.run(key.owner, key.period, claim, now, key.from, key.to);
      return "claimed";
    });
  }

  finishBillingRun(key: BillingRunKey, claim: string, outcome: "done" | "failed", record?: string, audit?: AuditEntry): Promise<boolean> {
    const s = this.#s;
    return this.#tx(() => {
      if (outcome === "failed") return Number(s.billingRunFailed.run(key.owner, key.period, claim).changes) === 1;
      this.#assertAuditFree(audit);
      const done = Number(s.billingRunDone.run(record ?? null, key.owner, key.period, claim).changes) === 1;
      if (done && audit) this.#writeAudit(audit);
      return done;
    });
  }

  touchSeen(entries: readonly SeenEntry[], maxPerToken: number): Promise<(number | null)[]> {
    const s = this.#s;
    return this.#quickTx(() =>
      entries.map((e) => {
        const row = s.seenOf.get(e.tokenId, e.kind, e.value) as { seen_at: number | bigint } | undefined;
        s.touchSeen.run(e.tokenId, e.kind, e.value, e.at);
        if (row === undefined) s.trimSeen.run(e.tokenId, e.kind, maxPerToken);
        return row === undefined ? null : Number(row.seen_at);
      }),
    );
  }

  getUsage(tokenId: string, query: UsageQuery): Promise<UsageBucket[]> {
    return this.#read(() => {
      const rows = this.#s.usageOf.all(tokenId, query.from, query.to) as (UsageCounts & { hour: number })[];
      return rollUpUsage(
        rows.map((r) => [Number(r.hour), r] as const),
        query,
      );
    });
  }

  /**
   * Every row of every keyward table, sorted, as JSON text: for the `raw`
   * hook of the conformance suite and for debugging. Holds hashes and sealed
   * keys, never a token.
   *
   * @returns JSON text.
   */
  dump(): string {
    const out: Record<string, unknown[]> = {};
    for (const [name, table] of Object.entries(this.#t)) {
      if (name === "migrations") continue;
      out[name] = this.#db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2`).all();
    }
    return JSON.stringify(out);
  }

  /** Closes the database when the store opened it (from a path); a connection you gave stays open. */
  async close(): Promise<void> {
    if (this.#ownsDb) this.#db.close?.();
  }
}

function rateState(row: unknown): RateWindowState | null {
  const r = row as { window_ms: number; bucket: number; counts: string } | undefined;
  return r ? { windowMs: Number(r.window_ms), bucket: Number(r.bucket), counts: JSON.parse(r.counts) } : null;
}

function creditRow(row: unknown): CreditState | null {
  const r = row as { used: number; bought: number; periodStart?: number | null } | undefined;
  return r ? { used: Number(r.used), bought: Number(r.bought), periodStart: r.periodStart == null ? null : Number(r.periodStart) } : null;
}

function parseAccount(row: unknown): StoredAccount | null {
  return row ? (JSON.parse((row as TokenRow).record) as StoredAccount) : null;
}

/** The record of a token row, decoded by the caller's `decode` when given. */
function decodeToken(row: unknown, decode: DecodeRecord | undefined, hash?: string): StoredToken | null {
  if (!row) return null;
  const r = row as TokenRow & { id: string };
  return decode ? decode(r.id, r.record, hash) : (JSON.parse(r.record) as StoredToken);
}

function parseToken(row: unknown): StoredToken | null {
  return row ? (JSON.parse((row as TokenRow).record) as StoredToken) : null;
}

export type { SqliteValue };

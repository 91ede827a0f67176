// The PostgreSQL store: storage and atomicity over a connection pool. Each
// write primitive is one statement (insert with its hashes, audit entry and
// notification; flat credits; nonces; usage) or one short transaction that
// locks what it reads first (update and revoke: the token's row; metering
// with a rate limit or refill: a per-token advisory lock, which credit lease
// reservations and returns take too, and the credit row that flat spends
// lock), so every process sharing the database sees one order of writes.
// Hot tokens may be metered from credit leases instead (opt-in, ./leases.ts).
import { InvalidInputError, KeywardError, StoreUnavailableError, TokenExistsError, TokenNotFoundError } from "../errors.js";
import { toBase64Url } from "../lib/bytes.js";
import { secureRandom } from "../lib/crypto.js";
import type { StoredAccount } from "../model/account.js";
import { hashesOf } from "../model/record.js";
import type { AuditEntry, StoredToken, UsageBucket, UsageEvent } from "../model/types.js";
import { adjustCredits, CREDIT_KEY_RETENTION_MS, type CreditChange, creditKeyReplayed, creditRequestText } from "../store/kit/account-credits.js";
import { createKeyReplayed, createKeyText } from "../store/kit/create-keys.js";
import { billingRowsOf } from "../store/kit/billing.js";
import { putAccountRecord } from "../store/kit/accounts.js";
import { type CreditState, creditState, creditsLeft } from "../store/kit/credits.js";
import { meterStep, poolKey, rateKey } from "../store/kit/meter.js";
import type { PageQuery } from "../store/kit/page.js";
import type { RateWindowState } from "../store/kit/rate-window.js";
import { revokeAudit, revokedRecord, updatedRecord } from "../store/kit/records.js";
import { analyticsOf, bucketMsOf, type LastUsed, rollUpRows, type UsageAnalyticsQuery, type UsageSeriesBucket } from "../store/kit/usage-analytics.js";
import { addUsage, batchTime, rollUpUsage, USAGE_WRITER_RETENTION_MS, type UsageCounts } from "../store/kit/usage-buckets.js";
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
  AccountChangeEvent,
  AuditFilter,
  ChangeEvent,
  CreateKey,
  CreditAdjustment,
  CreditResult,
  DeletedToken,
  InsertOnceResult,
  MeterRequest,
  MeterResult,
  BillingClaim,
  BillingRunKey,
  BillingUsage,
  BillingUsageQuery,
  NonceKey,
  SeenEntry,
  StoreCapabilities,
  TokenChangeEvent,
  TokenStore,
  UsageBatchKey,
  UsageQuery,
} from "../store/types.js";
import { connectWithin, type PostgresClient, type PostgresPool, violatedConstraint } from "./driver.js";
import { fromPgKey, pgKey, pgKeyText } from "./keys.js";
import { CreditLeases, type LeaseSettings } from "./leases.js";
import { ChangeListener, changePayloads, type ListenerTimings } from "./listener.js";
import { type Statements, statements } from "./statements.js";

/** @internal What each option of `postgresStore` is when not given. */
export const POSTGRES_DEFAULTS = Object.freeze({
  migrate: true,
  changeFeed: true,
  reconnectMinMs: 100,
  reconnectMaxMs: 5_000,
  heartbeatMs: 5_000,
  requestLockTimeoutMs: 1_000,
  creditLeases: false,
  leases: Object.freeze({ ttlMs: 30_000, maxBlock: 1_000 }),
});

/** Options of {@link postgresStore}. */
export interface PostgresStoreOptions {
  /**
   * Prefix of every table name (default `"keyward_"`), `/^[A-Za-z_][A-Za-z0-9_]{0,31}$/`;
   * also names the NOTIFY channel (`<prefix>changes`). Taken in lower case, as
   * PostgreSQL takes unquoted names: `"App_"` and `"app_"` are the same tables
   * and the same change feed.
   */
  tablePrefix?: string | undefined;
  /** Run pending migrations when the store is created (default true). When false, an outdated schema is refused. */
  migrate?: boolean | undefined;
  /**
   * LISTEN/NOTIFY change feed (default true): every committed insert,
   * update, revoke and delete of a token, and every account change, in any
   * process, drops the token or account from this process's caches at once;
   * when the LISTEN connection is re-established after a cut, they drop
   * everything (what was written meanwhile was not heard). Holds one pooled
   * connection for as long as the store is open.
   * With false, this process does not LISTEN (its caches rely on
   * `revocationBoundMs`), and its writes are still announced to the
   * processes that do (a CLI, a job).
   */
  changeFeed?: boolean | undefined;
  /** First reconnect delay of the LISTEN connection, ms (default 100); doubles per failure up to `reconnectMaxMs`. */
  reconnectMinMs?: number | undefined;
  /** Largest reconnect delay of the LISTEN connection, ms (default 5 000). */
  reconnectMaxMs?: number | undefined;
  /**
   * How often the LISTEN connection is probed, ms (default 5 000), and how long a probe, a connection from
   * the pool (for a reconnect: one that comes later goes back to the pool), a `LISTEN` or an `UNLISTEN` may
   * wait: a silent connection is replaced (noticed within twice this), an exhausted pool or a silent path
   * does not stop the reconnects, and `close()` never hangs on it.
   */
  heartbeatMs?: number | undefined;
  /**
   * Called with each error of the LISTEN connection (it reconnects by itself): a `StoreUnavailableError`
   * whose message says the change feed's connection failed, with the driver's code as `driverCode`
   * (`57P01` when PostgreSQL shuts down or restarts). Default: ignored.
   */
  onChangeFeedError?: ((error: StoreUnavailableError) => void) | undefined;
  /**
   * Credit leases for hot tokens (default false; docs/fleet.md): metered
   * requests of a token with flat credits (no refill, no rate limit) are
   * granted from a block this process reserved, reported once per batch.
   * `ttlMs` (default 30 000): a lease of a dead process returns its rest
   * after that long; `maxBlock` (default 1 000): the largest block. While a
   * lease is held, balance reads elsewhere count its credits as used.
   */
  creditLeases?: boolean | { ttlMs?: number | undefined; maxBlock?: number | undefined } | undefined;
  /**
   * How long a `meter` call (a flat credit spend and a credit lease taken
   * for the request included) waits, in all, for a connection of the pool
   * and then for a token's or account's counter lock, or a counter row
   * another transaction holds, ms (default 1 000): then it fails (the request
   * is `STORE_UNAVAILABLE`) and nothing is counted. A signed request's
   * nonce, and a credit lease's report of a request, wait as long for a
   * connection and their row: then nothing is sent (the nonce is not
   * remembered, the request not charged). Keep
   * it below Keyward's `lookupTimeoutMs` (2 000 unless set), so that a call the
   * verifier gave up on while it waited is never counted later. A credit
   * lease's report, once sent, waits for its answer as long:
   * one that gets none (its connection gone silent) fails its requests,
   * destroys that connection and retires the lease.
   */
  requestLockTimeoutMs?: number | undefined;
}

/**
 * PostgreSQL in keyward's schema. Times and counters are `DOUBLE PRECISION`:
 * exactly JavaScript's numbers (every safe integer, and fractional times), and
 * the driver returns them as numbers.
 */
export const POSTGRES_DIALECT: SqlDialect = { int: "DOUBLE PRECISION", keyTable: "" };

/**
 * Expired nonces (idle usage writers, expired credit idempotency keys) deleted per purge; a purge runs every
 * PURGE_EVERY nonce calls (usage batches; after every keyed credit top-up or reset).
 */
const PURGE_BATCH = 64;
const PURGE_EVERY = 64;
/** What a metered request's wait for a connection of the pool is called when it runs out. */
const METER_CONNECTION = "a connection for a metered request";
/** The same for a signed request's nonce. */
const NONCE_CONNECTION = "a connection for a signed request's nonce";

/** Milliseconds left until `until` (monotonic clock), at least 1: a wait PostgreSQL's `lock_timeout` and a timer take. */
const msLeft = (until: number) => String(Math.max(1, Math.ceil(until - performance.now())));

/** Serializes migrations across processes (any constant shared by every keyward). */
const MIGRATION_LOCK = "keyward:migrate";

function parse<T>(rows: unknown[], column: string): T | null {
  const row = rows[0] as Record<string, string> | undefined;
  return row ? (JSON.parse(row[column]!) as T) : null;
}

/**
 * Runs `body` in a transaction on a connection of its own, waited for `connectMs` at most when given
 * (else as long as the pool makes it wait). A connection that failed mid-way (the ROLLBACK fails too)
 * is destroyed, never reused.
 */
async function transaction<T>(pool: PostgresPool, body: (c: PostgresClient) => Promise<T>, connectMs?: number): Promise<T> {
  const c = connectMs === undefined ? await pool.connect() : await connectWithin(pool, connectMs, METER_CONNECTION);
  // A connection lost while checked out emits 'error' on the client; unhandled, it would crash the process.
  const ignore = () => {};
  c.on?.("error", ignore);
  let broken = false;
  try {
    await c.query("BEGIN");
    const result = await body(c);
    await c.query("COMMIT");
    return result;
  } catch (err) {
    try {
      await c.query("ROLLBACK");
    } catch {
      broken = true;
    }
    throw err;
  } finally {
    c.removeListener?.("error", ignore);
    c.release(broken ? true : undefined);
  }
}

/**
 * Applies every pending migration of keyward's schema, all in one
 * transaction with the rows that record them, under a transaction-level
 * advisory lock: idempotent, safe when several processes run it at once, and
 * a failure leaves the schema as it was. An up-to-date schema is only read
 * (no DDL, no lock): a role with no right to create tables may run it.
 *
 * @param pool - a `pg` `Pool` or any {@link PostgresPool}.
 * @param options - `tablePrefix` (default `"keyward_"`).
 * @returns the schema version now in the database.
 * @throws {StoreUnavailableError} `STORE_UNAVAILABLE` naming both versions when the database's schema is newer than this library's, or when PostgreSQL cannot be reached (or refuses a statement: `driverCode` `42501` for a role that may not create the tables of a pending version).
 * @throws {ConfigError} `INVALID_CONFIG` (`field` `tablePrefix`), with nothing written, when a table or index a pending version would create is there and is not keyward's.
 * @example
 * ```ts fragment
 * import pg from "pg";
 * import { migrate } from "keyward/postgres";
 * await migrate(new pg.Pool({ connectionString: process.env.DATABASE_URL }));
 * ```
 */
export async function migrate(pool: PostgresPool, options: Pick<PostgresStoreOptions, "tablePrefix"> = {}): Promise<number> {
  const t = tableNames(pgTablePrefix(options.tablePrefix));
  try {
    if ((await schemaVersion(pool, t)) === SCHEMA_VERSION) return SCHEMA_VERSION;
    return await transaction(pool, async (c) => {
      await c.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [MIGRATION_LOCK]);
      await c.query(migrationsTable(t, POSTGRES_DIALECT));
      // Another process may have migrated meanwhile: read again under the lock.
      const version = await schemaVersion(c, t);
      for (const m of MIGRATIONS) {
        if (m.version <= version) continue;
        for (const sql of m.up(t, POSTGRES_DIALECT)) await c.query(sql);
        await c.query(`INSERT INTO ${t.migrations} (version, name, applied_at) VALUES ($1, $2, $3)`, [m.version, m.name, Date.now()]);
      }
      return SCHEMA_VERSION;
    });
  } catch (err) {
    throw startupError(err);
  }
}

/**
 * The schema version in the database (0 without keyward's migrations
 * table), read without writing anything.
 *
 * The tables are listed before the version is read: a migration another
 * process commits between the two reads then shows as a newer version, never
 * as tables of versions still pending (refused as another application's).
 *
 * @throws {StoreUnavailableError} when it is newer than this library's.
 * @throws {ConfigError} when a table or index that a pending version creates is there already.
 */
async function schemaVersion(c: Pick<PostgresPool, "query">, t: TableNames): Promise<number> {
  const names = [t.migrations, ...createdAfter(0, t, POSTGRES_DIALECT)];
  const { rows } = await c.query("SELECT n FROM unnest($1::text[]) AS p(n) WHERE to_regclass(n) IS NOT NULL", [names]);
  const found = new Set(rows.map((r) => (r as { n: string }).n));
  const version = found.has(t.migrations) ? await readVersion(c, t) : 0;
  refuseForeignTables(createdAfter(version, t, POSTGRES_DIALECT).filter((name) => found.has(name)));
  return version;
}

/**
 * @internal The `tablePrefix` option, checked, in lower case: PostgreSQL folds the
 * unquoted table names to it, and the store names its constraints, advisory
 * locks and NOTIFY channel after them the same way.
 *
 * @throws {ConfigError} `INVALID_CONFIG` when it does not match `TABLE_PREFIX_PATTERN`.
 */
export function pgTablePrefix(prefix: unknown): string {
  return checkTablePrefix(prefix).toLowerCase();
}

async function readVersion(c: Pick<PostgresPool, "query">, t: TableNames): Promise<number> {
  const { rows } = await c.query(`SELECT MAX(version) AS v FROM ${t.migrations}`);
  return checkSchemaVersion(Number((rows[0] as { v: number | null } | undefined)?.v ?? 0));
}

/**
 * A failure of the store's own (at startup, of the change feed): keyward's own error as it is, a driver's
 * as STORE_UNAVAILABLE with its code, its message after `what` failed.
 */
function driverError(err: unknown, what: string): KeywardError {
  if (err instanceof KeywardError) return err;
  const o = (err ?? {}) as { code?: unknown; message?: unknown };
  const code = typeof o.code === "string" && /^[A-Za-z0-9_]{1,32}$/.test(o.code) ? o.code : undefined;
  const detail = typeof o.message === "string" ? o.message.slice(0, 200) : "unknown error";
  return new StoreUnavailableError(`${what}: ${detail}`, code === undefined ? undefined : { driverCode: code });
}

/** What a failure to start says. */
const startupError = (err: unknown) => driverError(err, "cannot open the PostgreSQL store");

/**
 * A {@link TokenStore} in PostgreSQL, shared by a fleet of servers (see
 * {@link postgresStore}). With the change feed (default), a write in any
 * process drops the token from every process's cache at once.
 */
export class PostgresStore implements TokenStore {
  /** `{ changeFeed, creditLeases }` as given in the options (defaults true and false). */
  readonly capabilities: StoreCapabilities;
  readonly #pool: PostgresPool;
  readonly #t: TableNames;
  readonly #s: Statements;
  readonly #channel: string;
  /** This store's id in its notifications: its own writes are announced locally, at commit (or failure: see #announcing). */
  readonly #source = toBase64Url(secureRandom(12));
  readonly #listeners = new Set<(event: ChangeEvent) => void>();
  readonly #listener: ChangeListener | null;
  readonly #leases: CreditLeases | null;
  /** `requestLockTimeoutMs`: a meter call's waits (a connection of the pool, the counter locks) end that long after it began. */
  readonly #meterWaitMs: number;
  #nonceCalls = 0;
  /** Usage batches with a key written, for the purge of idle writers. */
  #batches = 0;
  declare readonly subscribe?: (listener: (event: ChangeEvent) => void) => () => void;

  /** @internal Use {@link postgresStore}. */
  constructor(
    pool: PostgresPool,
    prefix: string,
    options: Required<Pick<PostgresStoreOptions, "changeFeed" | "reconnectMinMs" | "reconnectMaxMs" | "heartbeatMs" | "requestLockTimeoutMs">> &
      Pick<PostgresStoreOptions, "onChangeFeedError"> & { leases: LeaseSettings | null },
  ) {
    this.#pool = pool;
    this.#t = tableNames(prefix);
    this.#s = statements(this.#t);
    this.#channel = `${prefix}changes`;
    this.capabilities = Object.freeze({
      changeFeed: options.changeFeed,
      creditLeases: options.leases !== null,
      accounts: true,
      usageAnalytics: true,
      hardDelete: true,
      anomalyState: true,
      billing: true,
      idempotentCreate: true,
    });
    this.#leases = options.leases && new CreditLeases(pool, this.#s, options.leases, transaction);
    this.#meterWaitMs = options.requestLockTimeoutMs;
    if (options.changeFeed) {
      const report = options.onChangeFeedError;
      const timings: ListenerTimings = {
        reconnectMinMs: options.reconnectMinMs,
        reconnectMaxMs: options.reconnectMaxMs,
        heartbeatMs: options.heartbeatMs,
      };
      this.#listener = new ChangeListener(pool, this.#channel, this.#source, timings, (e) => this.#emit(e), (err) => {
        // A running store's feed, not its opening: a server restarted (57P01), a connection refused meanwhile.
        if (report) report(driverError(err, "the change feed's connection failed") as StoreUnavailableError);
      });
      (this as { subscribe?: PostgresStore["subscribe"] }).subscribe = (listener) => {
        this.#listeners.add(listener);
        let on = true;
        return () => {
          if (on) this.#listeners.delete(listener);
          on = false;
        };
      };
    } else this.#listener = null;
  }

  /** @internal Connects the change feed (when enabled). */
  start(): Promise<void> {
    return this.#listener?.start() ?? Promise.resolve();
  }

  /** Whether the change feed's LISTEN connection is up now (false without a change feed). */
  get listening(): boolean {
    return this.#listener?.listening ?? false;
  }

  #emit(event: ChangeEvent): void {
    for (const l of [...this.#listeners]) {
      try {
        l(event);
      } catch {
        // One failing listener must not keep the others from dropping their caches.
      }
    }
  }

  /**
   * Runs a write whose statement NOTIFYs the change it passes to `announce`
   * (which gives the payloads: sent whether or not this store listens, the
   * other processes do), and announces that change to this process's
   * listeners once the write is over: after it commits, and also when it
   * fails once its statement was sent. Its outcome is then unknown (a
   * commit whose reply was lost with its connection), and this store's
   * listener skips its own notifications: every instance on this store, not
   * only the one that wrote, drops the change from its cache (a drop too
   * many costs one lookup; one too few, a stale answer until
   * `revocationBoundMs`).
   */
  async #announcing<T>(write: (announce: (event: TokenChangeEvent | AccountChangeEvent) => string[]) => Promise<T>): Promise<T> {
    let sent: TokenChangeEvent | AccountChangeEvent | undefined;
    try {
      return await write((event) => {
        sent = event;
        return changePayloads(this.#source, event);
      });
    } finally {
      if (sent !== undefined) this.#emit(sent);
    }
  }

  async #query(text: string, values: unknown[]): Promise<unknown[]> {
    return (await this.#pool.query(text, values)).rows;
  }

  async insert(token: StoredToken, audit?: AuditEntry): Promise<void> {
    await this.#announcing((announce) => this.#insertRow(this.#pool, token, announce, audit));
  }

  /** Runs the insert statement of `token` (and its audit entry) on `db`: the pool, or a transaction's connection. */
  async #insertRow(db: Pick<PostgresClient, "query">, token: StoredToken, announce: (event: TokenChangeEvent) => string[], audit: AuditEntry | undefined): Promise<void> {
    const hashes = hashesOf(token);
    await db
      .query(this.#s.insert, [
        this.#channel,
        announce({ tokenId: token.id, hashes }),
        pgKey(token.id),
        pgKey(token.owner),
        token.createdAt,
        token.revision,
        JSON.stringify(token),
        hashes.map(pgKey),
        ...this.#auditValues(audit),
      ])
      .catch((err: unknown) => {
        throw this.#conflict(err);
      });
  }

  /**
   * Inserts `token` with its idempotency key in one transaction, or answers
   * the token an earlier call made under the key (see
   * `IdempotentCreateStore.insertOnce`). The key is taken first: of two
   * transactions taking one key, the second waits for the first to commit
   * (then replays it) or roll back (then takes it).
   */
  async insertOnce(token: StoredToken, key: CreateKey, now: number, audit?: AuditEntry): Promise<InsertOnceResult> {
    const k = pgKey(createKeyText(token.owner, key));
    const result = await this.#announcing((announce) =>
      transaction(this.#pool, async (c): Promise<InsertOnceResult> => {
        const claimed = await c.query(this.#s.claimCreateKey, [k, key.request, JSON.stringify(token.id), key.expiresAt, now]);
        if (claimed.rows.length === 0) {
          const row = (await c.query(this.#s.createKeyOf, [k])).rows[0] as { request: string; token_id: string; expires_at: number } | undefined;
          const replayed = createKeyReplayed(row && { request: row.request, tokenId: JSON.parse(row.token_id) as string, expiresAt: Number(row.expires_at) }, key, now);
          // Not taken, yet not found kept: purged meanwhile (it had expired), which no write of ours can follow safely.
          if (replayed === null) throw new StoreUnavailableError("token store unavailable: an idempotency key changed during its claim; retry");
          return { tokenId: replayed, replayed: true };
        }
        await this.#insertRow(c, token, announce, audit);
        return { tokenId: token.id, replayed: false };
      }),
    );
    if (!result.replayed) {
      // Housekeeping, as for nonces (creations are few: after every keyed one); a failed purge is retried later.
      this.#pool.query(this.#s.purgeCreateKeys, [now, PURGE_BATCH]).catch(() => {});
    }
    return result;
  }

  #auditValues(e: AuditEntry | undefined): unknown[] {
    return e ? [pgKey(e.id), pgKey(e.tokenId), pgKey(e.owner), e.at, JSON.stringify(e)] : [null, null, null, null, null];
  }

  /** A broken primary key in terms of the contract; anything else as it is. */
  #conflict(err: unknown): unknown {
    const c = violatedConstraint(err);
    if (c === undefined) return err;
    if (c === `${this.#t.audit}_pkey`) return new InvalidInputError("audit.id", "already used");
    return new TokenExistsError();
  }

  async get(id: string): Promise<StoredToken | null> {
    return parse(await this.#query(this.#s.tokenById, [pgKey(id)]), "record");
  }

  async findByHash(hash: string): Promise<StoredToken | null> {
    return parse(await this.#query(this.#s.tokenByHash, [pgKey(hash)]), "record");
  }

  async list(owner: string, page: PageQuery): Promise<StoredToken[]> {
    return this.#page(this.#s.list, pgKey(owner), page, "record");
  }

  async #page<T>(q: { first: string; after: string }, key: string, page: PageQuery, column: string): Promise<T[]> {
    const rows = page.after
      ? await this.#query(q.after, [key, page.limit, page.after.t, pgKey(page.after.id)])
      : await this.#query(q.first, [key, page.limit]);
    return rows.map((r) => JSON.parse((r as Record<string, string>)[column]!) as T);
  }

  async update(next: StoredToken, expectedRevision: number, audit?: AuditEntry): Promise<StoredToken> {
    return this.#announcing((announce) =>
      transaction(this.#pool, async (c) => {
        const cur = parse<StoredToken>((await c.query(this.#s.tokenForUpdate, [pgKey(next.id)])).rows, "record");
        const n = updatedRecord(cur, next, expectedRevision);
        const hashes = hashesOf(n);
        await c
          .query(this.#s.update, [
            this.#channel,
            announce({ tokenId: n.id, hashes: [...new Set([...hashesOf(cur!), ...hashes])] }),
            pgKey(n.id),
            pgKey(n.owner),
            n.createdAt,
            n.revision,
            JSON.stringify(n),
            hashes.map(pgKey),
            ...this.#auditValues(audit),
          ])
          .catch((err: unknown) => {
            throw this.#conflict(err);
          });
        return n;
      }),
    );
  }

  async revoke(id: string, at: number, audit?: AuditEntry): Promise<StoredToken> {
    return this.#announcing((announce) =>
      transaction(this.#pool, async (c) => {
        const cur = parse<StoredToken>((await c.query(this.#s.tokenForUpdate, [pgKey(id)])).rows, "record");
        const n = revokedRecord(cur, id, at);
        const payloads = announce({ tokenId: id, hashes: hashesOf(n) });
        await c
          .query(this.#s.revoke, [this.#channel, payloads, pgKey(id), n.revision, JSON.stringify(n), ...this.#auditValues(revokeAudit(cur, audit))])
          .catch((err: unknown) => {
            throw this.#conflict(err);
          });
        return n;
      }),
    );
  }

  async appendAudit(entry: AuditEntry): Promise<void> {
    await this.#pool.query(this.#s.appendAudit, this.#auditValues(entry)).catch((err: unknown) => {
      throw this.#conflict(err);
    });
  }

  async listAudit(filter: AuditFilter, page: PageQuery): Promise<AuditEntry[]> {
    return "tokenId" in filter
      ? this.#page(this.#s.auditOfToken, pgKey(filter.tokenId), page, "entry")
      : this.#page(this.#s.auditOfOwner, pgKey(filter.owner), page, "entry");
  }

  async meter(request: MeterRequest, now: number): Promise<MeterResult> {
    // Every wait of the call, for a connection of the pool then for the counter locks, ends by `until`: a call the
    // verifier abandoned (lookupTimeoutMs) while it waited for either is never counted later.
    const until = performance.now() + this.#meterWaitMs;
    const id = pgKey(request.tokenId);
    const { credits: policy, rateLimits } = request;
    const account = request.account ?? null;
    // The default pool's row is the token id's, as before pools; a named pool's is `poolKey`.
    const creditKey = pgKey(poolKey(request.tokenId, request.pool));
    if (!account && !request.rateLimit && !rateLimits?.length && policy && policy.refill === null && !policy.reset && request.cost > 0) {
      // A lease answers null when the balance is low (or was at the last reservation, see
      // CreditLeases.settled): then this request is metered on its own.
      const leased = this.#leases && (await this.#leases.spend(creditKey, this.#tokenLock(id), request.cost, policy.limit, now));
      if (leased) return leased;
      const flat = await this.#spendFlat(creditKey, request.cost, policy.limit, now, until);
      this.#leases?.settled(creditKey, flat.credits!.remaining);
      return flat;
    }
    // A spend of credits this process holds a lease of: the lease's rest given back first (a read, cost 0, keeps it).
    if (this.#leases && request.cost > 0) await this.#leases.release(creditKey);
    return transaction(this.#pool, async (c) => {
      // Token first, then account: one lock order for every request. Each lock and row waited for
      // until the call's deadline at most (for the rest of the transaction).
      await c.query(this.#s.meterLock, [this.#tokenLock(id), msLeft(until)]);
      if (account) await c.query(this.#s.lockCounters, [this.#accountLock(account.owner)]);
      const keys = account || creditKey !== id || rateLimits?.length;
      for (;;) {
        // null: a first use lost its credit row to a flat spend; read again (now locked).
        const result = keys ? await this.#meterKeys(c, request, creditKey, now) : await this.#meterToken(c, request, now);
        if (result) return result;
      }
    }, Number(msLeft(until)));
  }

  /**
   * A request on the token's own counters (default pool, `rateLimit` only),
   * under its advisory lock: both rows in one read (the credit row locked),
   * one `meterStep`, both written in one statement. Null when the credit row,
   * absent when read, was created meanwhile: nothing was written.
   */
  async #meterToken(c: PostgresClient, request: MeterRequest, now: number): Promise<MeterResult | null> {
    const id = pgKey(request.tokenId);
    const row = (await c.query(this.#s.counters, [id])).rows[0] as {
      used: number | null;
      bought: number | null;
      period_start: number | null;
      window_ms: number | null;
      bucket: number | null;
      counts: string | null;
      leased: number;
    };
    const rate: RateWindowState | null =
      row.window_ms === null ? null : { windowMs: row.window_ms, bucket: row.bucket!, counts: JSON.parse(row.counts!) };
    const credits = creditRow(row.used === null ? null : (row as CreditRow));
    const aside = setAside(row.leased);
    const kit = request.credits ? { ...request, credits: aside.policy(request.credits) } : request;
    const step = meterStep(request.rateLimit ? rate : null, aside.state(credits), kit, now);
    const claimed = credits === null && step.credits !== null;
    if (claimed && !(await this.#claimCreditRow(c, id, step.credits!))) return null;
    const saved = claimed ? null : aside.stored(step.credits);
    if (step.rate || saved) {
      await c.query(this.#s.saveCounters, [
        id,
        saved?.used ?? null,
        saved?.periodStart ?? null,
        step.rate?.windowMs ?? null,
        step.rate?.bucket ?? null,
        step.rate ? JSON.stringify(step.rate.counts) : null,
        saved?.bought ?? null,
      ]);
    }
    return step.result;
  }

  /**
   * The first write of a credit row that was absent when read under the
   * advisory lock: flat spends do not take that lock, so one may have
   * created the row since (then false, and nothing is written: the
   * caller reads again, which now locks the row).
   */
  async #claimCreditRow(c: PostgresClient, key: string, next: CreditState): Promise<boolean> {
    return (await c.query(this.#s.claimCreditRow, [key, next.used, next.bought, next.periodStart])).rows.length === 1;
  }

  /**
   * The advisory lock key of a token's counters, every pool's: `meter` and
   * `adjustCredits` take it before they read the credit row and what its
   * leases hold in one statement, and lease reservations and returns hold it
   * for their whole transaction, since they change both. Taken first, except
   * by `delete`, after the token's row (nothing holding it locks that row).
   * `id` is the token id's key (`pgKey`).
   */
  #tokenLock(id: string): string {
    return `${this.#t.credits}:${id}`;
  }

  /** The advisory lock key of an account's counters (taken after its token's). */
  #accountLock(owner: string): string {
    return `${this.#t.accountCredits}:${pgKey(owner)}`;
  }

  /**
   * A request with an account, named pools or several rate limits, under the
   * locks (taken by the caller): every counter row in one read (`poolKey`,
   * `rateKey` of the store kit; the token's credit row also row-locked, since
   * flat spends take only that lock), one `meterStep`, every
   * changed row in one write. Null when the token's credit row, absent when
   * read, was created meanwhile: nothing was written.
   */
  async #meterKeys(c: PostgresClient, request: MeterRequest, creditKey: string, now: number): Promise<MeterResult | null> {
    const id = pgKey(request.tokenId);
    const acct = request.account ?? null;
    const rateKeys = (request.rateLimits ?? []).map((l) => pgKey(rateKey(request.tokenId, l.windowMs)));
    const owner = acct ? pgKey(acct.owner) : null;
    const accountCreditKey = acct ? pgKey(poolKey(acct.owner, request.pool)) : null;
    type RateRow = { window_ms: number; bucket: number; counts: string };
    const row = (await c.query(this.#s.meterRows, [creditKey, request.rateLimit ? [id, ...rateKeys] : rateKeys, accountCreditKey, owner]))
      .rows[0] as {
      credit: CreditRow | null;
      leased: number;
      rates: (RateRow & { token_id: string })[] | null;
      account_credit: CreditRow | null;
      account_rate: RateRow | null;
    };
    const rates = new Map<string, RateWindowState>();
    for (const r of row.rates ?? []) rates.set(r.token_id, rateRow(r)!);
    const account = acct ? { rate: acct.rateLimit ? rateRow(row.account_rate) : null, credits: creditRow(row.account_credit) } : undefined;
    const more = { rates: rateKeys.map((k) => rates.get(k) ?? null) };
    const aside = setAside(row.leased);
    const kit = request.credits ? { ...request, credits: aside.policy(request.credits) } : request;
    const step = meterStep(rates.get(id) ?? null, aside.state(creditRow(row.credit)), kit, now, account, more);
    const save: [string, RateWindowState][] = step.rate ? [[id, step.rate]] : [];
    step.rates?.forEach((w, i) => {
      save.push([rateKeys[i]!, w]);
    });
    const a = step.account;
    const claimed = row.credit === null && step.credits !== null;
    if (claimed && !(await this.#claimCreditRow(c, creditKey, step.credits!))) return null;
    const saved = claimed ? null : aside.stored(step.credits);
    if (!saved && save.length === 0 && !a?.credits && !a?.rate) return step.result;
    await c.query(this.#s.saveMeterRows, [
      creditKey,
      saved?.used ?? null,
      saved?.periodStart ?? null,
      save.map(([k]) => k),
      save.map(([, w]) => w.windowMs),
      save.map(([, w]) => w.bucket),
      save.map(([, w]) => JSON.stringify(w.counts)),
      accountCreditKey,
      a?.credits?.used ?? null,
      a?.credits?.periodStart ?? null,
      owner,
      a?.rate?.windowMs ?? null,
      a?.rate?.bucket ?? null,
      a?.rate ? JSON.stringify(a.rate.counts) : null,
      saved?.bought ?? null,
      a?.credits?.bought ?? null,
    ]);
    return step.result;
  }

  /**
   * Credits without refill or rate limit, the common metered case, in one
   * statement: the guarded upsert grants exactly when `meterStep` would
   * (the plan's credits left and the bought ones hold the cost) and leaves
   * the row as it would. Its connection is waited for, then the row, until `until` at most.
   */
  async #spendFlat(id: string, cost: number, limit: number, now: number, until: number): Promise<MeterResult> {
    const [spent, row] = await this.#onConnection(until, METER_CONNECTION, async (c) => {
      const got = (await c.query(this.#s.spendFlat, [id, cost, now, limit, msLeft(until)])).rows[0] as CreditRow | undefined;
      return [got, got ?? ((await c.query(this.#s.creditsUsed, [id])).rows[0] as CreditRow | undefined)] as const;
    });
    const credits = { granted: spent !== undefined, remaining: creditsLeft(creditState(creditRow(row)), limit), nextRefillAt: null };
    return spent
      ? { granted: true, deniedBy: null, rateLimit: null, credits }
      : { granted: false, deniedBy: "credits", rateLimit: null, credits };
  }

  /**
   * `body` on a connection of the pool waited for until `until` at most (monotonic clock; then
   * STORE_UNAVAILABLE, and nothing is sent: one that comes later goes back to the pool unused), for
   * a request's statements outside a transaction.
   */
  async #onConnection<T>(until: number, what: string, body: (c: PostgresClient) => Promise<T>): Promise<T> {
    const c = await connectWithin(this.#pool, Number(msLeft(until)), what);
    // A connection lost while checked out emits 'error' on the client; unhandled, it would crash the process.
    const ignore = () => {};
    c.on?.("error", ignore);
    let failed = false;
    try {
      return await body(c);
    } catch (err) {
      // As the pool's own query() does: a connection whose statement failed is destroyed (a query_timeout's may be silent).
      failed = true;
      throw err;
    } finally {
      c.removeListener?.("error", ignore);
      c.release(failed || undefined);
    }
  }

  async getAccount(owner: string): Promise<StoredAccount | null> {
    return parse(await this.#query(this.#s.accountOf, [pgKey(owner)]), "record");
  }

  async putAccount(next: StoredAccount, expectedRevision: number, audit?: AuditEntry): Promise<StoredAccount> {
    const owner = pgKey(next.owner);
    return this.#announcing((announce) =>
      transaction(this.#pool, async (c) => {
        await c.query(this.#s.lockCounters, [`${this.#t.accounts}:${owner}`]);
        const n = putAccountRecord(parse((await c.query(this.#s.accountOf, [owner])).rows, "record"), next, expectedRevision);
        const payloads = announce({ kind: "account", owner: next.owner, tokenId: "", hashes: [] });
        await c
          .query(this.#s.saveAccount, [this.#channel, payloads, owner, n.revision, JSON.stringify(n), ...this.#auditValues(audit)])
          .catch((err: unknown) => {
            throw this.#conflict(err);
          });
        return n;
      }),
    );
  }

  /**
   * A read stores nothing: one statement, no lock (a token's credit row and
   * what its leases hold come from one snapshot, and a reservation or a
   * return commits both at once). A top-up or a reset runs under the lock
   * `meter` takes for the balance (an account's; a token's, which lease
   * reservations and returns take too, and its credit row, which flat spends
   * lock), and writes the balance with its audit entry in one statement. A
   * token's credits held by leases are set aside (`setAside`): a reset leaves
   * them counted as used until they are reported or returned (docs/fleet.md).
   * Its idempotency key, if any, is taken first under that lock, in the same
   * transaction: one applied already makes it a read, answered with `replayed: true`.
   */
  async adjustCredits(request: CreditAdjustment, now: number, audit?: AuditEntry): Promise<CreditResult> {
    const k = request.key;
    const read = request.change.op === "read";
    const idem = request.idempotencyKey;
    const readChange: CreditChange = { op: "read" };
    let result: CreditResult;
    if ("owner" in k) {
      const key = pgKey(poolKey(k.owner, k.pool));
      const step = (rows: unknown[], change: CreditChange) => adjustCredits(creditRow(rows[0] as CreditRow | undefined), request.policy, change, now);
      if (read) return step(await this.#query(this.#s.accountCreditOf, [key]), readChange).result;
      result = await transaction(this.#pool, async (c) => {
        await c.query(this.#s.lockCounters, [this.#accountLock(k.owner)]);
        if (idem !== undefined && !(await this.#claimCreditKey(c, idem, request, now))) {
          return { ...step((await c.query(this.#s.accountCreditOf, [key])).rows, readChange).result, replayed: true as const };
        }
        const { result, next } = step((await c.query(this.#s.accountCreditOf, [key])).rows, request.change);
        // A top-up or a reset always has a next state.
        await c.query(this.#s.saveAccountCredit, [key, next!.used, next!.bought, next!.periodStart, ...this.#auditValues(audit)]).catch((err: unknown) => {
          throw this.#conflict(err);
        });
        return result;
      });
    } else {
      const key = pgKey(poolKey(k.tokenId, k.pool));
      const step = (rows: unknown[], change: CreditChange) => {
        const found = rows[0] as (CreditRow & { leased: number; fresh?: boolean }) | undefined;
        const leased = found?.leased ?? 0;
        const aside = setAside(leased);
        const kit = adjustCredits(aside.state(found && !found.fresh ? creditRow(found) : null), aside.policy(request.policy), change, now, leased);
        return { result: kit.result, next: aside.stored(kit.next) };
      };
      if (read) return step(await this.#query(this.#s.creditRow, [key]), readChange).result;
      result = await transaction(this.#pool, async (c) => {
        await c.query(this.#s.lockCounters, [this.#tokenLock(pgKey(k.tokenId))]);
        if (idem !== undefined && !(await this.#claimCreditKey(c, idem, request, now))) {
          return { ...step((await c.query(this.#s.creditRow, [key])).rows, readChange).result, replayed: true as const };
        }
        const { result, next } = step((await c.query(this.#s.lockCreditRow, [key])).rows, request.change);
        await c.query(this.#s.saveCreditAudited, [key, next!.used, next!.bought, next!.periodStart, ...this.#auditValues(audit)]).catch((err: unknown) => {
          throw this.#conflict(err);
        });
        return result;
      });
    }
    if (idem !== undefined) {
      // Housekeeping, as for nonces (top-ups are few: after every keyed one); a failed purge is retried later.
      this.#pool.query(this.#s.purgeCreditKeys, [now - CREDIT_KEY_RETENTION_MS, PURGE_BATCH]).catch(() => {});
    }
    return result;
  }

  /**
   * Takes a top-up's or reset's idempotency key for `request` (true: apply
   * it), or finds it taken by this very operation (false: applied already),
   * in the transaction `c` that applies it; a key of another operation
   * rejects (`creditKeyReplayed`). Of two transactions taking one key, the
   * second waits for the first to commit or roll back.
   */
  async #claimCreditKey(c: PostgresClient, idem: string, request: CreditAdjustment, now: number): Promise<boolean> {
    const key = pgKey(idem);
    const claimed = await c.query(this.#s.claimCreditKey, [key, creditRequestText(request), now, now - CREDIT_KEY_RETENTION_MS]);
    if (claimed.rows.length === 1) return true;
    const found = (await c.query(this.#s.creditKeyOf, [key])).rows[0] as { request: string; at: number } | undefined;
    return !creditKeyReplayed(found, request, now);
  }

  async delete(id: string, audit?: AuditEntry): Promise<DeletedToken> {
    return this.#announcing((announce) =>
      transaction(this.#pool, async (c) => {
        const token = parse<StoredToken>((await c.query(this.#s.tokenForUpdate, [pgKey(id)])).rows, "record");
        if (!token) throw new TokenNotFoundError(id);
        // No lease reservation, return or reclaim of any pool of the token is under way meanwhile: they
        // lock a lease row before the credit row, the statement below the credit rows first.
        await c.query(this.#s.lockCounters, [this.#tokenLock(pgKey(id))]);
        const payloads = announce({ tokenId: id, hashes: hashesOf(token) });
        const counts = (
          await c
            .query(this.#s.deleteToken, [this.#channel, payloads, pgKey(id), ...this.#auditValues(audit)])
            .catch((err: unknown) => {
              throw this.#conflict(err);
            })
        ).rows[0] as Record<"hashes" | "credits" | "rate_limits" | "nonces" | "usage", string | number>;
        const n = (k: keyof typeof counts) => Number(counts[k]);
        return {
          token,
          removed: { hashes: n("hashes"), credits: n("credits"), rateLimits: n("rate_limits"), nonces: n("nonces"), usage: n("usage") },
        };
      }),
    );
  }

  /**
   * Waits for a connection, then for the nonce's row (a concurrent insert of it), until
   * `requestLockTimeoutMs` after the call began at most, as `meter` does: a nonce the verifier gave
   * up on (`lookupTimeoutMs`) while it waited is never remembered later, so the client's retry with
   * the same signature is not answered REPLAYED.
   */
  async rememberNonce(key: NonceKey, expiresAt: number, now: number): Promise<boolean> {
    const until = performance.now() + this.#meterWaitMs;
    const values = [pgKey(key.tokenId), pgKey(key.nonce), expiresAt, now];
    const r = await this.#onConnection(until, NONCE_CONNECTION, (c) => c.query(this.#s.rememberNonce, [...values, msLeft(until)]));
    if (++this.#nonceCalls % PURGE_EVERY === 0) {
      // Housekeeping, off the request's path: a failed purge is retried by a later call.
      this.#pool.query(this.#s.purgeNonces, [now, PURGE_BATCH]).catch(() => {});
    }
    return r.rowCount === 1;
  }

  async recordUsage(events: readonly UsageEvent[], batch?: UsageBatchKey): Promise<void> {
    const sums = new Map<string, Map<number, UsageCounts>>();
    addUsage(sums, events);
    const hours: [string, number, UsageCounts][] = [];
    for (const [id, byHour] of sums) for (const [hour, c] of byHour) hours.push([pgKey(id), hour, c]);
    const analytics = analyticsOf(events);
    const rows = analytics.rows.map((r) => ({ ...r, tokenId: pgKey(r.tokenId), owner: pgKey(r.owner), scope: pgKey(r.scope) }));
    const lastUsed = analytics.lastUsed.map((l) => ({ ...l, tokenId: pgKey(l.tokenId) }));
    const longKeys = new Map<string, string>();
    const billing = billingRowsOf(events).map((b) => {
      const { key, text } = pgKeyText(b.owner);
      // A sum answers its owner: the text of a hashed key is kept.
      if (key !== text) longKeys.set(key, text);
      return { ...b, owner: key };
    });
    const long = [...longKeys].sort((a, b) => byText(a[0], b[0]));
    if (hours.length === 0 && rows.length === 0 && lastUsed.length === 0 && billing.length === 0) return;
    const at = batchTime(events);
    // One lock order for every batch, so two concurrent batches never deadlock.
    hours.sort((a, b) => byText(a[0], b[0]) || a[1] - b[1]);
    rows.sort((a, b) => byText(a.tokenId, b.tokenId) || a.minute - b.minute || byText(a.scope, b.scope) || byText(a.code, b.code));
    lastUsed.sort((a, b) => byText(a.tokenId, b.tokenId));
    billing.sort((a, b) => byText(a.owner, b.owner) || byText(a.pool, b.pool) || a.hour - b.hour);
    await this.#pool.query(this.#s.addUsageBatch, [
      hours.map((r) => r[0]),
      hours.map((r) => r[1]),
      hours.map((r) => r[2].allowed),
      hours.map((r) => r[2].denied),
      hours.map((r) => r[2].credits),
      rows.map((r) => r.tokenId),
      rows.map((r) => r.owner),
      rows.map((r) => r.minute),
      rows.map((r) => r.scope),
      rows.map((r) => r.code),
      rows.map((r) => r.requests),
      rows.map((r) => r.credits),
      lastUsed.map((l) => l.tokenId),
      lastUsed.map((l) => l.at),
      lastUsed.map((l) => l.ip),
      billing.map((b) => b.owner),
      billing.map((b) => b.pool),
      billing.map((b) => b.hour),
      billing.map((b) => b.requests),
      billing.map((b) => b.credits),
      long.map((k) => k[0]),
      long.map((k) => k[1]),
      batch ? pgKey(batch.writer) : null,
      batch?.seq ?? null,
      at,
    ]);
    if (batch && ++this.#batches % PURGE_EVERY === 0) {
      // Housekeeping, as for nonces: writers idle for USAGE_WRITER_RETENTION_MS; a failed purge is retried later.
      this.#pool.query(this.#s.purgeWriters, [at - USAGE_WRITER_RETENTION_MS, PURGE_BATCH]).catch(() => {});
    }
  }

  /**
   * Spend per owner and pool, a page of it (see `BillingStore.billingUsage`): summed by the server,
   * by owner then pool in the database's collation of the stored keys (the order of the
   * primary key: a page reads only its own rows); only the page's sums are sent.
   */
  async billingUsage(query: BillingUsageQuery): Promise<BillingUsage[]> {
    const { from, to, limit = null } = query;
    // The last owner and pool passed; ("", "") is before every key in any collation (owners are not empty).
    const after = query.after === undefined ? { owner: "", pool: "" } : { owner: pgKey(query.after.owner), pool: query.after.pool };
    const rows =
      query.owner === undefined
        ? await this.#query(this.#s.billingOfAll, [from, to, after.owner, after.pool, limit])
        : await this.#query(this.#s.billingOfOwner, [pgKey(query.owner), from, to, after.owner, after.pool, limit]);
    const sums = rows as { owner: string; pool: string; requests: number; credits: number }[];
    // An owner whose key is a hash (rare: longer than 512 characters once escaped), by its text: the
    // sum's owner, and so the next page's `after`, is the owner itself.
    const hashed = [...new Set(sums.map((r) => r.owner).filter((o) => o.startsWith("\\h")))];
    const texts = new Map<string, string>();
    if (hashed.length > 0) {
      for (const k of (await this.#query(this.#s.longKeyTexts, [hashed])) as { key: string; text: string }[]) texts.set(k.key, k.text);
    }
    return sums.map((r) => ({
      owner: fromPgKey(texts.get(r.owner) ?? r.owner),
      pool: r.pool,
      requests: Number(r.requests),
      credits: Number(r.credits),
    }));
  }

  async claimBillingRun(key: BillingRunKey, claim: string, now: number, staleBefore: number): Promise<BillingClaim> {
    const owner = pgKey(key.owner);
    // Under the owner's lock: no other claim of the owner can slip between the overlap check and the insert.
    return transaction(this.#pool, async (c) => {
      await c.query(this.#s.lockCounters, [`${this.#t.billingRuns}:${owner}`]);
      const status = ((await c.query(this.#s.billingRunStatus, [owner, key.period])).rows[0] as { status: string } | undefined)?.status;
      if (status === undefined && (await c.query(this.#s.billingRunOverlaps, [owner, key.period, key.from, key.to])).rows.length > 0) {
        return "overlap";
      }
      // Stamped and aged by the database's clock: `now - staleBefore` is how old a stale claim is.
      const won = (await c.query(this.#s.claimBillingRun, [owner, key.period, claim, now - staleBefore, key.from, key.to])).rows;
      if ((won[0] as { claim: string } | undefined)?.claim === claim) return "claimed";
      return status === "done" ? "done" : "busy";
    });
  }

  async finishBillingRun(
    key: BillingRunKey,
    claim: string,
    outcome: "done" | "failed",
    record?: string,
    audit?: AuditEntry,
  ): Promise<boolean> {
    const owner = pgKey(key.owner);
    if (outcome === "failed") return (await this.#pool.query(this.#s.billingRunFailed, [owner, key.period, claim])).rowCount === 1;
    return transaction(this.#pool, async (c) => {
      const done = (await c.query(this.#s.billingRunDone, [record ?? null, owner, key.period, claim])).rowCount === 1;
      if (done && audit) {
        await c.query(this.#s.appendAudit, this.#auditValues(audit)).catch((err: unknown) => {
          throw this.#conflict(err);
        });
      }
      return done;
    });
  }

  /**
   * Usage of a token or an owner (see `UsageAnalyticsStore.queryUsage`): the server sums the rows per
   * bucket and per the query's group, filtered by its scope and code, and sends those sums only
   * (at most twice as many rows as the answer has buckets: allowed and denied apart).
   */
  async queryUsage(query: UsageAnalyticsQuery): Promise<UsageSeriesBucket[]> {
    const { filter: f, scope, code, groupBy } = query;
    const [statement, key, owner] = "tokenId" in f ? [this.#s.rowsOfToken, f.tokenId, ""] : [this.#s.rowsOfOwner, f.owner, f.owner];
    const rows = (await this.#query(statement, [
      pgKey(key),
      query.from,
      query.to,
      bucketMsOf(query),
      groupBy === "token",
      groupBy === "scope" || scope !== undefined,
      groupBy === "code" || code !== undefined,
      scope === undefined ? null : pgKey(scope),
      code ?? null,
    ])) as { token_id: string; minute: number; scope: string; code: string; requests: number; credits: number }[];
    return rollUpRows(
      rows.map((r) => ({ tokenId: fromPgKey(r.token_id), owner, minute: r.minute, scope: fromPgKey(r.scope), code: r.code, requests: r.requests, credits: r.credits })),
      query,
    );
  }

  async lastUsed(tokenIds: readonly string[]): Promise<LastUsed[]> {
    if (tokenIds.length === 0) return [];
    const rows = (await this.#query(this.#s.lastUsedOf, [tokenIds.map(pgKey)])) as { token_id: string; at: number; ip: string | null }[];
    const byKey = new Map(rows.map((r) => [r.token_id, r]));
    return tokenIds.flatMap((tokenId) => {
      const r = byKey.get(pgKey(tokenId));
      return r ? [{ tokenId, at: r.at, ip: r.ip }] : [];
    });
  }

  async touchSeen(entries: readonly SeenEntry[], maxPerToken: number): Promise<(number | null)[]> {
    // One row per distinct sighting (a statement may not update a row twice), in key order (lock order).
    const keyOf = (e: SeenEntry) => `${pgKey(e.tokenId)}\u0000${e.kind}\u0000${pgKey(e.value)}`;
    const latest = new Map<string, SeenEntry>();
    for (const e of entries) {
      const k = keyOf(e);
      const had = latest.get(k);
      if (!had || e.at > had.at) latest.set(k, e);
    }
    const keys = [...latest.keys()].sort(byText);
    if (keys.length === 0) return [];
    const rows = keys.map((k) => latest.get(k)!);
    const answer = new Map<string, number | null>();
    const fresh: [string, string][] = [];
    await transaction(this.#pool, async (c) => {
      const { rows: out } = await c.query(this.#s.touchSeen, [
        rows.map((e) => pgKey(e.tokenId)),
        rows.map((e) => e.kind),
        rows.map((e) => pgKey(e.value)),
        rows.map((e) => e.at),
      ]);
      for (const r of out as { token_id: string; kind: string; value: string; prev: number | null }[]) {
        answer.set(`${r.token_id}\u0000${r.kind}\u0000${r.value}`, r.prev);
        if (r.prev === null) fresh.push([r.token_id, r.kind]);
      }
      if (fresh.length > 0) await c.query(this.#s.trimSeen, [fresh.map((f) => f[0]), fresh.map((f) => f[1]), maxPerToken]);
    });
    // Later entries of the same sighting in this batch see what the earlier ones left.
    const seen = new Map<string, number>();
    return entries.map((e) => {
      const k = keyOf(e);
      const before = seen.has(k) ? seen.get(k)! : (answer.get(k) ?? null);
      seen.set(k, Math.max(before ?? e.at, e.at));
      return before;
    });
  }

  async getUsage(tokenId: string, query: UsageQuery): Promise<UsageBucket[]> {
    const rows = (await this.#query(this.#s.usageOf, [pgKey(tokenId), query.from, query.to])) as (UsageCounts & { hour: number })[];
    return rollUpUsage(
      rows.map((r) => [r.hour, r] as const),
      query,
    );
  }

  /**
   * Every row of every keyward table, sorted, as JSON text: for the `raw`
   * hook of the conformance suite and for debugging. Holds hashes and sealed
   * keys, never a token.
   *
   * @returns JSON text.
   */
  async dump(): Promise<string> {
    const out: Record<string, unknown[]> = {};
    for (const [name, table] of Object.entries(this.#t)) {
      if (name !== "migrations") out[name] = await this.#query(`SELECT * FROM ${table} ORDER BY 1, 2`, []);
    }
    return JSON.stringify(out);
  }

  /**
   * Returns the rest of every credit lease (a reservation under way included; waiting at most 10 s in all for
   * the reservations and the returns), stops the change feed and returns its connection (one whose `UNLISTEN` gets no answer within
   * `heartbeatMs` is destroyed). The pool is yours: end it yourself. Calls after it still run on the pool; a
   * metered request is then metered on its own (no lease is reserved after close).
   */
  async close(): Promise<void> {
    await this.#leases?.close();
    this.#listeners.clear();
    await this.#listener?.close();
  }
}

/**
 * @internal Checks the connection and the schema (migrating unless told not to), and that the
 * role holds a right on every one of keyward's tables when it holds one on any: a table a
 * migration by another role created, not granted yet, is refused here, not at the first usage
 * flush or keyed top-up that writes there. Which rights on which table is the operator's
 * choice (an audit log the role may append to, not change); a role with no right on any table
 * opens.
 */
export async function openSchema(pool: PostgresPool, prefix: string, runMigrations: boolean): Promise<void> {
  const t = tableNames(prefix);
  try {
    const version = runMigrations ? await migrate(pool, { tablePrefix: prefix }) : await schemaVersion(pool, t);
    if (version !== SCHEMA_VERSION) {
      throw new StoreUnavailableError(`database schema version ${version}, expected ${SCHEMA_VERSION}: run migrate()`);
    }
    const { rows } = await pool.query(
      `SELECT n FROM (SELECT n, i, held, bool_or(held) OVER () AS somewhere
         FROM (SELECT n, i, has_table_privilege(n, 'SELECT, INSERT, UPDATE, DELETE') AS held FROM unnest($1::text[]) WITH ORDINALITY AS r(n, i)) h) x
       WHERE somewhere AND NOT held ORDER BY i LIMIT 1`,
      [Object.values(t).filter((name) => name !== t.migrations)],
    );
    const missing = rows[0] as { n: string } | undefined;
    if (missing !== undefined) {
      throw new StoreUnavailableError(
        `the database role holds rights on some of keyward's tables but none on ${missing.n}: grant them there too (on the tables a migration creates as well)`,
        { driverCode: "42501" },
      );
    }
  } catch (err) {
    throw startupError(err);
  }
}

/** Code-point order of two keys (the order of every batch's row locks). */
function byText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function rateRow(r: { window_ms: number; bucket: number; counts: string } | null | undefined): RateWindowState | null {
  return r ? { windowMs: r.window_ms, bucket: r.bucket, counts: JSON.parse(r.counts) } : null;
}

/** A credit row as read (`period_start` absent where a statement returns only the amounts). */
type CreditRow = { used: number; bought: number; period_start?: number | null };

function creditRow(r: CreditRow | null | undefined): CreditState | null {
  return r ? { used: r.used, bought: r.bought, periodStart: r.period_start ?? null } : null;
}

/**
 * A token pool as the store kit sees it while its leases hold `leased` of
 * its plan credits (granted to a process, counted in `used`, not yet
 * reported): set aside, a pool of `limit - leased` with `used - leased`
 * (the bought credits a block holds are already off `bought`). The balance
 * is the same, but a refill or reset (a policy's, or an admin's) applies to
 * the rest only, so a lease's return gives back exactly what it kept.
 */
function setAside(leased: number) {
  const shift = (s: CreditState | null, by: number) => (s && by !== 0 ? { ...s, used: s.used + by } : s);
  return {
    /** The policy less the leased credits. */
    policy: <P extends { limit: number }>(p: P): P => (leased === 0 ? p : { ...p, limit: p.limit - leased }),
    /** The kit's state of a stored one. */
    state: (s: CreditState | null) => shift(s, -leased),
    /** The state to store of the kit's. */
    stored: (s: CreditState | null) => shift(s, leased),
  };
}

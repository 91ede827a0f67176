// The SQLite store: storage and atomicity over a synchronous SQLite
// connection. Each write primitive is one statement or one BEGIN IMMEDIATE
// transaction (the write lock is taken first, so the reads inside see what
// the write will replace); a method body never awaits, so calls on one
// connection never interleave.
import {
  ConfigError,
  InvalidInputError,
  KeywardError,
  RevisionConflictError,
  StoreUnavailableError,
  TokenExistsError,
  TokenNotFoundError,
  TokenRevokedError,
} from "../errors.js";
import { hashesOf } from "../model/record.js";
import type { AuditEntry, StoredToken, UsageBucket, UsageEvent } from "../model/types.js";
import type { CreditState } from "../store/kit/credits.js";
import { meterStep } from "../store/kit/meter.js";
import type { PageQuery } from "../store/kit/page.js";
import type { RateWindowState } from "../store/kit/rate-window.js";
import { addUsage, rollUpUsage, type UsageCounts } from "../store/kit/usage-buckets.js";
import {
  MIGRATIONS,
  migrationsTable,
  SCHEMA_VERSION,
  type SqlDialect,
  TABLE_PREFIX_PATTERN,
  type TableNames,
  tableNames,
} from "../store/sql/schema.js";
import type {
  AuditFilter,
  MeterRequest,
  MeterResult,
  NonceKey,
  StoreCapabilities,
  TokenStore,
  UsageQuery,
} from "../store/types.js";
import { isBusy, type SqliteDatabase, type SqliteStatement, type SqliteValue } from "./driver.js";

/** Options of {@link sqliteStore}. */
export interface SqliteStoreOptions {
  /** Prefix of every table name (default `"keyward_"`), `/^[A-Za-z_][A-Za-z0-9_]{0,31}$/`. */
  tablePrefix?: string;
  /**
   * `PRAGMA synchronous` (default `"NORMAL"`): with WAL, a commit survives a
   * crash of the process, and a power loss may lose the last commits (never
   * corrupt the file). `"FULL"` syncs every commit to disk: durable across
   * power loss, and much slower (see docs/benchmarks.md).
   */
  synchronous?: "NORMAL" | "FULL";
  /** How long SQLite waits for another process's write lock, ms (default 5 000). */
  busyTimeoutMs?: number;
  /** Run pending migrations when the store is created (default true). When false, an outdated schema throws. */
  migrate?: boolean;
}

/** SQLite in keyward's schema. */
export const SQLITE_DIALECT: SqlDialect = { int: "INTEGER", keyTable: " WITHOUT ROWID" };

/** Transactions retried on SQLITE_BUSY after the busy timeout, before answering STORE_UNAVAILABLE. */
const BUSY_RETRIES = 3;
/** Expired nonces deleted per purge; a purge runs every PURGE_EVERY nonce calls. */
const PURGE_BATCH = 64;
const PURGE_EVERY = 64;

interface TokenRow {
  record: string;
}

/**
 * Applies every pending migration of keyward's schema, each in its own
 * BEGIN IMMEDIATE transaction with the row that records it: idempotent, and
 * safe when several processes run it at once.
 *
 * @param db - a SQLite connection.
 * @param options - `tablePrefix` (default `"keyward_"`).
 * @returns the schema version now in the database.
 * @throws {StoreUnavailableError} `STORE_UNAVAILABLE` naming both versions when the database's schema is newer than this library's.
 * @example
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 * import { migrate } from "keyward/sqlite";
 * migrate(new DatabaseSync("keyward.db"));
 * ```
 */
export function migrate(db: SqliteDatabase, options: Pick<SqliteStoreOptions, "tablePrefix"> = {}): number {
  const t = tableNames(checkPrefix(options.tablePrefix));
  return withBusyRetry(() => {
    db.exec(migrationsTable(t, SQLITE_DIALECT));
    let version = currentVersion(db, t);
    for (const m of MIGRATIONS) {
      if (m.version <= version) continue;
      transaction(db, () => {
        // Another process may have applied it meanwhile: re-read under the write lock.
        if (currentVersion(db, t) >= m.version) return;
        for (const sql of m.up(t, SQLITE_DIALECT)) db.exec(sql);
        db.prepare(`INSERT INTO ${t.migrations} (version, name, applied_at) VALUES (?, ?, ?)`).run(
          m.version,
          m.name,
          Date.now(),
        );
      });
      version = m.version;
    }
    return currentVersion(db, t);
  });
}

function currentVersion(db: SqliteDatabase, t: TableNames): number {
  const row = db.prepare(`SELECT MAX(version) AS v FROM ${t.migrations}`).get() as { v: number | bigint | null } | undefined;
  const v = Number(row?.v ?? 0);
  if (v > SCHEMA_VERSION) {
    throw new StoreUnavailableError(
      `database schema version ${v} is newer than this keyward's (${SCHEMA_VERSION}): upgrade keyward`,
    );
  }
  return v;
}

function checkPrefix(prefix: unknown = "keyward_"): string {
  if (typeof prefix !== "string" || !TABLE_PREFIX_PATTERN.test(prefix)) {
    throw new ConfigError("tablePrefix", "must match /^[A-Za-z_][A-Za-z0-9_]{0,31}$/");
  }
  return prefix;
}

function transaction<T>(db: SqliteDatabase, body: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  let result: T;
  try {
    result = body();
  } catch (err) {
    try {
      db.exec("ROLLBACK");
    } catch {
      // SQLite may have rolled back already (e.g. after SQLITE_FULL); the error that matters is `err`.
    }
    throw err;
  }
  db.exec("COMMIT");
  return result;
}

function withBusyRetry<T>(body: () => T): T {
  for (let attempt = 0; ; attempt++) {
    try {
      return body();
    } catch (err) {
      if (attempt >= BUSY_RETRIES || err instanceof KeywardError || !isBusy(err)) throw err;
    }
  }
}

/**
 * A {@link TokenStore} in a SQLite database (see {@link sqliteStore}).
 * No change feed: another process's revocation reaches this one's cache
 * within `revocationBoundMs`.
 */
export class SqliteStore implements TokenStore {
  /** `{ changeFeed: false, creditLeases: false }`. */
  readonly capabilities: StoreCapabilities = Object.freeze({ changeFeed: false, creditLeases: false });
  readonly #db: SqliteDatabase;
  readonly #t: TableNames;
  readonly #statements = new Map<string, SqliteStatement>();
  readonly #ownsDb: boolean;
  #nonceCalls = 0;

  /** @internal Use {@link sqliteStore}. */
  constructor(db: SqliteDatabase, options: SqliteStoreOptions, ownsDb: boolean) {
    const prefix = checkPrefix(options.tablePrefix);
    const { synchronous = "NORMAL", busyTimeoutMs = 5_000, migrate: runMigrations = true } = options;
    if (synchronous !== "NORMAL" && synchronous !== "FULL") throw new ConfigError("synchronous", 'must be "NORMAL" or "FULL"');
    if (!Number.isSafeInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
      throw new ConfigError("busyTimeoutMs", "must be a non-negative integer");
    }
    if (typeof runMigrations !== "boolean") throw new ConfigError("migrate", "must be a boolean");
    this.#db = db;
    this.#ownsDb = ownsDb;
    this.#t = tableNames(prefix);
    try {
      db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
      withBusyRetry(() => db.exec("PRAGMA journal_mode = WAL"));
      db.exec(`PRAGMA synchronous = ${synchronous}`);
      const version = runMigrations ? migrate(db, { tablePrefix: prefix }) : this.#version();
      if (version !== SCHEMA_VERSION) {
        throw new StoreUnavailableError(`database schema version ${version}, expected ${SCHEMA_VERSION}: run migrate()`);
      }
    } catch (err) {
      if (err instanceof KeywardError) throw err;
      const { code, errcode } = (err ?? {}) as { code?: unknown; errcode?: unknown };
      const driverCode = typeof errcode === "number" ? String(errcode) : typeof code === "string" ? code : undefined;
      throw new StoreUnavailableError(`cannot open the SQLite store: ${(err as Error)?.message ?? "unknown error"}`, {
        ...(driverCode === undefined ? {} : { driverCode }),
      });
    }
  }

  #version(): number {
    const exists = this.#db
      .prepare("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?")
      .get(this.#t.migrations);
    return exists ? currentVersion(this.#db, this.#t) : 0;
  }

  #q(sql: string): SqliteStatement {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.#db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  #tx<T>(body: () => T): Promise<T> {
    try {
      return Promise.resolve(withBusyRetry(() => transaction(this.#db, body)));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  #read<T>(body: () => T): Promise<T> {
    try {
      return Promise.resolve(withBusyRetry(body));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  insert(token: StoredToken, audit?: AuditEntry): Promise<void> {
    const t = this.#t;
    return this.#tx(() => {
      if (this.#q(`SELECT 1 AS x FROM ${t.tokens} WHERE id = ?`).get(token.id)) throw new TokenExistsError();
      const hashes = hashesOf(token);
      this.#assertHashesFree(hashes, null);
      this.#assertAuditFree(audit);
      this.#q(`INSERT INTO ${t.tokens} (id, owner, created_at, revision, record) VALUES (?, ?, ?, ?, ?)`).run(
        token.id,
        token.owner,
        token.createdAt,
        token.revision,
        JSON.stringify(token),
      );
      for (const h of hashes) this.#q(`INSERT INTO ${t.hashes} (hash, token_id) VALUES (?, ?)`).run(h, token.id);
      if (audit) this.#writeAudit(audit);
    });
  }

  #assertHashesFree(hashes: string[], self: string | null): void {
    const holder = this.#q(`SELECT token_id FROM ${this.#t.hashes} WHERE hash = ?`);
    for (const h of hashes) {
      const row = holder.get(h) as { token_id: string } | undefined;
      if (row && row.token_id !== self) throw new TokenExistsError();
    }
  }

  #assertAuditFree(audit: AuditEntry | undefined): void {
    if (audit && this.#q(`SELECT 1 AS x FROM ${this.#t.audit} WHERE id = ?`).get(audit.id)) {
      throw new InvalidInputError("audit.id", "already used");
    }
  }

  #writeAudit(e: AuditEntry): void {
    this.#q(`INSERT INTO ${this.#t.audit} (id, token_id, owner, at, entry) VALUES (?, ?, ?, ?, ?)`).run(
      e.id,
      e.tokenId,
      e.owner,
      e.at,
      JSON.stringify(e),
    );
  }

  get(id: string): Promise<StoredToken | null> {
    return this.#read(() => parseToken(this.#q(`SELECT record FROM ${this.#t.tokens} WHERE id = ?`).get(id)));
  }

  findByHash(hash: string): Promise<StoredToken | null> {
    const t = this.#t;
    return this.#read(() =>
      parseToken(
        this.#q(`SELECT t.record FROM ${t.hashes} h JOIN ${t.tokens} t ON t.id = h.token_id WHERE h.hash = ?`).get(hash),
      ),
    );
  }

  list(owner: string, page: PageQuery): Promise<StoredToken[]> {
    const t = this.#t;
    return this.#read(() => {
      const rows = page.after
        ? this.#q(
            `SELECT record FROM ${t.tokens} WHERE owner = ? AND (created_at > ? OR (created_at = ? AND id > ?))
             ORDER BY created_at, id LIMIT ?`,
          ).all(owner, page.after.t, page.after.t, page.after.id, page.limit)
        : this.#q(`SELECT record FROM ${t.tokens} WHERE owner = ? ORDER BY created_at, id LIMIT ?`).all(owner, page.limit);
      return rows.map((r) => JSON.parse((r as TokenRow).record) as StoredToken);
    });
  }

  update(next: StoredToken, expectedRevision: number, audit?: AuditEntry): Promise<StoredToken> {
    const t = this.#t;
    return this.#tx(() => {
      const cur = parseToken(this.#q(`SELECT record FROM ${t.tokens} WHERE id = ?`).get(next.id));
      if (!cur) throw new TokenNotFoundError(next.id);
      if (cur.revision !== expectedRevision) throw new RevisionConflictError(next.id, expectedRevision);
      if (cur.revokedAt !== null) throw new TokenRevokedError(next.id);
      const hashes = hashesOf(next);
      this.#assertHashesFree(hashes, next.id);
      this.#assertAuditFree(audit);
      const n: StoredToken = { ...next, revision: expectedRevision + 1, revokedAt: cur.revokedAt };
      this.#q(`DELETE FROM ${t.hashes} WHERE token_id = ?`).run(n.id);
      for (const h of hashes) this.#q(`INSERT INTO ${t.hashes} (hash, token_id) VALUES (?, ?)`).run(h, n.id);
      this.#q(`UPDATE ${t.tokens} SET owner = ?, created_at = ?, revision = ?, record = ? WHERE id = ?`).run(
        n.owner,
        n.createdAt,
        n.revision,
        JSON.stringify(n),
        n.id,
      );
      if (audit) this.#writeAudit(audit);
      return structuredClone(n);
    });
  }

  revoke(id: string, at: number, audit?: AuditEntry): Promise<StoredToken> {
    const t = this.#t;
    return this.#tx(() => {
      const cur = parseToken(this.#q(`SELECT record FROM ${t.tokens} WHERE id = ?`).get(id));
      if (!cur) throw new TokenNotFoundError(id);
      this.#assertAuditFree(audit);
      const first = cur.revokedAt === null;
      const n: StoredToken = {
        ...cur,
        revokedAt: first ? at : cur.revokedAt,
        updatedAt: first ? at : cur.updatedAt,
        revision: cur.revision + 1,
      };
      this.#q(`UPDATE ${t.tokens} SET revision = ?, record = ? WHERE id = ?`).run(n.revision, JSON.stringify(n), id);
      if (audit) this.#writeAudit(audit);
      return n;
    });
  }

  appendAudit(entry: AuditEntry): Promise<void> {
    return this.#tx(() => {
      this.#assertAuditFree(entry);
      this.#writeAudit(entry);
    });
  }

  listAudit(filter: AuditFilter, page: PageQuery): Promise<AuditEntry[]> {
    const t = this.#t;
    const [column, value] = "tokenId" in filter ? ["token_id", filter.tokenId] : ["owner", filter.owner];
    return this.#read(() => {
      const rows = page.after
        ? this.#q(
            `SELECT entry FROM ${t.audit} WHERE ${column} = ? AND (at > ? OR (at = ? AND id > ?)) ORDER BY at, id LIMIT ?`,
          ).all(value, page.after.t, page.after.t, page.after.id, page.limit)
        : this.#q(`SELECT entry FROM ${t.audit} WHERE ${column} = ? ORDER BY at, id LIMIT ?`).all(value, page.limit);
      return rows.map((r) => JSON.parse((r as { entry: string }).entry) as AuditEntry);
    });
  }

  meter(request: MeterRequest, now: number): Promise<MeterResult> {
    const t = this.#t;
    const id = request.tokenId;
    return this.#tx(() => {
      const rate = request.rateLimit ? this.#rateState(id) : null;
      const credits = request.credits
        ? ((this.#q(`SELECT used, period_start AS periodStart FROM ${t.credits} WHERE token_id = ?`).get(id) as
            | CreditState
            | undefined) ?? null)
        : null;
      const step = meterStep(rate, credits, request, now);
      if (step.rate) {
        this.#q(
          `INSERT INTO ${t.rateLimits} (token_id, window_ms, bucket, counts) VALUES (?, ?, ?, ?)
           ON CONFLICT (token_id) DO UPDATE SET window_ms = excluded.window_ms, bucket = excluded.bucket, counts = excluded.counts`,
        ).run(id, step.rate.windowMs, step.rate.bucket, JSON.stringify(step.rate.counts));
      }
      if (step.credits) {
        this.#q(
          `INSERT INTO ${t.credits} (token_id, used, period_start) VALUES (?, ?, ?)
           ON CONFLICT (token_id) DO UPDATE SET used = excluded.used, period_start = excluded.period_start`,
        ).run(id, step.credits.used, step.credits.periodStart);
      }
      return step.result;
    });
  }

  #rateState(id: string): RateWindowState | null {
    const row = this.#q(`SELECT window_ms, bucket, counts FROM ${this.#t.rateLimits} WHERE token_id = ?`).get(id) as
      | { window_ms: number; bucket: number; counts: string }
      | undefined;
    return row ? { windowMs: Number(row.window_ms), bucket: Number(row.bucket), counts: JSON.parse(row.counts) } : null;
  }

  rememberNonce(key: NonceKey, expiresAt: number, now: number): Promise<boolean> {
    const t = this.#t;
    return this.#read(() => {
      // One statement: insert, or take over an expired entry; an unexpired one makes no change.
      const r = this.#q(
        `INSERT INTO ${t.nonces} (token_id, nonce, expires_at) VALUES (?, ?, ?)
         ON CONFLICT (token_id, nonce) DO UPDATE SET expires_at = excluded.expires_at WHERE ${t.nonces}.expires_at <= ?`,
      ).run(key.tokenId, key.nonce, expiresAt, now);
      if (++this.#nonceCalls % PURGE_EVERY === 0) {
        this.#q(
          `DELETE FROM ${t.nonces} WHERE (token_id, nonce) IN
           (SELECT token_id, nonce FROM ${t.nonces} WHERE expires_at <= ? LIMIT ${PURGE_BATCH})`,
        ).run(now);
      }
      return Number(r.changes) === 1;
    });
  }

  recordUsage(events: readonly UsageEvent[]): Promise<void> {
    const sums = new Map<string, Map<number, UsageCounts>>();
    addUsage(sums, events);
    const t = this.#t;
    return this.#tx(() => {
      const upsert = this.#q(
        `INSERT INTO ${t.usage} (token_id, hour, allowed, denied, credits) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (token_id, hour) DO UPDATE SET allowed = allowed + excluded.allowed,
           denied = denied + excluded.denied, credits = credits + excluded.credits`,
      );
      for (const [id, hours] of sums) for (const [hour, c] of hours) upsert.run(id, hour, c.allowed, c.denied, c.credits);
    });
  }

  getUsage(tokenId: string, query: UsageQuery): Promise<UsageBucket[]> {
    return this.#read(() => {
      const rows = this.#q(
        `SELECT hour, allowed, denied, credits FROM ${this.#t.usage} WHERE token_id = ? AND hour >= ? AND hour < ?`,
      ).all(tokenId, query.from, query.to) as (UsageCounts & { hour: number })[];
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

function parseToken(row: unknown): StoredToken | null {
  return row ? (JSON.parse((row as TokenRow).record) as StoredToken) : null;
}

export type { SqliteValue };

/**
 * keyward/postgres: tokens in PostgreSQL, shared by a fleet of servers.
 * Takes a `pg` `Pool`, or anything with `query(text, values)` and
 * `connect()`: `pg` is an optional peer dependency, never a dependency.
 * Every token and account write is announced with LISTEN/NOTIFY so every
 * server's cache drops the token or account at once.
 *
 * @example
 * ```ts fragment
 * import pg from "pg";
 * import { Keyward } from "keyward";
 * import { postgresStore } from "keyward/postgres";
 *
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, statement_timeout: 5_000, query_timeout: 6_000 });
 * const kw = new Keyward({ store: await postgresStore(pool), prefix: "acme" });
 * ```
 *
 * @module keyward/postgres
 */
import { ConfigError } from "../errors.js";
import { checkConfigFields, optionNames } from "../lib/options.js";
import { MAX_TIMER_MS } from "../lib/timers.js";
import type { PostgresPool } from "./driver.js";
import { CLOSE_WAIT_MS, type LeaseSettings } from "./leases.js";
import { openSchema, POSTGRES_DEFAULTS, PostgresStore, type PostgresStoreOptions, pgTablePrefix } from "./store.js";

export { SCHEMA_VERSION } from "../store/sql/schema.js";
export type { PostgresClient, PostgresNotification, PostgresPool, PostgresQueryResult } from "./driver.js";
export { migrate, PostgresStore, type PostgresStoreOptions } from "./store.js";

/** A wait of milliseconds: at most the longest a timer (and PostgreSQL's `lock_timeout`) takes. */
function checkMs(v: unknown, field: string, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1 || v > MAX_TIMER_MS) {
    throw new ConfigError(field, `must be a positive integer of milliseconds, at most ${MAX_TIMER_MS}`);
  }
  return v;
}

const POSTGRES_OPTIONS = optionNames<PostgresStoreOptions>({ tablePrefix: true, migrate: true, changeFeed: true, reconnectMinMs: true, reconnectMaxMs: true, heartbeatMs: true, onChangeFeedError: true, creditLeases: true, requestLockTimeoutMs: true });
const LEASE_OPTIONS = optionNames<Exclude<PostgresStoreOptions["creditLeases"], boolean | undefined>>({ ttlMs: true, maxBlock: true });

function leaseSettings(v: PostgresStoreOptions["creditLeases"], lockWait: number): LeaseSettings | null {
  if ((v ?? POSTGRES_DEFAULTS.creditLeases) === false) return null;
  if (v !== true && (v === null || typeof v !== "object")) throw new ConfigError("creditLeases", "must be a boolean or an object");
  const o = v === true ? {} : v;
  checkConfigFields(o, LEASE_OPTIONS, "an option of creditLeases", "creditLeases.");
  return { ttlMs: checkMs(o.ttlMs, "creditLeases.ttlMs", POSTGRES_DEFAULTS.leases.ttlMs), maxBlock: checkMs(o.maxBlock, "creditLeases.maxBlock", POSTGRES_DEFAULTS.leases.maxBlock), lockWait, closeWaitMs: CLOSE_WAIT_MS };
}

/**
 * A {@link PostgresStore} over a pool: checks the connection and the schema
 * (running pending migrations unless `migrate: false`) and, with the change
 * feed (default), starts listening before it resolves.
 *
 * @param pool - a `pg` `Pool`, or any {@link PostgresPool}. The store never ends it.
 * @param options - table prefix, migrations, change feed and its timings.
 * @returns the store, to give to `new Keyward({ store })`.
 * @throws {TypeError} when `pool` has no `query()` and `connect()`.
 * @throws {ConfigError} `INVALID_CONFIG` on a bad option or one of another name, or (`field`
 *   `tablePrefix`) when a table or index a pending version would create is
 *   there and is not keyward's (another application's).
 * @throws {StoreUnavailableError} `STORE_UNAVAILABLE` (with the driver's code as
 *   `driverCode`, e.g. `28P01` for a wrong password, `3D000` for a missing
 *   database) when PostgreSQL cannot be reached, or the schema is older (with
 *   `migrate: false`) or newer than this library's; `driverCode` `42501` when the
 *   role may not create a pending version's tables, or holds rights on some of
 *   keyward's tables and none on another (one a migration created, not granted yet).
 * @example
 * ```ts fragment
 * import pg from "pg";
 * import { postgresStore } from "keyward/postgres";
 *
 * const store = await postgresStore(new pg.Pool({ max: 20 }), { tablePrefix: "app_kw_" });
 * ```
 */
export async function postgresStore(pool: PostgresPool, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
  if (pool === null || typeof pool !== "object" || typeof pool.query !== "function" || typeof pool.connect !== "function") {
    throw new TypeError("pool must have query() and connect(), like a pg Pool");
  }
  if (options === null || typeof options !== "object") throw new ConfigError("options", "must be an object");
  checkConfigFields(options, POSTGRES_OPTIONS, "a postgresStore option");
  const prefix = pgTablePrefix(options.tablePrefix);
  const { migrate = POSTGRES_DEFAULTS.migrate, changeFeed = POSTGRES_DEFAULTS.changeFeed, onChangeFeedError } = options;
  if (typeof migrate !== "boolean") throw new ConfigError("migrate", "must be a boolean");
  if (typeof changeFeed !== "boolean") throw new ConfigError("changeFeed", "must be a boolean");
  if (onChangeFeedError !== undefined && typeof onChangeFeedError !== "function") {
    throw new ConfigError("onChangeFeedError", "must be a function");
  }
  const reconnectMinMs = checkMs(options.reconnectMinMs, "reconnectMinMs", POSTGRES_DEFAULTS.reconnectMinMs);
  const reconnectMaxMs = checkMs(options.reconnectMaxMs, "reconnectMaxMs", POSTGRES_DEFAULTS.reconnectMaxMs);
  if (reconnectMaxMs < reconnectMinMs) throw new ConfigError("reconnectMaxMs", "must be at least reconnectMinMs");
  const heartbeatMs = checkMs(options.heartbeatMs, "heartbeatMs", POSTGRES_DEFAULTS.heartbeatMs);
  const requestLockTimeoutMs = checkMs(options.requestLockTimeoutMs, "requestLockTimeoutMs", POSTGRES_DEFAULTS.requestLockTimeoutMs);
  const leases = leaseSettings(options.creditLeases, requestLockTimeoutMs);
  await openSchema(pool, prefix, migrate);
  const store = new PostgresStore(pool, prefix, { changeFeed, reconnectMinMs, reconnectMaxMs, heartbeatMs, requestLockTimeoutMs, onChangeFeedError, leases });
  await store.start();
  return store;
}

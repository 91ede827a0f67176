// Opening the store a command works on. SQLite (keyward/sqlite) is the
// default; other databases plug in through DRIVERS, matched by URL.
import { accessSync, constants, type Stats, statSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Keyward, StoreUnavailableError, type TokenLifetimeOptions, type TokenStore } from "../index.js";
import { Keyring, MAKE_SEALING_KEY } from "../lib/seal.js";
import { type PostgresPool, PostgresStore, postgresStore } from "../postgres/index.js";
import { sqliteStore } from "../sqlite/index.js";
import { BUSY_RETRIES } from "../sqlite/store.js";
import { sanitizeStoreError } from "../store/guard.js";
import { checkTablePrefix, tableNames } from "../store/sql/schema.js";
import { PREFIX_PATTERN } from "../token/format.js";
import { type CommandContext, STORE_OPTIONS } from "./command.js";
import { CliError, EXIT, type Io, shownPath } from "./io.js";

export { STORE_OPTIONS };

/** An opened store and the `Keyward` over it; `close()` when done. */
export interface OpenedStore {
  store: TokenStore & { close?: () => unknown };
  keyward: Keyward;
  /** Where it is, for messages: a path, or a URL as {@link shownUrl} names it; as {@link shownPath} prints it. */
  where: string;
  close: () => Promise<void>;
}

interface Driver {
  matches: (database: string) => boolean;
  open: (database: string, options: { create: boolean; readOnly: boolean; timeoutMs: number }) => Promise<TokenStore & { close?: () => unknown }>;
  /** The database as messages name it, without what may be secret in it. */
  shown: (database: string) => string;
}

/** The options of a pg `Pool` the CLI sets (pg's names). */
interface PoolConfig {
  connectionString: string;
  max: number;
  connectionTimeoutMillis: number;
  statement_timeout: number;
  lock_timeout: number;
  query_timeout: number;
  options?: string;
}

// PostgreSQL through the `pg` driver (an optional peer: installed by the user).
const DRIVERS: Driver[] = [
  {
    matches: (database) => /^postgres(ql)?:\/\//i.test(database),
    open: async (database, { create, readOnly, timeoutMs }) => {
      let pg: { default: { Pool: new (config: PoolConfig) => PostgresPool & { end(): Promise<void> } } };
      try {
        pg = (await import("pg")) as typeof pg;
      } catch {
        throw new CliError("PostgreSQL needs the pg driver: npm install pg", EXIT.USAGE);
      }
      // A server that accepts and never answers, or a table another session holds locked, fails the command in
      // about timeoutMs (0: no limit). The server cancels a statement (or a lock wait) at timeoutMs, with its own
      // error; the driver gives up on an answer a second later (a server gone silent mid-statement).
      const pool = new pg.default.Pool({
        connectionString: database,
        max: 2,
        connectionTimeoutMillis: timeoutMs,
        statement_timeout: timeoutMs,
        lock_timeout: timeoutMs,
        query_timeout: timeoutMs && timeoutMs + 1_000,
        // --read-only: every transaction of the session is read-only, whatever the role may do.
        ...(readOnly && { options: "-c default_transaction_read_only=on" }),
      });
      try {
        if (!create) await refuseUnmigrated(pool, shownUrl(database));
        const store = await postgresStore(pool, { migrate: create, changeFeed: false });
        return Object.assign(store, {
          close: async () => {
            await PostgresStore.prototype.close.call(store);
            await pool.end();
          },
        });
      } catch (err) {
        await pool.end().catch(() => {});
        throw err;
      }
    },
    shown: shownUrl,
  },
];

/**
 * A database URL as the CLI names it: scheme, host, port and database only.
 * The user, the password (wherever the URL has it: `user:p@ss@host`, parsed
 * as the driver does, up to the last `@` before the host; `?password=`) and
 * every parameter are left out. A URL that cannot be read so is not shown.
 */
function shownUrl(database: string): string {
  const scheme = /^[a-z]+:/i.exec(database)?.[0] ?? "";
  try {
    const url = new URL(database);
    const shown = `${url.protocol}//${url.host}${url.pathname}`;
    // An `@` left means a password the URL does not delimit (an unescaped `/`, `?` or `#` in it).
    if (!shown.includes("@")) return shown;
  } catch {}
  return `${scheme}//(not shown: not a URL the driver reads)`;
}

/**
 * Refuses a PostgreSQL database without keyward's migrations table (none of
 * keyward's tables, or another application's of the same name), as a SQLite
 * file without them is refused: exit 5, and only `init` creates them.
 */
async function refuseUnmigrated(pool: PostgresPool, shown: string): Promise<void> {
  let present: boolean;
  try {
    const { rows } = await pool.query("SELECT to_regclass($1) IS NOT NULL AS present", [tableNames(checkTablePrefix()).migrations]);
    present = (rows[0] as { present: boolean }).present;
  } catch (err) {
    throw sanitizeStoreError(err, []);
  }
  if (!present) throw new CliError(`${shown} is not a keyward database (create its tables with: keyward init)`, EXIT.STORE);
}

/**
 * The database the command names: `--database`, `$KEYWARD_DATABASE`, or
 * `./keyward.db`. Empty is not set, for the option and the variable, as for
 * every other `KEYWARD_` variable (`KEYWARD_DATABASE=` is not a path).
 */
export function databaseOf(ctx: CommandContext): string {
  const given = ctx.values.database;
  return (typeof given === "string" && given) || ctx.io.env.KEYWARD_DATABASE || "keyward.db";
}

/**
 * How a command opens the store: `create` for init / migrate; `readsOnly`
 * when this run of the command writes nothing (`credits` without
 * `--top-up` or `--reset`); the lifetime rules a command applies.
 */
export interface StoreOpenOptions {
  create: boolean;
  readsOnly?: boolean;
  tokens?: TokenLifetimeOptions;
}

/**
 * Opens the store. Only `init` / `migrate` (`create: true`) create a missing
 * SQLite file or migrate an older schema: any other command given a missing
 * file fails without creating it. `--read-only` opens it read-only, and
 * refuses a command that writes (`READ_ONLY`, exit 2) before the database is
 * opened; a command that only reads opens a SQLite file this user may not
 * write read-only without being asked.
 */
export async function openStore(ctx: CommandContext, options: StoreOpenOptions): Promise<OpenedStore> {
  const readOnly = ctx.values["read-only"] === true;
  if (readOnly && (options.create || !options.readsOnly)) {
    throw new CliError("this command writes to the database: --read-only refuses it", EXIT.USAGE, { code: "READ_ONLY" });
  }
  const database = databaseOf(ctx);
  const driver = DRIVERS.find((d) => d.matches(database));
  let store: TokenStore & { close?: () => unknown };
  try {
    store = driver
      ? await driver.open(database, { create: options.create, readOnly, timeoutMs: databaseTimeoutOf(ctx.io) })
      : openSqlite(ctx.io, database, { create: options.create, readOnly, readsOnly: options.readsOnly === true, timeoutMs: databaseTimeoutOf(ctx.io) });
  } catch (err) {
    // The stores tell a program to call migrate(): the CLI names its own command.
    if (err instanceof StoreUnavailableError && err.message.endsWith(": run migrate()")) {
      throw new CliError(`${err.message.slice(0, -"migrate()".length)}keyward migrate`, EXIT.STORE, { code: err.code });
    }
    throw err;
  }
  const keyward = keywardOver(ctx, store, options);
  return {
    store,
    keyward,
    where: shownPath(driver ? driver.shown(database) : database),
    close: async () => {
      await keyward.close();
      await store.close?.();
    },
  };
}

/**
 * The `Keyward` a command acts through, over an opened store: its settings
 * from the environment, and `prefix` for the tokens it issues (default
 * `$KEYWARD_PREFIX`, else `kw`). Close it (not the store) when done.
 */
export function keywardOver(ctx: CommandContext, store: TokenStore, options: StoreOpenOptions, prefix: string = prefixOf(ctx.io)): Keyward {
  return new Keyward({
    store,
    prefix,
    env: envOf(ctx.io),
    ...revocationBoundOf(ctx.io),
    sealingKey: sealingKeysOf(ctx.io),
    usage: { enabled: false },
    onWarning: () => {},
    ...(options.tokens && { tokens: options.tokens }),
  });
}

function openSqlite(io: Io, database: string, options: { create: boolean; readOnly: boolean; readsOnly: boolean; timeoutMs: number }) {
  const path = resolve(io.cwd, database);
  const stat = statOf(path);
  if (!options.create && stat === undefined) {
    throw new CliError(`no database at ${database} (create it with: keyward init --database ${database})`, EXIT.STORE);
  }
  // SQLite's first read of a FIFO waits for a writer, for good; a folder or a device is no database either.
  if (stat !== undefined && !stat.isFile()) {
    throw new CliError(`${database} is ${fileKind(stat)}, not a SQLite database file`, EXIT.STORE, {
      code: "DATABASE_NOT_A_FILE",
      details: { database: shownPath(database) },
    });
  }
  // Opening for writing writes (WAL mode; an empty file becomes a database): a failing command must change nothing.
  if (!options.create && lacksKeywardSchema(path)) {
    throw new CliError(`${database} is not a keyward database (create one with: keyward init --database ${database})`, EXIT.STORE);
  }
  // sqliteStore(path) refuses a file it may not write (it would serve it read-only, every metered request denied);
  // a command that only reads asks for read-only with a file: URI, percent-encoded as SQLite reads it.
  const readOnly = options.readOnly || (options.readsOnly && !isWritable(path));
  const waits = sqliteWaits(options.timeoutMs);
  try {
    return readOnly
      ? sqliteStore(`${pathToFileURL(path).href}?mode=ro`, { migrate: false, ...waits })
      : sqliteStore(path, { migrate: options.create, ...waits });
  } catch (err) {
    throw explained(err, database, readOnly);
  }
}

/**
 * The SQLite store's waits for another process's write lock, within
 * `KEYWARD_DATABASE_TIMEOUT_MS` (0: without limit, as far as SQLite counts,
 * 2^31 - 1 ms). A call of the request path (a read) waits within its own
 * timeout, retried inside it; a write waits its own after each of its
 * {@link BUSY_RETRIES} retries, so each attempt gets its share.
 */
function sqliteWaits(timeoutMs: number): { busyTimeoutMs: number; requestBusyTimeoutMs: number } {
  if (timeoutMs === 0) return { busyTimeoutMs: SQLITE_LONGEST_WAIT_MS, requestBusyTimeoutMs: SQLITE_LONGEST_WAIT_MS };
  return { busyTimeoutMs: Math.ceil(timeoutMs / (BUSY_RETRIES + 1)), requestBusyTimeoutMs: timeoutMs };
}

/** The longest busy timeout SQLite takes (a C int of ms: 24.8 days). */
const SQLITE_LONGEST_WAIT_MS = 2 ** 31 - 1;

/** SQLite's answers to a file this user may not write, or a read-only read it cannot begin, in the CLI's words. */
function explained(err: unknown, database: string, readOnly: boolean): unknown {
  const driverCode = err instanceof StoreUnavailableError ? err.driverCode : undefined;
  if (driverCode === undefined) return err;
  const fail = (message: string) => new CliError(message, EXIT.STORE, { code: "STORE_UNAVAILABLE", details: { driverCode } });
  // SQLITE_READONLY_DIRECTORY: a WAL database read read-only needs its -wal and -shm files, which only a
  // process that may write the folder can create (they are there while a process has the database open).
  if (readOnly && driverCode === String(SQLITE_READONLY_DIRECTORY)) {
    return fail(
      `${database} cannot be read read-only while no process has it open: SQLite needs its -wal and -shm files and may not create them in its folder (run the command while your service has it open, or as a user who may write the folder)`,
    );
  }
  if (!readOnly && driverCode === String(SQLITE_READONLY)) {
    return fail(`this command writes, and this user may not write ${database} (the commands that only read, such as list, show or audit, open it read-only)`);
  }
  return err;
}

/** SQLite's code for a write to a database opened read-only: the file this user may not write. */
const SQLITE_READONLY = 8;

/** SQLite's extended code for a read-only connection that needs a file created in a folder it may not write. */
const SQLITE_READONLY_DIRECTORY = 1544;

/** Whether this process may write the file (root may, but for a read-only mount). */
function isWritable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** What a file that is not a regular file is, for messages. */
function fileKind(stat: Stats): string {
  if (stat.isDirectory()) return "a folder";
  if (stat.isFIFO()) return "a FIFO";
  if (stat.isCharacterDevice()) return "a character device";
  if (stat.isBlockDevice()) return "a block device";
  if (stat.isSocket()) return "a socket";
  return "a special file";
}

/** The file's status, following links; undefined when there is none or it cannot be reached (as existsSync says false). */
function statOf(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

/**
 * Whether the file is a SQLite database (an empty file is one) without
 * keyward's tables, read without writing. A file SQLite cannot read says
 * false: opening the store reports why, and leaves it as it is.
 */
function lacksKeywardSchema(path: string): boolean {
  const { DatabaseSync } = process.getBuiltinModule("node:sqlite") as typeof import("node:sqlite");
  let db: import("node:sqlite").DatabaseSync;
  try {
    db = new DatabaseSync(path, { readOnly: true });
  } catch {
    return false;
  }
  try {
    return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(tableNames(checkTablePrefix()).migrations) === undefined;
  } catch {
    return false;
  } finally {
    db.close();
  }
}

/** Token prefix of issued tokens: `$KEYWARD_PREFIX`, default `kw`. */
function prefixOf(io: Io): string {
  const prefix = io.env.KEYWARD_PREFIX || "kw";
  if (!PREFIX_PATTERN.test(prefix)) throw new CliError(`KEYWARD_PREFIX must match ${PREFIX_PATTERN}`, EXIT.USAGE);
  return prefix;
}

/**
 * `$KEYWARD_SEALING_KEY`: several keys, comma-separated (base64 has no
 * comma), the first sealing, each one unsealing. Checked here so that a
 * malformed one is named by the variable, not by `new Keyward`'s option.
 */
function sealingKeysOf(io: Io): string[] | undefined {
  const keys = io.env.KEYWARD_SEALING_KEY?.split(",").filter((k) => k.trim() !== "");
  const parsed = keys === undefined ? undefined : Keyring.parse(keys);
  if (parsed !== undefined && !(parsed instanceof Keyring)) {
    const which = keys!.length === 1 ? "" : `: key ${parsed.invalid + 1}`;
    throw new CliError(`KEYWARD_SEALING_KEY${which} must be 32 bytes in base64 or base64url (${MAKE_SEALING_KEY})`, EXIT.USAGE);
  }
  return keys;
}

function envOf(io: Io): "live" | "test" {
  const env = io.env.KEYWARD_ENV || "live";
  if (env !== "live" && env !== "test") throw new CliError("KEYWARD_ENV must be live or test", EXIT.USAGE);
  return env;
}

/**
 * The fleet's `revocationBoundMs`: `$KEYWARD_REVOCATION_BOUND_MS`, default
 * the library's (10 000). A command does not listen for changes, so it
 * moves an effective-dated change due sooner than that bound to the bound,
 * as a server without a change feed does: the servers' bound, not its own,
 * is how long one of them may serve a cached copy.
 */
function revocationBoundOf(io: Io): { revocationBoundMs?: number } {
  const ms = msOf(io, "KEYWARD_REVOCATION_BOUND_MS");
  return ms === undefined ? {} : { revocationBoundMs: ms };
}

/**
 * How long a command waits for PostgreSQL to connect, for a lock, and for a
 * statement, and for SQLite's write lock: `$KEYWARD_DATABASE_TIMEOUT_MS`,
 * default 10 000; 0 waits without limit. Past it, the command fails with
 * STORE_UNAVAILABLE (exit 5).
 */
function databaseTimeoutOf(io: Io): number {
  return msOf(io, "KEYWARD_DATABASE_TIMEOUT_MS") ?? 10_000;
}

/** A whole number of ms, at most a day, from the environment; undefined when not set. */
function msOf(io: Io, name: string): number | undefined {
  const given = io.env[name];
  if (given === undefined || given === "") return undefined;
  const ms = /^\d{1,9}$/.test(given) ? Number(given) : Number.NaN;
  if (!(ms <= 86_400_000)) throw new CliError(`${name} must be a whole number of ms, at most 86400000`, EXIT.USAGE);
  return ms;
}

/** Runs `fn` with the opened store and closes it, whatever happens. */
export async function withStore<T>(ctx: CommandContext, options: StoreOpenOptions, fn: (s: OpenedStore) => Promise<T>): Promise<T> {
  const opened = await openStore(ctx, options).catch((err) => {
    throw lockedIn(ctx, err);
  });
  try {
    return await fn(opened);
  } catch (err) {
    throw lockedIn(ctx, err);
  } finally {
    await opened.close();
  }
}

/** SQLITE_BUSY and SQLITE_LOCKED, with their extended codes: another connection holds the lock asked for. */
const SQLITE_LOCK_CODES = new Set(["5", "6", "261", "262", "517"]);

/**
 * A SQLite file another process kept locked past the wait, in the CLI's
 * words (SQLite's are `database is locked`): which file, and the variable
 * that sets the wait.
 */
function lockedIn(ctx: CommandContext, err: unknown): unknown {
  const database = databaseOf(ctx);
  if (!(err instanceof StoreUnavailableError) || !SQLITE_LOCK_CODES.has(err.driverCode ?? "") || DRIVERS.some((d) => d.matches(database))) return err;
  const waited = `KEYWARD_DATABASE_TIMEOUT_MS, ${databaseTimeoutOf(ctx.io)} ms`;
  return new CliError(`${shownPath(database)} is locked by another process (waited ${waited})`, EXIT.STORE, {
    code: "STORE_UNAVAILABLE",
    details: { driverCode: err.driverCode! },
  });
}

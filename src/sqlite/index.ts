/**
 * keyward/sqlite: tokens in a SQLite database, shared by every process on
 * the machine. `node:sqlite` by default (Node, Deno; no native build), or any
 * better-sqlite3-shaped connection (better-sqlite3, `bun:sqlite`).
 *
 * @example
 * ```ts
 * import { Keyward } from "keyward";
 * import { sqliteStore } from "keyward/sqlite";
 *
 * const kw = new Keyward({ store: sqliteStore("keyward.db"), prefix: "acme" });
 * ```
 *
 * @module keyward/sqlite
 */
import { ConfigError, StoreUnavailableError } from "../errors.js";
import { checkConfigFields, optionNames } from "../lib/options.js";
import type { SqliteDatabase } from "./driver.js";
import { SqliteStore, type SqliteStoreOptions } from "./store.js";

export { SCHEMA_VERSION } from "../store/sql/schema.js";
export type { SqliteDatabase, SqliteStatement, SqliteValue } from "./driver.js";
export { migrate, SqliteStore, type SqliteStoreOptions } from "./store.js";

const SQLITE_OPTIONS = optionNames<SqliteStoreOptions>({ tablePrefix: true, synchronous: true, busyTimeoutMs: true, requestBusyTimeoutMs: true, migrate: true, walCheckpointBytes: true });

/**
 * A {@link SqliteStore} over a connection, or over a file it opens with
 * `node:sqlite` (and closes on `store.close()`). Reads the schema version
 * (a database refused is left as it was, not a byte written), then sets WAL
 * mode, the busy timeout, `synchronous` and (unless the connection has one)
 * a WAL size limit of 16 MiB, and runs pending migrations
 * (unless `migrate: false`).
 *
 * @param db - a path (`":memory:"` for a private in-memory database), a
 *   `node:sqlite` `DatabaseSync`, or any better-sqlite3-shaped connection.
 * @param options - table prefix, `synchronous`, busy timeouts, migrations, the WAL bound (`walCheckpointBytes`).
 * @returns the store, to give to `new Keyward({ store })`.
 * @throws {ConfigError} `INVALID_CONFIG` on a bad option or one of another name (before a file is opened), or (`field`
 *   `tablePrefix`) when a table or index a pending version would create is
 *   there and is not keyward's (another application's), or (`field` `db`) for a path on a runtime without
 *   `node:sqlite` (Node before 22.13 without `--experimental-sqlite`).
 * @throws {StoreUnavailableError} `STORE_UNAVAILABLE` when the file cannot be
 *   opened or is not a database, or the schema is older (with `migrate: false`)
 *   or newer than this library's; for a path, also when the file cannot be
 *   written (another user's: SQLite would open it read-only, `driverCode`
 *   `"8"`) unless a `file:` URI asks for that (`?mode=ro`, `?immutable=1`). A connection you
 *   give is used as it was opened: a read-only one serves reads.
 * @example
 * ```ts
 * import { DatabaseSync } from "node:sqlite";
 * import { sqliteStore } from "keyward/sqlite";
 *
 * const store = sqliteStore(new DatabaseSync("keyward.db"), { synchronous: "FULL" });
 * ```
 */
export function sqliteStore(db: string | SqliteDatabase, options: SqliteStoreOptions = {}): SqliteStore {
  if (options === null || typeof options !== "object") throw new ConfigError("options", "must be an object");
  // Before a file is opened: a misspelt `synchronous` or `migrate` would be ignored.
  checkConfigFields(options, SQLITE_OPTIONS, "a sqliteStore option");
  if (typeof db === "string") {
    const { DatabaseSync } = nodeSqlite();
    createPrivately(db);
    let opened: SqliteDatabase;
    try {
      opened = new DatabaseSync(db);
    } catch (err) {
      throw new StoreUnavailableError(`cannot open the SQLite store: ${(err as Error)?.message ?? "unknown error"}`);
    }
    try {
      return new SqliteStore(opened, options, true, !asksReadOnly(db));
    } catch (err) {
      // A store refused at startup (an invalid option, a newer schema) leaves no connection open on the file.
      opened.close?.();
      throw err;
    }
  }
  if (db === null || typeof db !== "object" || typeof db.prepare !== "function" || typeof db.exec !== "function") {
    throw new TypeError("db must be a path or a SQLite connection with prepare() and exec()");
  }
  return new SqliteStore(db, options, false);
}

/**
 * Creates a missing database file readable and writable by its owner only
 * (0600, whatever the umask): it holds every owner, name, metadata, usage
 * row and audit entry, which other local users have no need to read. SQLite
 * gives the WAL and shared-memory files the database's mode. An existing
 * file keeps its own; `:memory:`, `""` (a temporary database) and `file:`
 * URIs are left to SQLite, as is a file that cannot be made here (a missing
 * folder, a permission model): SQLite reports it.
 */
function createPrivately(path: string): void {
  if (path === "" || path === ":memory:" || path.startsWith("file:")) return;
  const fs = globalThis.process?.getBuiltinModule?.("node:fs") as typeof import("node:fs") | undefined;
  try {
    fs?.closeSync(fs.openSync(path, "wx", 0o600));
  } catch {}
}

/**
 * Whether a `file:` URI asks SQLite for a read-only database, read as SQLite
 * reads its query (sqlite3ParseUri): up to a `#`, `&`-separated `key=value`
 * pairs with `%HH` escapes decoded; `mode=ro` anywhere, or the first
 * `immutable` true as `sqlite3_uri_boolean` reads it (a number not 0, or
 * `yes`, `true`, `on` in any case).
 */
function asksReadOnly(path: string): boolean {
  if (!path.startsWith("file:")) return false;
  const end = path.indexOf("#");
  const query = path.slice(0, end === -1 ? path.length : end).split("?").slice(1).join("?");
  const params = query.split("&").map((pair) => {
    const eq = pair.indexOf("=");
    return eq === -1 ? [unescapeUri(pair), ""] : [unescapeUri(pair.slice(0, eq)), unescapeUri(pair.slice(eq + 1))];
  });
  const immutable = params.find(([key]) => key === "immutable")?.[1];
  const truthy = immutable !== undefined && (/^[0-9]/.test(immutable) ? Number.parseInt(immutable, 10) !== 0 : /^(?:yes|true|on)$/i.test(immutable));
  return truthy || params.some(([key, value]) => key === "mode" && value === "ro");
}

/** A URI part with its `%HH` escapes decoded, byte by byte, as SQLite does (other `%` kept as they are). */
function unescapeUri(s: string): string {
  return s.replace(/%([0-9a-f]{2})/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/**
 * `node:sqlite`, loaded on demand: importing keyward/sqlite never requires it
 * (Bun users pass their own db). Node 22.13 and later, and Deno, have it;
 * Node 22.5 to 22.12 only under `--experimental-sqlite`, and before 22.3
 * there is no `process.getBuiltinModule` to ask.
 */
function nodeSqlite(): typeof import("node:sqlite") {
  const sqlite = globalThis.process?.getBuiltinModule?.("node:sqlite") as typeof import("node:sqlite") | undefined;
  if (sqlite === undefined) {
    throw new ConfigError(
      "db",
      "a path is opened with node:sqlite, which this runtime does not have: use Node 22.13 or later (22.5 to 22.12 with --experimental-sqlite), or pass a better-sqlite3-shaped connection",
    );
  }
  return sqlite;
}

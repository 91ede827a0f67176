// The part of a SQLite driver keyward calls, as a structural type: node:sqlite
// `DatabaseSync`, better-sqlite3 `Database` and `bun:sqlite` `Database` all fit,
// and none is a dependency. Where they differ, `noRowAsUndefined` evens it out.

/** A value bound to a statement parameter. */
export type SqliteValue = string | number | bigint | null | Uint8Array;

/** A prepared statement: `get` / `all` / `run` with positional parameters. */
export interface SqliteStatement {
  /** The first row, or (no row) `undefined`; `null` as bun:sqlite answers is read as `undefined`. */
  get(...params: SqliteValue[]): unknown;
  /** Every row. */
  all(...params: SqliteValue[]): unknown[];
  /** Runs a write; `changes` is the number of rows it changed. */
  run(...params: SqliteValue[]): { changes: number | bigint };
}

/** A synchronous SQLite connection (better-sqlite3-style API). */
export interface SqliteDatabase {
  /** Compiles one statement. */
  prepare(sql: string): SqliteStatement;
  /** Runs statements that bind no parameters (pragmas, migrations, `BEGIN`). */
  exec(sql: string): unknown;
  /** Closes the connection (`store.close()` calls it). */
  close?(): unknown;
}

/** SQLite result codes (https://sqlite.org/rescode.html) that say "try again". */
const BUSY = new Set([5, 6, 261, 517, 262]);

/**
 * Whether a driver error is SQLITE_BUSY / SQLITE_LOCKED (node:sqlite: `errcode`; better-sqlite3 / bun:
 * `code`). Deno's node:sqlite (2.9) gives the errors of `exec` no `errcode`, only `code`
 * "ERR_SQLITE_ERROR" and SQLite's message, whose text for these two codes is fixed (sqlite3_errstr).
 */
export function isBusy(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const { errcode, code, message } = err as { errcode?: unknown; code?: unknown; message?: unknown };
  if (typeof errcode === "number") return BUSY.has(errcode);
  if (code === "ERR_SQLITE_ERROR") return typeof message === "string" && (message === "database is locked" || message.startsWith("database table is locked"));
  return typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"));
}

/**
 * The connection as the store reads it: `get` answers `undefined` when there
 * is no row, as node:sqlite and better-sqlite3 do. bun:sqlite answers `null`,
 * which the store would take for a row: its statements are wrapped (once, a
 * probe of the driver decides); the others are used as they are, at no cost.
 * The wrapper has the methods of {@link SqliteDatabase} only: the store must
 * call no other.
 */
export function noRowAsUndefined(db: SqliteDatabase): SqliteDatabase {
  if (db.prepare("SELECT 1 WHERE 0").get() !== null) return db;
  return {
    exec: (sql) => db.exec(sql),
    close: () => db.close?.(),
    prepare(sql) {
      const s = db.prepare(sql);
      return { get: (...params) => s.get(...params) ?? undefined, all: (...params) => s.all(...params), run: (...params) => s.run(...params) };
    },
  };
}

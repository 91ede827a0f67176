// The part of a SQLite driver keyward calls, as a structural type: node:sqlite
// `DatabaseSync`, better-sqlite3 `Database` and `bun:sqlite` `Database` all fit,
// and none is a dependency.

/** A value bound to a statement parameter. */
export type SqliteValue = string | number | bigint | null | Uint8Array;

/** A prepared statement: `get` / `all` / `run` with positional parameters. */
export interface SqliteStatement {
  get(...params: SqliteValue[]): unknown;
  all(...params: SqliteValue[]): unknown[];
  run(...params: SqliteValue[]): { changes: number | bigint };
}

/** A synchronous SQLite connection (better-sqlite3-style API). */
export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): unknown;
  close?(): unknown;
}

/** SQLite result codes (https://sqlite.org/rescode.html) that say "try again". */
const BUSY = new Set([5, 6, 261, 517, 262]);

/** Whether a driver error is SQLITE_BUSY / SQLITE_LOCKED (node:sqlite: `errcode`; better-sqlite3 / bun: `code`). */
export function isBusy(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const { errcode, code } = err as { errcode?: unknown; code?: unknown };
  if (typeof errcode === "number") return BUSY.has(errcode);
  return typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"));
}

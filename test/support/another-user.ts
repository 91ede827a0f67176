// Files of another user's: a database a service runs on, read by an operator or an auditor who may not write it.
import { chmodSync } from "node:fs";
import { dirname } from "node:path";
import { sqliteStore } from "keyward/sqlite";

/**
 * Options of a child process (spawn, execFile) that runs it as a user to whom the test's files are another's:
 * nobody when the tests run as root (who may write any file whatever its mode), else the test's own user.
 */
export const AS_NOBODY: { uid?: number; gid?: number } = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

/**
 * Makes the SQLite file `db` a running service's database that others may read and not write: readable by all,
 * in a folder only its owner writes (and `readable`, a bin or script they run, readable by all), and opens the
 * service's connection, which keeps the -wal and -shm files beside it. Close the store it returns.
 */
export function servedDatabase(db: string, readable: readonly string[] = []): ReturnType<typeof sqliteStore> {
  chmodSync(db, 0o644);
  chmodSync(dirname(db), 0o755);
  for (const file of readable) chmodSync(file, 0o644);
  return sqliteStore(db);
}

// The bound on the WAL file. SQLite's automatic checkpoints copy the WAL into
// the database, but SQLite starts the WAL over only when no reader is inside
// it; with several processes busy on one file there nearly always is one, and
// the WAL grows with every write. A TRUNCATE checkpoint holds the write lock
// (no new frames), copies what is left, waits for the readers inside the WAL
// to finish (new ones read the database) and empties the file.
import { ConfigError } from "../errors.js";
import type { SqliteDatabase, SqliteStatement } from "./driver.js";

/** Calls of the store between two looks at the WAL's size (a `stat` each). */
const CHECK_EVERY = 32;

/**
 * After a checkpoint that could not empty the WAL (a reader holds a snapshot
 * in it: a backup, a report), the looks pause this long, ms, doubled at each
 * failure up to `MAX_PAUSE_MS`: a long read costs each process a wait now and
 * then, not one every 32 calls.
 */
const FIRST_PAUSE_MS = 1_000;
const MAX_PAUSE_MS = 32_000;

/** What `PRAGMA wal_checkpoint` answers: `log` -1 when it did not get the checkpoint lock. */
interface CheckpointRow {
  busy: number | bigint;
  log: number | bigint;
}

/**
 * Keeps the WAL of a database file under a size: every `CHECK_EVERY` calls
 * of the store, whichever process notices it larger than `limitBytes`
 * runs `PRAGMA wal_checkpoint(TRUNCATE)` with the connection's busy timeout
 * (the request path's); after one that fails, it pauses (`FIRST_PAUSE_MS`).
 */
export class WalBound {
  readonly #walPath: string;
  readonly #limitBytes: number;
  readonly #waitMs: number;
  readonly #checkpoint: SqliteStatement;
  readonly #sizeOf: (path: string) => number;
  readonly #pause = new Int32Array(new SharedArrayBuffer(4));
  #calls = 0;
  /** No look before this time (`performance.now()`), after a checkpoint that failed. */
  #pausedUntil = 0;
  #pauseMs = FIRST_PAUSE_MS;

  private constructor(walPath: string, limitBytes: number, waitMs: number, checkpoint: SqliteStatement, statSync: typeof import("node:fs").statSync) {
    this.#walPath = walPath;
    this.#limitBytes = limitBytes;
    this.#waitMs = waitMs;
    this.#checkpoint = checkpoint;
    this.#sizeOf = (path) => statSync(path, { throwIfNoEntry: false })?.size ?? 0;
  }

  /**
   * The bound of a connection in WAL mode on a file, trying for the
   * checkpoint lock for up to `waitMs`; null when there is nothing to bound
   * (`limitBytes` 0, an in-memory or temporary database) or no `node:fs`
   * to measure the file with.
   *
   * @throws {ConfigError} (`walCheckpointBytes`) when the WAL file cannot be
   *   measured: a permission model (Deno's `--allow-read`, Node's
   *   `--permission`) that granted the database file lets SQLite write the
   *   WAL beside it, but not keyward look at it, and the bound would be off
   *   without a word.
   */
  static of(db: SqliteDatabase, limitBytes: number, waitMs: number): WalBound | null {
    const fs = globalThis.process?.getBuiltinModule?.("node:fs") as typeof import("node:fs") | undefined;
    if (limitBytes === 0 || fs === undefined) return null;
    const mode = db.prepare("PRAGMA journal_mode").get() as { journal_mode: string } | undefined;
    if (mode?.journal_mode?.toLowerCase() !== "wal") return null;
    const main = (db.prepare("PRAGMA database_list").all() as { name: string; file: string | null }[]).find((d) => d.name === "main");
    if (!main?.file) return null;
    const walPath = `${main.file}-wal`;
    try {
      fs.statSync(walPath, { throwIfNoEntry: false });
    } catch (cause) {
      throw new ConfigError("walCheckpointBytes", "cannot be kept: the database's -wal file cannot be read (grant read access to it, or set 0 to turn the bound off)", { cause });
    }
    return new WalBound(walPath, limitBytes, waitMs, db.prepare("PRAGMA wal_checkpoint(TRUNCATE)"), fs.statSync);
  }

  /**
   * Called after a call of the store, outside any transaction. SQLite does
   * not wait for the checkpoint lock (every commit past 1 000 pages of WAL
   * takes it for an automatic checkpoint): it is tried again every
   * millisecond for up to `waitMs`, until the WAL is under the bound. A
   * checkpoint that got the lock and could not empty the WAL (a reader
   * stayed inside it past the busy timeout), or that failed, pauses the
   * looks; housekeeping never fails the call.
   */
  notice(): void {
    if (++this.#calls % CHECK_EVERY !== 0) return;
    const start = performance.now();
    if (start < this.#pausedUntil) return;
    let outcome: "under" | "failed" | "contended";
    try {
      outcome = this.#bound(start);
    } catch {
      // A read-only file, a full disk, a file gone: the WAL stays as SQLite keeps it, and the calls go on.
      outcome = "failed";
    }
    if (outcome === "under") this.#pauseMs = FIRST_PAUSE_MS;
    if (outcome !== "failed") return;
    this.#pausedUntil = performance.now() + this.#pauseMs;
    this.#pauseMs = Math.min(this.#pauseMs * 2, MAX_PAUSE_MS);
  }

  /**
   * Checkpoints until the WAL is under the bound (this one or another
   * process's): "failed" when one got the lock and left it over, "contended"
   * when another connection held the lock all of `waitMs` from `start`.
   */
  #bound(start: number): "under" | "failed" | "contended" {
    for (;;) {
      if (this.#sizeOf(this.#walPath) <= this.#limitBytes) return "under";
      const row = this.#checkpoint.get() as CheckpointRow;
      if (Number(row.log) !== -1) return this.#sizeOf(this.#walPath) <= this.#limitBytes ? "under" : "failed";
      if (performance.now() - start >= this.#waitMs) return "contended";
      Atomics.wait(this.#pause, 0, 0, 1);
    }
  }
}

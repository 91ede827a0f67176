// Another connection holding a SQLite file's write lock, in a worker thread:
// it lets go while this thread is blocked in SQLite's busy wait.
import { Worker } from "node:worker_threads";

/**
 * Holds the write lock of the file at `path` in another thread, until `release()`, or for `forMs`.
 * `driver`: the module path of the better-sqlite3 the store uses, when it is not node:sqlite. Two
 * SQLite libraries in one process do not see each other's locks (each keeps the process's POSIX
 * locks in its own table: https://sqlite.org/howtocorrupt.html, 2.2.1), so the lock must be taken
 * through the store's own.
 */
export async function holdWriteLock(path: string, forMs?: number, driver?: string): Promise<{ release: () => Promise<void> }> {
  const worker = new Worker(
    `const { parentPort, workerData } = require("node:worker_threads");
     const Database = workerData.driver ? require(workerData.driver) : require("node:sqlite").DatabaseSync;
     const db = new Database(workerData.path);
     db.exec("BEGIN IMMEDIATE");
     parentPort.postMessage("locked");
     let held = true;
     const release = () => { if (held) { held = false; db.exec("ROLLBACK"); db.close(); } parentPort.postMessage("released"); };
     if (workerData.forMs !== undefined) setTimeout(release, workerData.forMs);
     parentPort.once("message", release);`,
    { eval: true, workerData: { path, forMs, driver } },
  );
  const next = () =>
    new Promise<void>((resolve, reject) => {
      worker.once("message", () => resolve());
      worker.once("error", reject);
    });
  await next();
  return {
    release: async () => {
      const released = next();
      worker.postMessage("release");
      await released;
      await worker.terminate();
    },
  };
}
